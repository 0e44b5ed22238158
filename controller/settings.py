"""Platform-wide knobs, with kubeOP's names: from the environment, overridden by ConfigMap `kubeop-policy`.

kubeOP read these from the environment and rolled its pods to change them; here the ConfigMap is watched, so a
change reaches every project namespace without a restart. Only the knobs the controller acts on are parsed.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass

POLICY_CONFIGMAP = "kubeop-policy"
EGRESS_BASELINE = "KUBEOP_EGRESS_BASELINE"
IMAGE_ALLOWLIST = "KUBEOP_IMAGE_ALLOWLIST"
INGRESS_NAMESPACE = "TENANTGATE_INGRESS_NAMESPACE"
DNS_NAMESPACE = "TENANTGATE_DNS_NAMESPACE"

DEFAULT_INGRESS_NAMESPACE = "ingress-nginx"
DEFAULT_DNS_NAMESPACE = "kube-system"


@dataclass(frozen=True)
class PlatformSettings:
    egress_baseline: tuple[str, ...] = ()
    """CIDRs every project namespace may reach (besides DNS, its own namespace and its Policy CIDRs)."""
    ingress_namespace: str = DEFAULT_INGRESS_NAMESPACE
    """Namespace of the ingress controller, allowed into every project namespace unless a Tenant says otherwise."""
    dns_namespace: str = DEFAULT_DNS_NAMESPACE
    """Namespace of the cluster DNS, reachable on port 53 from every project namespace."""


def parse_cidrs(text: str) -> tuple[str, ...]:
    """Comma- or space-separated CIDRs, normalised (`10.0.0.1/8` -> `10.0.0.0/8`); invalid entries skipped."""
    found: list[str] = []
    for raw in text.replace(",", " ").split():
        try:
            network = str(ipaddress.ip_network(raw.strip(), strict=False))
        except ValueError:
            continue
        if network not in found:
            found.append(network)
    return tuple(found)


def settings_from(env: Mapping[str, str], configmap: Mapping[str, str] | None = None) -> PlatformSettings:
    """Merge the environment and the ConfigMap's data (the ConfigMap wins key by key). Pure."""
    values = dict(env)
    values.update({k: v for k, v in (configmap or {}).items() if isinstance(v, str)})
    return PlatformSettings(
        egress_baseline=parse_cidrs(values.get(EGRESS_BASELINE, "")),
        ingress_namespace=values.get(INGRESS_NAMESPACE, "").strip() or DEFAULT_INGRESS_NAMESPACE,
        dns_namespace=values.get(DNS_NAMESPACE, "").strip() or DEFAULT_DNS_NAMESPACE,
    )


def environment() -> Mapping[str, str]:
    return dict(os.environ)
