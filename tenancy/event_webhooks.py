"""A Tenant's `spec.eventWebhooks`: which URLs may receive events and where the signing key may be read from.

Admission and the controller judge both the same way, with these functions: admission denies what the
controller would refuse, and the controller refuses it again in case a Tenant was written while the webhook was
away. A delivery carries the tenant's lifecycle to a machine outside the cluster, so a URL must be HTTPS; plain
http is accepted only for a loopback host and only when the platform enables it (tests, development). The HMAC
key is read by the controller with its own privileges, so the Secret must be in one of the tenant's own
namespaces; without a namespace it is in tenantgate's namespace, where only platform admins may point.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})


def is_loopback_host(host: str) -> bool:
    """`localhost`, 127.0.0.0/8 or ::1."""
    host = host.strip("[]").lower()
    if host in LOOPBACK_NAMES or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def url_problem(url: str, *, allow_http_loopback: bool) -> str | None:
    """Why `url` may not receive events (None when it may). The text never repeats the URL itself, which may
    carry a token."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        parts.port  # noqa: B018 (raises ValueError for a port that is not a number)
    except ValueError:
        return "it is not a valid URL"
    if not host:
        return "it names no host"
    if parts.username is not None or parts.password is not None:
        return "it carries credentials in the URL; sign deliveries with secretRef instead"
    if parts.scheme == "https":
        return None
    if parts.scheme != "http":
        return f"scheme {parts.scheme!r} is not https"
    if not is_loopback_host(host):
        return "plain http is not allowed; use https"
    if not allow_http_loopback:
        return (
            "plain http to a loopback host is allowed only when the platform sets TENANTGATE_EVENTS_ALLOW_HTTP_LOOPBACK"
        )
    return None


def secret_namespace(namespace: str | None, own_namespace: str) -> str:
    """Where the HMAC key Secret is: the namespace written, or tenantgate's own namespace when none is."""
    return namespace or own_namespace
