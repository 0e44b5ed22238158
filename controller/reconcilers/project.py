"""Project: a namespace `kubeop-<tenantRef>-<name>` with the tenant's guardrails inside it.

Children: the Namespace (deleted through a finalizer when the Project goes, never pruned: deleting a namespace
deletes everything in it; labelled for Pod Security Admission at the tenant's pod security level, so a Tenant
that turns `restricted` re-labels every namespace through the Tenant watch), LimitRange `kubeop-defaults`,
ResourceQuota `kubeop-quota`, NetworkPolicies `kubeop-ingress` (default deny, with same-namespace, intra-tenant
and ingress-controller exceptions) and `kubeop-egress` (own namespace, intra-tenant, DNS, the egress baseline and
the CIDRs of the Policies that apply to the project, decided by `tenancy.policies` as admission decides them),
and RoleBinding `tenantgate-owners` (the Tenant's owners get ClusterRole `tenantgate-tenant-admin`). A change to
the Tenant, to a Policy or to ConfigMap kubeop-policy reaches every Project's children.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from controller.applier import ApplyError
from controller.conditions import Condition, now_rfc3339, set_condition
from controller.context import Context
from controller.finalizers import ensure_finalizer, remove_finalizer
from controller.lifecycle import project_transitions
from controller.logs import fields
from controller.manager import Manager
from controller.reconcilers.tenancy import (
    BY_TENANT_REF,
    EGRESS_POLICY_NAME,
    INGRESS_POLICY_NAME,
    LIMIT_RANGE_NAME,
    OWNERS_ROLE_BINDING,
    POLICY,
    PROJECT,
    PROJECT_LABEL,
    RESOURCE_QUOTA_NAME,
    TENANT,
    TENANT_ADMIN_CLUSTER_ROLE,
    TENANT_LABEL,
    effective_quota,
    index_projects_by_tenant,
    network_settings,
    owner_subjects,
    project_namespace,
    schema_status,
    spec_of,
    status_of,
    tenant_ref,
)
from controller.runtime import DONE, Result, owner_mapper
from kube.client import LIMIT_RANGES, NAMESPACES, NETWORK_POLICIES, RESOURCE_QUOTAS, ROLE_BINDINGS, ApiError
from kube.objects import Obj, finalizers_of, generation_of, is_deleting, labels_of, name_of, object_key, uid_of
from kube.store import BY_OWNER_UID, BY_UID, Change
from tenancy.labels import INVENTORY_LABEL
from tenancy.namespaces import project_namespace_object
from tenancy.policies import applicable_networks
from tenancy.policy import GlobalPolicy
from tenancy.tenants import BASELINE, parse_tenant

log = logging.getLogger(__name__)

FINALIZER = "tenantgate.io/project-namespace"
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
CHILD_KINDS = (NAMESPACES, LIMIT_RANGES, RESOURCE_QUOTAS, NETWORK_POLICIES, ROLE_BINDINGS)
PRUNED_KINDS = tuple((rt.api_version, rt.kind) for rt in CHILD_KINDS if rt is not NAMESPACES)
NAMESPACE_POLL_SECONDS = 2.0


# ---- pure builders -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProjectInputs:
    """Everything a Project's children depend on, gathered from the caches."""

    project: Mapping[str, Any]
    tenant: Mapping[str, Any] | None
    policies: Sequence[Mapping[str, Any]]
    policy: GlobalPolicy


def _namespace_selector(labels: Mapping[str, str]) -> dict[str, Any]:
    return {"namespaceSelector": {"matchLabels": dict(labels)}}


