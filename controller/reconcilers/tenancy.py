"""What the tenancy reconcilers share: kind names, indexes, the Tenant/Project field readers, schema filtering.

Reconcilers read raw objects (unknown fields survive), through the small readers here; the field names and
the namespace-naming rule come from `crds.kubeop`, so admission and the controller agree to the character.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from crds.kubeop import GROUP, PROJECT_LIMIT_RANGE_FALLBACK, VERSION
from crds.registry import by_api_version
from kube.informer import Informer
from kube.objects import Obj, labels_of, name_of
from kube.store import field_index, label_index
from tenancy.labels import PROJECT_LABEL, TENANT_LABEL
from tenancy.namespaces import project_namespace_name, sanitize_dns_label
from tenancy.quotas import effective_hard, without_negatives
from tenancy.tenants import SERVICE_ACCOUNT_PREFIX, tenant_owners

API_VERSION = f"{GROUP}/{VERSION}"
TENANT = (API_VERSION, "Tenant")
PROJECT = (API_VERSION, "Project")
POLICY = (API_VERSION, "Policy")
REGISTRY = (API_VERSION, "Registry")

BY_TENANT_REF = "spec.tenantRef"
BY_TENANT_LABEL = f"label:{TENANT_LABEL}"

TENANT_ADMIN_CLUSTER_ROLE = "tenantgate-tenant-admin"
OWNERS_ROLE_BINDING = "tenantgate-owners"
LIMIT_RANGE_NAME = "kubeop-defaults"
RESOURCE_QUOTA_NAME = "kubeop-quota"
INGRESS_POLICY_NAME = "kubeop-ingress"
EGRESS_POLICY_NAME = "kubeop-egress"

__all__ = [
    "PROJECT_LABEL",
    "TENANT_LABEL",
    "project_namespace_name",
    "sanitize_dns_label",
]


def spec_of(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    spec = obj.get("spec")
    return spec if isinstance(spec, Mapping) else {}


def status_of(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    status = obj.get("status")
    return status if isinstance(status, Mapping) else {}


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _resource_list(value: Any) -> dict[str, str]:
    """A ResourceList with values as strings (`2` -> "2"), empty when absent or malformed."""
    if not isinstance(value, Mapping):
        return {}
    return {str(k): str(v) for k, v in value.items() if isinstance(v, str | int) and not isinstance(v, bool)}


@dataclass(frozen=True)
class QuotaSettings:
    """The effective quota and container defaults of one project namespace."""

    hard: dict[str, str]
    limit_range: dict[str, dict[str, str]]


def effective_quota(project: Mapping[str, Any], tenant: Mapping[str, Any] | None) -> QuotaSettings:
    """Project `spec.quota` -> Tenant `spec.quota.projectDefaults` -> kubeOP's values, section by section.

    `hard` and `limitRange` are each taken whole from the first level that sets them: a Project quota replaces
    the Tenant's defaults rather than merging with them, so what a Project says is exactly what it gets. `hard` is
    `tenancy.quotas.effective_hard`, the one admission judges: every resource the Tenant's `spec.quota.hard` bounds
    is bounded in it (filled from projectDefaults, the platform default or 0 when the chosen level omits it), so
    the controller never builds a ResourceQuota that leaves a tenant-bounded resource unbounded; a negative
    quantity (stored before admission refused them) is built as 0.
    """
    project_quota = _mapping(spec_of(project).get("quota"))
    tenant_quota = _mapping(spec_of(tenant or {}).get("quota"))
    defaults = _mapping(tenant_quota.get("projectDefaults"))
    chosen = effective_hard(
        _resource_list(project_quota.get("hard")),
        _resource_list(defaults.get("hard")),
        _resource_list(tenant_quota.get("hard")),
    )
    hard = _resource_list(without_negatives(chosen.hard))
    limit_range: dict[str, dict[str, str]] = {}
    for source in (project_quota.get("limitRange"), defaults.get("limitRange")):
        section = _mapping(source)
        limit_range = {
            key: _resource_list(section.get(key))
            for key in ("defaultRequest", "default", "max", "min")
            if _resource_list(section.get(key))
        }
        if limit_range:
            break
    else:
        limit_range = {key: dict(value) for key, value in PROJECT_LIMIT_RANGE_FALLBACK.items()}
    return QuotaSettings(hard, limit_range)


@dataclass(frozen=True)
class NetworkSettings:
    allow_intra_tenant: bool
    ingress_namespace: str


def network_settings(tenant: Mapping[str, Any] | None, default_ingress_namespace: str) -> NetworkSettings:
    isolation = _mapping(spec_of(tenant or {}).get("networkIsolation"))
    return NetworkSettings(
        allow_intra_tenant=isolation.get("allowIntraTenant") is True,
        ingress_namespace=str(isolation.get("ingressControllerNamespace") or default_ingress_namespace),
    )


def owner_subjects(tenant: Mapping[str, Any] | None) -> list[dict[str, str]]:
    """RBAC subjects for the Tenant's owners (`tenancy.tenants.tenant_owners`, the owners admission knows)."""
    subjects: list[dict[str, str]] = []
    for owner in tenant_owners(tenant):
        if owner.kind == "ServiceAccount":
            namespace, _, name = owner.name.removeprefix(SERVICE_ACCOUNT_PREFIX).partition(":")
            subjects.append({"kind": "ServiceAccount", "name": name, "namespace": namespace})
        else:
            subjects.append({"kind": owner.kind, "apiGroup": "rbac.authorization.k8s.io", "name": owner.name})
    return subjects


