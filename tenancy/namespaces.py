"""A Project's namespace: its name `kubeop-<tenantRef>-<name>` and its tenancy labels, built in one place.

Admission checks that the name can exist, the controller creates it, `tenantgate review` imagines it offline,
and the tenancy of any namespace is read back from these labels: all through the functions here, so the four
agree to the character.
"""

from __future__ import annotations

import json
import re
from typing import Any, Final

from tenancy.labels import (
    POD_SECURITY_LABEL_PREFIX,
    POD_SECURITY_MODES,
    POD_SECURITY_VERSION,
    PROJECT_LABEL,
    TENANT_LABEL,
)

NAMESPACE_PREFIX: Final = "kubeop-"
MAX_NAMESPACE_LENGTH: Final = 63

_NOT_DNS_LABEL: Final = re.compile(r"[^a-z0-9-]+")


def _quoted(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def sanitize_dns_label(value: str) -> str:
    """Lowercase `value` and turn every run of characters outside `[a-z0-9-]` into one `-`, trimmed.

    Valid DNS-1123 labels come back unchanged, so every namespace kubeOP could create keeps its name.
    """
    return _NOT_DNS_LABEL.sub("-", value.lower()).strip("-")


def project_namespace(tenant_ref: str, name: str) -> str:
    """`kubeop-<tenantRef>-<name>` sanitised, unchecked (see `namespace_name_problem` for the checks)."""
    return f"{NAMESPACE_PREFIX}{sanitize_dns_label(tenant_ref)}-{sanitize_dns_label(name)}"


def namespace_name_problem(tenant_ref: str, name: str) -> str | None:
    """Why `kubeop-<tenantRef>-<name>` cannot be a namespace name (a deny message), or None."""
    tenant, project = sanitize_dns_label(tenant_ref), sanitize_dns_label(name)
    if not project:
        return (
            f"spec.name {_quoted(name)} has no letter or digit, so it gives no namespace name; allowed: a name with "
            "lowercase letters, digits and dashes, such as web"
        )
    if not tenant:
        return f"spec.tenantRef {_quoted(tenant_ref)} has no letter or digit; allowed: the name of an existing Tenant"
    namespace = f"{NAMESPACE_PREFIX}{tenant}-{project}"
    excess = len(namespace) - MAX_NAMESPACE_LENGTH
    if excess > 0:
        room = MAX_NAMESPACE_LENGTH - len(NAMESPACE_PREFIX) - len(tenant) - 1
        return (
            f"spec.name {_quoted(name)} gives namespace {_quoted(namespace)}, {len(namespace)} characters long, but a "
            f"namespace name is a DNS-1123 label of at most {MAX_NAMESPACE_LENGTH}; allowed: shorten spec.name by "
            f"{excess} character{'s' if excess != 1 else ''} (to at most {max(room, 0)})"
        )
    return None


def project_namespace_name(tenant_ref: str, name: str) -> str:
    """The namespace of a Project; ValueError (with `namespace_name_problem`'s message) when none is valid."""
    problem = namespace_name_problem(tenant_ref, name)
    if problem is not None:
        raise ValueError(problem)
    return project_namespace(tenant_ref, name)


def project_namespace_labels(tenant_ref: str, name: str) -> dict[str, str]:
    """The tenancy labels of a Project's namespace (and of every object tenantgate labels inside it)."""
    return {TENANT_LABEL: tenant_ref, PROJECT_LABEL: sanitize_dns_label(name)}


def pod_security_labels(level: str) -> dict[str, str]:
    """Pod Security Admission labels enforcing (and warning and auditing at) `level`, `baseline` or `restricted`.

    The API server then refuses what the level forbids on its own, even for a kind or a path no webhook route
    covers: tenantgate's pod security rule stays the first answer (with its own messages), this is the floor.
    """
    labels: dict[str, str] = {}
    for mode in POD_SECURITY_MODES:
        labels[f"{POD_SECURITY_LABEL_PREFIX}{mode}"] = level
        labels[f"{POD_SECURITY_LABEL_PREFIX}{mode}-version"] = POD_SECURITY_VERSION
    return labels


def project_namespace_object(tenant_ref: str, name: str, pod_security: str = "baseline") -> dict[str, Any]:
    """The Namespace of a Project, as the controller applies it; ValueError when its name cannot be valid.

    `pod_security` is the tenant's level (`TenantRules.pod_security`), which Pod Security Admission enforces.
    """
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": project_namespace_name(tenant_ref, name),
            "labels": {**project_namespace_labels(tenant_ref, name), **pod_security_labels(pod_security)},
        },
    }
