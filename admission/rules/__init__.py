"""The admission rules tenantgate ships, and the registries that wire them to kinds and operations.

Each rule is a small pure function `(request, context) -> Verdict` in a module named after what it judges; the
context (`admission.context.RequestContext`) carries the cluster view and the request's facts, computed once.
`build_registries()` is the only place that decides which rule runs for which (group, kind, operation) and in
which order: schema defaults first, so later mutators and every guardrail see a complete object, and the kind's
model validation first among the validating rules; then kubeOP's
own App and Project rules; then the tenancy guardrails, where every write in a tenant's namespaces is checked
against the tenant's rules. The webhook configurations are generated from these registrations
(`admission.configuration`), so whatever is judged here is routed there.

| module | rules |
|---|---|
| `schema_defaults` | the CRD schema defaults of every custom kind (mutating) |
| `model_validation` | every custom object against its kind's model: schema, CEL rules, immutable fields, runnability |
| `shapes` | every field a guardrail reads has its JSON type, or 422 naming it (first of the validating rules) |
| `kubeop_app`, `kubeop_project` | kubeOP's own App label and Project tenant rules |
| `tenancy_labels` | tenant/project labels (mutating) |
| `membership` | tenant owners, Projects (naming, maxProjects), Tenant and Policy writes, cordoned tenants |
| `namespaces` | tenancy labels of Namespaces, kubeOP's App namespace rule (fail closed) |
| `images` | allowed registries (global allowlist narrowed by the tenant), unpinned-image warnings |
| `hosts` | allowed domains, cross-tenant hostname collisions (wildcards and server aliases included) |
| `snippets` | no Ingress snippet annotations in tenant namespaces unless the Tenant allows them, never server_name |
| `podsecurity` | Pod Security Standards baseline / restricted on Pods and templates; one Django beat |
| `quotas` | ResourceQuota and Project quota maxima and the tenant aggregate |
| `network` | egress ipBlocks within the baseline; tenantgate's own NetworkPolicies/quotas protected |
| `references` | Secret references stay within the tenant |
| `event_webhooks` | a Tenant's event webhook URLs are https; their signing keys stay within the tenant |
| `services` | NodePort, LoadBalancer and external IPs only as the Tenant's `spec.serviceOptions` allow |

Shared by the rules: `guard` (the guardrail preamble as one wrapper, membership helpers), `text` (how messages
name values and objects), `workloads` (where pod specs live), `findings` (deny texts and the UPDATE ratchet).

`register_guardrails(registries)` wires the guardrails; it is idempotent, so calling it on registries that
already hold them (or from `build_registries` and again by a caller) registers nothing twice.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from admission.context import TENANT_LABELLED_CLUSTER_KINDS
from admission.protocol import Operation
from admission.registry import Handler, HandlerRegistry, Registries
from admission.resources import CUSTOM_KINDS, TENANT_WORKLOAD_KINDS
from admission.rules.event_webhooks import event_webhooks
from admission.rules.hosts import HOST_KINDS, allowed_hosts
from admission.rules.images import IMAGE_KINDS, allowed_registries
from admission.rules.kubeop_app import label_managed_by
from admission.rules.kubeop_project import require_existing_tenant
from admission.rules.membership import (
    TENANT_NAMESPACED_KINDS,
    cordoned_tenant,
    policy_writes,
    project_rules,
    tenant_membership,
    tenant_writes,
)
from admission.rules.model_validation import validate_custom_kind
from admission.rules.namespaces import app_namespace, namespace_labels
from admission.rules.network import MANAGED_KINDS, egress_cidrs, managed_objects
from admission.rules.podsecurity import DJANGO_KINDS, POD_SECURITY_KINDS, django_beat_replicas, pod_security
from admission.rules.quotas import project_quota, resource_quota
from admission.rules.references import REFERENCE_KINDS, secret_references
from admission.rules.schema_defaults import default_custom_kind
from admission.rules.services import SERVICE_KINDS, service_exposure
from admission.rules.shapes import SHAPED_KINDS, well_formed
from admission.rules.snippets import SNIPPET_KINDS, ingress_snippets
from admission.rules.tenancy_labels import tenancy_labels

KUBEOP: Final = "paas.kubeop.io"
WRITE: Final[tuple[Operation, ...]] = ("CREATE", "UPDATE")
ALL: Final[tuple[Operation, ...]] = ("CREATE", "UPDATE", "DELETE")
LABELLED_KINDS: Final = (*CUSTOM_KINDS, *TENANT_WORKLOAD_KINDS)
"""Kinds that carry tenancy labels and freeze with a cordoned tenant: every kind of a tenant's namespaces."""