def tenant_ref(project: Mapping[str, Any]) -> str:
    return str(spec_of(project).get("tenantRef") or "")


def project_namespace(project: Mapping[str, Any]) -> str:
    """The namespace name of a Project; ValueError (with an admission-grade message) when none is valid."""
    return project_namespace_name(tenant_ref(project), str(spec_of(project).get("name") or ""))


def registry_tenant(registry: Mapping[str, Any]) -> str:
    """The tenant a Registry serves: `spec.tenantRef` when the API has it, else the `app.kubeop.io/tenant` label."""
    return str(spec_of(registry).get("tenantRef") or labels_of(registry).get(TENANT_LABEL) or "")


@functools.cache
def status_fields(api_version: str, kind: str) -> frozenset[str] | None:
    """Top-level status fields the kind's schema declares (wire names); None when the schema is unknown.

    Writing a field the schema lacks would be pruned by the API server, and the status writer would then keep
    finding a difference: so reconcilers drop such fields before writing.
    """
    info = by_api_version(api_version, kind)
    model = info.status_model if info is not None else None
    if model is None:
        return None
    return frozenset(field.alias or name for name, field in model.model_fields.items())


def schema_status(api_version: str, kind: str, wanted: Mapping[str, Any]) -> dict[str, Any]:
    allowed = status_fields(api_version, kind)
    return {k: v for k, v in wanted.items() if allowed is None or k in allowed}


def index_projects_by_tenant(projects: Informer) -> None:
    projects.store.add_index(BY_TENANT_REF, field_index("spec", "tenantRef"))


def index_by_tenant_label(informer: Informer) -> None:
    informer.store.add_index(BY_TENANT_LABEL, label_index(TENANT_LABEL))


def tenant_label_mapper(informer: Informer) -> Callable[[Obj], list[str]]:
    """Map a namespace to the keys of `informer`'s objects labelled for the namespace's tenant (none for a
    namespace of no tenant). `informer` must be indexed with `index_by_tenant_label`."""

    def objects_of_namespace_tenant(namespace: Obj) -> list[str]:
        tenant = labels_of(namespace).get(TENANT_LABEL)
        return informer.store.index_keys(BY_TENANT_LABEL, tenant) if tenant else []

    return objects_of_namespace_tenant


def names(objs: Iterable[Obj]) -> list[str]:
    return sorted(name_of(o) for o in objs)