def desired_children(inputs: ProjectInputs) -> list[Obj]:
    """The Project's children, in apply order (the Namespace first). Pure."""
    project, tenant = inputs.project, inputs.tenant
    tenant_name = tenant_ref(project)
    project_name = str(spec_of(project).get("name") or "")
    level = parse_tenant(tenant).pod_security if tenant is not None else BASELINE
    namespace_object = project_namespace_object(tenant_name, project_name, level)
    namespace = namespace_object["metadata"]["name"]
    quota = effective_quota(project, tenant)
    network = network_settings(tenant, inputs.policy.ingress_namespace)

    children: list[Obj] = [
        namespace_object,
        {
            "apiVersion": "v1",
            "kind": "LimitRange",
            "metadata": {"name": LIMIT_RANGE_NAME, "namespace": namespace},
            "spec": {"limits": [{"type": "Container", **quota.limit_range}]},
        },
        {
            "apiVersion": "v1",
            "kind": "ResourceQuota",
            "metadata": {"name": RESOURCE_QUOTA_NAME, "namespace": namespace},
            "spec": {"hard": quota.hard},
        },
    ]

    ingress_from: list[dict[str, Any]] = [{"podSelector": {}}]
    if network.allow_intra_tenant:
        ingress_from.append(_namespace_selector({TENANT_LABEL: tenant_name}))
    ingress_from.append(_namespace_selector({NAMESPACE_NAME_LABEL: network.ingress_namespace}))
    children.append(
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": INGRESS_POLICY_NAME, "namespace": namespace},
            "spec": {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [{"from": ingress_from}]},
        }
    )

    egress: list[dict[str, Any]] = [{"to": [{"podSelector": {}}]}]
    if network.allow_intra_tenant:
        egress.append({"to": [_namespace_selector({TENANT_LABEL: tenant_name})]})
    egress.append(
        {
            "to": [_namespace_selector({NAMESPACE_NAME_LABEL: inputs.policy.dns_namespace})],
            "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
        }
    )
    networks = list(inputs.policy.egress_baseline)
    project_label = namespace_object["metadata"]["labels"][PROJECT_LABEL]
    networks += [n for n in applicable_networks(inputs.policies, tenant_name, project_label) if n not in networks]
    cidrs = [str(network) for network in networks]
    if cidrs:
        egress.append({"to": [{"ipBlock": {"cidr": cidr}} for cidr in cidrs]})
    children.append(
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": EGRESS_POLICY_NAME, "namespace": namespace},
            "spec": {"podSelector": {}, "policyTypes": ["Egress"], "egress": egress},
        }
    )

    subjects = owner_subjects(tenant)
    if subjects:
        children.append(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": {"name": OWNERS_ROLE_BINDING, "namespace": namespace},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": TENANT_ADMIN_CLUSTER_ROLE,
                },
                "subjects": subjects,
            }
        )
    return children


def project_status(
    project: Mapping[str, Any], namespace: str | None, ready: bool, reason: str, message: str, now: str
) -> dict[str, Any]:
    """The Project's status: kubeOP's `namespace`/`ready` plus a `Ready` condition. Pure."""
    condition = Condition("Ready", "True" if ready else "False", reason, message)
    conditions = set_condition(status_of(project).get("conditions"), condition, generation_of(project), now)
    return schema_status(PROJECT[0], PROJECT[1], {"namespace": namespace, "ready": ready, "conditions": conditions})


def owned_namespaces(namespaces: Iterable[Mapping[str, Any]], project_uid: str) -> list[Mapping[str, Any]]:
    """Namespaces this Project built (inventory label), which its finalizer deletes. Pure."""
    return [ns for ns in namespaces if project_uid and labels_of(ns).get(INVENTORY_LABEL) == project_uid]


# ---- reconcile ---------------------------------------------------------------------------------------------


