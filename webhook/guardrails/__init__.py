"""Tenancy guardrails and defaults: every write in a tenant's namespaces is checked against the tenant's rules.

One module per rule family, each rule a pure function `(request, view) -> Verdict`:

| module | rules |
|---|---|
| `defaults` | tenant/project labels (mutating) |
| `membership` | tenant owners, Projects (naming, maxProjects), Tenant and Policy writes, cordoned tenants |
| `namespaces` | tenancy labels of Namespaces, kubeOP's App namespace rule (fail closed) |
| `images` | allowed registries (global allowlist narrowed by the tenant), unpinned-image warnings |
| `hosts` | allowed domains, cross-tenant hostname collisions |
| `podsecurity` | Pod Security Standards baseline / restricted on Pods and templates; one Django beat |
| `quotas` | ResourceQuota and Project quota maxima and the tenant aggregate |
| `network` | egress ipBlocks within the baseline; tenantgate's own NetworkPolicies/quotas protected |
| `references` | Secret references stay within the tenant |

Pure helpers: `imageref` (image reference parsing), `quantity` (resource quantities), `workloads` (where pod
specs live), `policy` (`GlobalPolicy` from ConfigMap `kubeop-policy` and the environment), `tenancy` (actor,
scope, parsed Tenant rules), `findings` (deny texts and the UPDATE ratchet).

`register_guardrails(registries)` wires all of it; it is idempotent, so calling it on registries that already
hold the guardrails (or from `build_registries` and again by a caller) registers nothing twice.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from webhook.guardrails.defaults import tenancy_labels
from webhook.guardrails.hosts import HOST_KINDS, allowed_hosts
from webhook.guardrails.images import IMAGE_KINDS, allowed_registries
from webhook.guardrails.membership import (
    TENANT_NAMESPACED_KINDS,
    cordoned_tenant,
    policy_writes,
    project_rules,
    tenant_membership,
    tenant_writes,
)
from webhook.guardrails.namespaces import app_namespace, namespace_labels
from webhook.guardrails.network import MANAGED_KINDS, egress_cidrs, managed_objects
from webhook.guardrails.podsecurity import DJANGO_KINDS, POD_SECURITY_KINDS, django_beat_replicas, pod_security
from webhook.guardrails.policy import GlobalPolicy, PolicySource, global_policy, policy_from_configmap_data
from webhook.guardrails.quotas import project_quota, resource_quota
from webhook.guardrails.references import REFERENCE_KINDS, secret_references
from webhook.guardrails.tenancy import TENANT_LABELLED_CLUSTER_KINDS
from webhook.protocol import Operation
from webhook.registry import ANY, Handler, HandlerRegistry, Registries

KUBEOP: Final = "paas.kubeop.io"
WRITE: Final[tuple[Operation, ...]] = ("CREATE", "UPDATE")
ALL: Final[tuple[Operation, ...]] = ("CREATE", "UPDATE", "DELETE")


def _add(registry: HandlerRegistry, kinds: Iterable[tuple[str, str]], operations: tuple[Operation, ...],
         handler: Handler) -> None:
    for group, kind in kinds:
        for operation in operations:
            if handler in registry.handlers_for(group, kind, operation):
                break
        else:
            registry.add(group, kind, operations, handler)


def register_guardrails(registries: Registries) -> None:
    """Register every tenancy default and guardrail (idempotent). Order: who may write first, then what."""
    mutating, validating = registries.mutating, registries.validating
    _add(mutating, [(ANY, ANY)], WRITE, tenancy_labels)

    _add(validating, [("", "Namespace")], WRITE, namespace_labels)
    _add(validating, [(KUBEOP, "Tenant")], ALL, tenant_writes)
    _add(validating, [(KUBEOP, "Policy")], ALL, policy_writes)
    _add(validating, [(KUBEOP, "Project")], ALL, project_rules)
    _add(validating, [(KUBEOP, "App")], WRITE, app_namespace)  # before membership: kubeOP's own wording
    _add(validating, [*TENANT_NAMESPACED_KINDS, *sorted(TENANT_LABELLED_CLUSTER_KINDS)], ALL, tenant_membership)
    _add(validating, [(ANY, ANY)], WRITE, cordoned_tenant)
    _add(validating, MANAGED_KINDS, ALL, managed_objects)
    _add(validating, IMAGE_KINDS, WRITE, allowed_registries)
    _add(validating, HOST_KINDS, WRITE, allowed_hosts)
    _add(validating, POD_SECURITY_KINDS, WRITE, pod_security)
    _add(validating, DJANGO_KINDS, WRITE, django_beat_replicas)
    _add(validating, [("", "ResourceQuota")], WRITE, resource_quota)
    _add(validating, [(KUBEOP, "Project")], WRITE, project_quota)
    _add(validating, [("networking.k8s.io", "NetworkPolicy")], WRITE, egress_cidrs)
    _add(validating, REFERENCE_KINDS, WRITE, secret_references)


__all__ = [
    "GlobalPolicy",
    "PolicySource",
    "global_policy",
    "policy_from_configmap_data",
    "register_guardrails",
]