def _add(
    registry: HandlerRegistry, kinds: Iterable[tuple[str, str]], operations: tuple[Operation, ...], handler: Handler
) -> None:
    for group, kind in kinds:
        for operation in operations:
            if handler in registry.handlers_for(group, kind, operation):
                break
        else:
            registry.add(group, kind, operations, handler)


def register_guardrails(registries: Registries) -> None:
    """Register every tenancy default and guardrail (idempotent). Order: who may write first, then what."""
    mutating, validating = registries.mutating, registries.validating
    _add(mutating, LABELLED_KINDS, WRITE, tenancy_labels)

    _add(validating, SHAPED_KINDS, WRITE, well_formed)
    _add(validating, [("", "Namespace")], WRITE, namespace_labels)
    _add(validating, [(KUBEOP, "Tenant")], ALL, tenant_writes)
    _add(validating, [(KUBEOP, "Tenant")], WRITE, event_webhooks)
    _add(validating, [(KUBEOP, "Policy")], ALL, policy_writes)
    _add(validating, [(KUBEOP, "Project")], ALL, project_rules)
    _add(validating, [(KUBEOP, "App")], WRITE, app_namespace)  # before membership: kubeOP's own wording
    _add(validating, [*TENANT_NAMESPACED_KINDS, *sorted(TENANT_LABELLED_CLUSTER_KINDS)], ALL, tenant_membership)
    _add(validating, LABELLED_KINDS, WRITE, cordoned_tenant)
    _add(validating, MANAGED_KINDS, ALL, managed_objects)
    _add(validating, IMAGE_KINDS, WRITE, allowed_registries)
    _add(validating, HOST_KINDS, WRITE, allowed_hosts)
    _add(validating, SNIPPET_KINDS, WRITE, ingress_snippets)
    _add(validating, POD_SECURITY_KINDS, WRITE, pod_security)
    _add(validating, DJANGO_KINDS, WRITE, django_beat_replicas)
    _add(validating, [("", "ResourceQuota")], WRITE, resource_quota)
    _add(validating, [(KUBEOP, "Project")], WRITE, project_quota)
    _add(validating, [("networking.k8s.io", "NetworkPolicy")], WRITE, egress_cidrs)
    _add(validating, SERVICE_KINDS, WRITE, service_exposure)
    _add(validating, REFERENCE_KINDS, WRITE, secret_references)


def build_registries() -> Registries:
    """Fresh registries holding every shipped handler (callers may add more, e.g. tests)."""
    registries = Registries()
    mutating, validating = registries.mutating, registries.validating
    for group, kind in CUSTOM_KINDS:
        mutating.add(group, kind, ("CREATE", "UPDATE"), default_custom_kind)
        validating.add(group, kind, ("CREATE", "UPDATE"), validate_custom_kind)
    mutating.add(KUBEOP, "App", ("CREATE", "UPDATE"), label_managed_by)
    _add(validating, SHAPED_KINDS, WRITE, well_formed)  # before any rule reads a field
    validating.add(KUBEOP, "Project", ("CREATE", "UPDATE"), require_existing_tenant)
    register_guardrails(registries)
    return registries


__all__ = ["build_registries", "register_guardrails"]