async def _finalize(project: Obj, ctx: Context) -> Result:
    """Delete the namespaces this Project built, wait until they are gone, then let the Project go."""
    namespaces = ctx.owned(NAMESPACES.api_version, NAMESPACES.kind)
    owned = owned_namespaces(namespaces.store.by_index(BY_OWNER_UID, uid_of(project)), uid_of(project))
    for namespace in owned:
        if is_deleting(namespace):
            continue
        if await ctx.client.delete(NAMESPACES, name_of(namespace), uid=uid_of(namespace)):
            await ctx.events.normal(project, "Deleted", f"Deleted Namespace {name_of(namespace)}", "Delete")
            log.info("deleting project namespace", extra=fields("Project", object_key(project), ns=name_of(namespace)))
    if owned:
        return Result(requeue_after=NAMESPACE_POLL_SECONDS)
    had_finalizer = FINALIZER in finalizers_of(project)
    await remove_finalizer(ctx.client, await ctx.primary_resource(), project, FINALIZER, ctx.primary)
    if had_finalizer:
        ctx.emit("project.deleted", project, {"namespaces": [name_of(n) for n in owned]})
    return DONE


async def reconcile(project: Obj, ctx: Context) -> Result:
    if is_deleting(project):
        return await _finalize(project, ctx)
    projects, rt = ctx.primary, await ctx.primary_resource()
    project = await ensure_finalizer(ctx.client, rt, project, FINALIZER, projects)
    now = now_rfc3339()
    try:
        namespace = project_namespace(project)
    except ValueError as error:
        await ctx.write_status(project, project_status(project, None, False, "InvalidName", str(error), now))
        return DONE
    tenant = ctx.informer(*TENANT).get("", tenant_ref(project))
    if tenant is None:
        message = f'Tenant "{tenant_ref(project)}" does not exist'
        await ctx.write_status(project, project_status(project, None, False, "TenantNotFound", message, now))
        return DONE
    inputs = ProjectInputs(project, tenant, ctx.informer(*POLICY).store.objects(), ctx.settings())
    try:
        report = await ctx.applier.apply(
            project,
            rt,
            desired_children(inputs),
            prune=PRUNED_KINDS,
            without_owner_reference={"Namespace"},
            owner_alive=lambda uid: bool(projects.store.index_keys(BY_UID, uid)),
            concurrently=True,
        )
    except (ApplyError, ApiError) as error:
        await ctx.write_status(project, project_status(project, namespace, False, "CreateFailed", str(error), now))
        raise
    live_namespace = next((o for k, o in report.applied.items() if k.kind == "Namespace"), None)
    if live_namespace is not None and is_deleting(live_namespace):
        message = f"Namespace {namespace} is still terminating"
        status = project_status(project, namespace, False, "NamespaceTerminating", message, now)
        await ctx.write_status(project, status)
        return Result(requeue_after=NAMESPACE_POLL_SECONDS)
    status = project_status(project, namespace, True, "Bootstrapped", "Project namespace ready", now)
    await ctx.write_status(project, status)
    return DONE


# ---- wiring ------------------------------------------------------------------------------------------------


def spec_or_labels_changed(change: Change) -> bool:
    """Ignore status-only updates (a ResourceQuota's `used` moves with every pod; it changes no child)."""
    if change.old is None or change.new is None:
        return True

    def shape(obj: Mapping[str, Any]) -> tuple[Any, ...]:
        metadata = obj.get("metadata") or {}
        return (
            {k: v for k, v in obj.items() if k not in ("metadata", "status")},
            metadata.get("labels"),
            metadata.get("annotations"),
            metadata.get("ownerReferences"),
            metadata.get("deletionTimestamp"),
        )

    return shape(change.old) != shape(change.new)


def setup(manager: Manager) -> None:
    projects = manager.informer(*PROJECT)
    index_projects_by_tenant(projects)
    controller = manager.add_controller("Project", projects, reconcile, transitions=project_transitions)
    tenants = manager.informer(*TENANT)
    controller.watch(tenants, lambda tenant: projects.store.index_keys(BY_TENANT_REF, name_of(tenant)))
    policies = manager.informer(*POLICY)
    controller.watch(policies, lambda _: projects.store.all_keys())
    controller.watch(manager.settings_informer(), lambda _: projects.store.all_keys())
    to_owner = owner_mapper(projects)
    for rt in CHILD_KINDS:
        controller.watch(manager.owned(rt.api_version, rt.kind), to_owner, predicate=spec_or_labels_changed)
