"""Tenant: status only. Its projects, their namespaces, what each consumes, and quota summed over them.

A Tenant builds no children itself (Projects carry its guardrails into their namespaces); its reconcile keeps
the status a tenant administrator reads (`kubectl get tenant -o yaml`) true to the cluster. Consumption
(`controller.usage`) comes from trimmed caches of every Pod and PersistentVolumeClaim, and is also exported as the
gauge `tenantgate_tenant_usage{tenant, project, resource}`, so billing is a query.
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
from controller.usage import (
    USAGE_RESOURCES,
    add_usage,
    counted_fields_changed,
    gauge_value,
    namespace_usage,
    render_usage,
    trim_claim,
    trim_pod,
)
from kube.client import NAMESPACES, PODS, PVCS, RESOURCE_QUOTAS
from kube.informer import Informer
from kube.objects import Obj, generation_of, is_deleting, labels_of, name_of, namespace_of
from kube.prometheus import Gauge
from kube.quantity import QuantityError, format_quantity, parse_quantity
from kube.store import BY_NAMESPACE, Change
from tenancy.namespaces import project_namespace

# A Tenant's status sums every Project, namespace, quota, Pod and claim it has, and is rewritten whole: creating
# 300 Projects moved it 36 times (a 100 KB object each time, sent to every watcher). Their changes reach it at
# most once per this many seconds; a change to the Tenant itself still does at once.
STATUS_COALESCE = 2.0


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


def usage_summary(quotas: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """`{hard, used}` over the project namespaces' `kubeop-quota` ResourceQuotas (their status). Pure."""
    statuses = [status_of(q) for q in quotas]
    return {
        "hard": sum_resources(s.get("hard") or {} for s in statuses),
        "used": sum_resources(s.get("used") or {} for s in statuses),
    }


def project_namespaces(tenant: str, projects: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """Project name -> its namespace (`status.namespace`, else the name it will get). Pure."""
    found: dict[str, str] = {}
    for project in projects:
        namespace = status_of(project).get("namespace")
        spec_name = (project.get("spec") or {}).get("name")
        if not namespace and isinstance(spec_name, str) and spec_name:
            namespace = project_namespace(tenant, spec_name)
        if isinstance(namespace, str) and namespace:
            found[name_of(project)] = namespace
    return dict(sorted(found.items()))


def consumption(namespaces: Mapping[str, str], pods: Informer, claims: Informer) -> dict[str, dict[str, Fraction]]:
    """Project -> its namespace's usage, from the trimmed Pod and claim caches."""
    return {
        project: namespace_usage(pods.store.by_index(BY_NAMESPACE, ns), claims.store.by_index(BY_NAMESPACE, ns))
        for project, ns in namespaces.items()
    }


def usage_status(namespaces: Mapping[str, str], per_project: Mapping[str, Mapping[str, Fraction]]) -> dict[str, Any]:
    """`status.usage.total` and `status.usage.projects`. Pure."""
    return {
        "total": render_usage(add_usage(per_project.values())),
        "projects": [
            {"project": project, "namespace": namespaces[project], "resources": render_usage(amounts)}
            for project, amounts in per_project.items()
        ],
    }


def export_usage(
    gauge: Gauge, tenant: str, per_project: Mapping[str, Mapping[str, Fraction]], tenants_alive: Iterable[str]
) -> None:
    """Replace `tenant`'s series of the usage gauge, and drop those of tenants that no longer exist."""
    alive = set(tenants_alive)
    for labels in list(gauge.values):
        if labels[0] == tenant or labels[0] not in alive:
            del gauge.values[labels]
    for project, amounts in per_project.items():
        for resource in USAGE_RESOURCES:
            gauge.set(tenant, project, resource, value=gauge_value(amounts.get(resource, Fraction(0))))


def tenant_status(
    tenant: Mapping[str, Any],
    projects: list[str],
    namespaces: list[str],
    usage: dict[str, Any],
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
    project_objects = ctx.informer(*PROJECT).store.by_index(BY_TENANT_REF, name)
    by_project = project_namespaces(name, project_objects)
    pods = ctx.manager.informer(PODS.api_version, PODS.kind, transform=trim_pod)
    claims = ctx.manager.informer(PVCS.api_version, PVCS.kind, transform=trim_claim)
    per_project = consumption(by_project, pods, claims)
    usage = {**usage_summary(quotas), **usage_status(by_project, per_project)}
    export_usage(ctx.manager.metrics.tenant_usage, name, per_project, (name_of(t) for t in ctx.primary.store.objects()))
    status = tenant_status(tenant, projects, namespaces, usage, now_rfc3339())
    await ctx.write_status(tenant, status)
    return DONE


def setup(manager: Manager) -> None:
    tenants = manager.informer(*TENANT)
    controller = manager.add_controller("Tenant", tenants, reconcile)
    projects = manager.informer(*PROJECT)
    index_projects_by_tenant(projects)
    controller.watch(
        projects, lambda project: [tenant_ref(project)] if tenant_ref(project) else [], coalesce=STATUS_COALESCE
    )
    namespaces = manager.owned(NAMESPACES.api_version, NAMESPACES.kind)
    index_by_tenant_label(namespaces)
    controller.watch(
        namespaces,
        lambda ns: [labels_of(ns)[TENANT_LABEL]] if labels_of(ns).get(TENANT_LABEL) else [],
        coalesce=STATUS_COALESCE,
    )

    def quota_to_tenant(quota: Obj) -> list[str]:
        if name_of(quota) != RESOURCE_QUOTA_NAME:
            return []
        namespace = namespaces.get("", namespace_of(quota))
        tenant = labels_of(namespace).get(TENANT_LABEL) if namespace else None
        return [tenant] if tenant else []

    controller.watch(
        manager.owned(RESOURCE_QUOTAS.api_version, RESOURCE_QUOTAS.kind), quota_to_tenant, coalesce=STATUS_COALESCE
    )

    def namespace_to_tenant(obj: Obj) -> list[str]:
        namespace = namespaces.get("", namespace_of(obj))
        tenant = labels_of(namespace).get(TENANT_LABEL) if namespace else None
        return [tenant] if tenant else []

    def counted_change(change: Change) -> bool:
        return counted_fields_changed(change.old, change.new)

    pods = manager.informer(PODS.api_version, PODS.kind, transform=trim_pod)
    claims = manager.informer(PVCS.api_version, PVCS.kind, transform=trim_claim)
    controller.watch(pods, namespace_to_tenant, counted_change, coalesce=STATUS_COALESCE)
    controller.watch(claims, namespace_to_tenant, counted_change, coalesce=STATUS_COALESCE)
