"""Tenant: status only. Its projects, their namespaces, and quota usage summed over those namespaces.

A Tenant builds no children itself (Projects carry its guardrails into their namespaces); its reconcile keeps
the status a tenant administrator reads (`kubectl get tenant -o yaml`) true to the cluster.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from fractions import Fraction
from typing import Any

from controller.conditions import Condition, now_rfc3339, set_condition
from controller.context import Context
from controller.manager import Manager
from controller.reconcilers.tenancy import (
    BY_TENANT_LABEL,
    BY_TENANT_REF,
    PROJECT,
    RESOURCE_QUOTA_NAME,
    TENANT,
    TENANT_LABEL,
    index_by_tenant_label,
    index_projects_by_tenant,
    schema_status,
    status_of,
    tenant_ref,
)
from controller.runtime import DONE, Result
from kube.client import NAMESPACES, RESOURCE_QUOTAS
from kube.objects import Obj, generation_of, is_deleting, labels_of, name_of, namespace_of
from kube.quantity import QuantityError, format_quantity, parse_quantity


def sum_resources(lists: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """Add up ResourceLists key by key (unparseable values skipped). Pure."""
    totals: dict[str, Fraction] = {}
    for resources in lists:
        for name, value in (resources or {}).items():
            try:
                amount = parse_quantity(value)
            except QuantityError:
                continue
            totals[name] = totals.get(name, Fraction(0)) + amount
    return {name: format_quantity(total, name) for name, total in sorted(totals.items())}


def usage_summary(quotas: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, str]]:
    """`{hard, used}` over the project namespaces' `kubeop-quota` ResourceQuotas (their status). Pure."""
    statuses = [status_of(q) for q in quotas]
    return {
        "hard": sum_resources(s.get("hard") or {} for s in statuses),
        "used": sum_resources(s.get("used") or {} for s in statuses),
    }


def tenant_status(
    tenant: Mapping[str, Any],
    projects: list[str],
    namespaces: list[str],
    usage: dict[str, dict[str, str]],
    now: str,
) -> dict[str, Any]:
    """kubeOP's `ready` and `Ready`/`Bootstrapped` plus what the tenant holds; fields the schema lacks are dropped."""
    condition = Condition("Ready", "True", "Bootstrapped", "Tenant initialized")
    conditions = set_condition(status_of(tenant).get("conditions"), condition, generation_of(tenant), now)
    wanted = {
        "ready": True,
        "conditions": conditions,
        "projects": projects,
        "namespaces": namespaces,
        "usage": usage,
    }
    return schema_status(TENANT[0], TENANT[1], wanted)


async def reconcile(tenant: Obj, ctx: Context) -> Result:
    if is_deleting(tenant):
        return DONE
    name = name_of(tenant)
    projects = sorted(name_of(p) for p in ctx.informer(*PROJECT).store.by_index(BY_TENANT_REF, name))
    namespaces_informer = ctx.owned(NAMESPACES.api_version, NAMESPACES.kind)
    namespaces = sorted(name_of(ns) for ns in namespaces_informer.store.by_index(BY_TENANT_LABEL, name))
    quotas_informer = ctx.owned(RESOURCE_QUOTAS.api_version, RESOURCE_QUOTAS.kind)
    quotas = [q for ns in namespaces if (q := quotas_informer.get(ns, RESOURCE_QUOTA_NAME)) is not None]
    status = tenant_status(tenant, projects, namespaces, usage_summary(quotas), now_rfc3339())
    await ctx.write_status(tenant, status)
    return DONE


def setup(manager: Manager) -> None:
    tenants = manager.informer(*TENANT)
    controller = manager.add_controller("Tenant", tenants, reconcile)
    projects = manager.informer(*PROJECT)
    index_projects_by_tenant(projects)
    controller.watch(projects, lambda project: [tenant_ref(project)] if tenant_ref(project) else [])
    namespaces = manager.owned(NAMESPACES.api_version, NAMESPACES.kind)
    index_by_tenant_label(namespaces)
    controller.watch(namespaces, lambda ns: [labels_of(ns)[TENANT_LABEL]] if labels_of(ns).get(TENANT_LABEL) else [])

    def quota_to_tenant(quota: Obj) -> list[str]:
        if name_of(quota) != RESOURCE_QUOTA_NAME:
            return []
        namespace = namespaces.get("", namespace_of(quota))
        tenant = labels_of(namespace).get(TENANT_LABEL) if namespace else None
        return [tenant] if tenant else []

    controller.watch(manager.owned(RESOURCE_QUOTAS.api_version, RESOURCE_QUOTAS.kind), quota_to_tenant)
