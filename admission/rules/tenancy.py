"""Who is asking, which tenant an object belongs to, and what that tenant allows: shared by every rule.

Three questions recur in every guardrail and are answered here once:

- **the actor**: is the requester tenantgate itself, a platform admin (groups from the global policy, by
  default `system:masters`), or an owner of a given tenant (a `User`, `Group` or `ServiceAccount` listed in
  the Tenant's `spec.owners`)? Service accounts that live in a tenant's own namespaces count as members of
  that tenant (CI inside a project can deploy there) but not as owners (they cannot create Projects).
- **the scope**: a namespaced object belongs to the tenant named by its namespace's `app.kubeop.io/tenant`
  label; a Project to `spec.tenantRef`; a cluster-scoped DNSRecord, Certificate or Registry to its own
  `app.kubeop.io/tenant` label.
- **the tenant's rules**: the Tenant's guardrail fields parsed once per `resourceVersion` into `TenantRules`
  (the hot path then reads attributes, not nested dicts).

Namespace tenancy fails closed: a namespace the view does not know is resolved through the Project that will
own it (the informer may lag the controller by a moment), and a `kubeop-*` namespace that matches no Project
is reported as unknown, which rules answer with a deny that says to retry, never with "not a tenant".
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from admission.protocol import AdmissionRequest
from admission.rules.policy import global_policy
from admission.view import ClusterView, labels_of
from tenancy.labels import PROJECT_LABEL, TENANT_LABEL
from tenancy.namespaces import NAMESPACE_PREFIX, project_namespace, sanitize_dns_label
from tenancy.policy import GlobalPolicy
from tenancy.tenants import Actor, TenantRules, actor_for, parse_tenant, service_account_namespace

TENANT_LABELLED_CLUSTER_KINDS: Final = frozenset(
    {("paas.kubeop.io", "DNSRecord"), ("paas.kubeop.io", "Certificate"), ("paas.kubeop.io", "Registry")}
)
"""Cluster-scoped kinds that belong to a tenant through their own `app.kubeop.io/tenant` label."""
PROJECT_KIND: Final = ("paas.kubeop.io", "Project")


def q(value: object) -> str:
    """A value quoted for a message: strings in double quotes (JSON escaping), others as JSON."""
    if isinstance(value, str) and value.isprintable() and '"' not in value and "\\" not in value:
        return f'"{value}"'  # the common case, without the encoder
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


def spec_of(obj: Mapping[str, Any] | None) -> Mapping[str, Any]:
    spec = (obj or {}).get("spec")
    return spec if isinstance(spec, dict) else {}


def metadata_of(obj: Mapping[str, Any] | None) -> Mapping[str, Any]:
    metadata = (obj or {}).get("metadata")
    return metadata if isinstance(metadata, dict) else {}


def object_name(request: AdmissionRequest) -> str:
    return str(metadata_of(request.subject).get("name") or request.name or "<generated>")


def describe(request: AdmissionRequest) -> str:
    """`Shop "web"` for messages."""
    return f"{request.kind.kind} {q(object_name(request))}"


def verb(request: AdmissionRequest) -> str:
    return {"CREATE": "create", "UPDATE": "update", "DELETE": "delete"}.get(request.operation, "change")


def being_deleted(request: AdmissionRequest) -> bool:
    """An UPDATE of an object that already has a deletionTimestamp (finalizer removal must always pass)."""
    return request.operation == "UPDATE" and bool(metadata_of(request.object).get("deletionTimestamp"))


# -- the actor ---------------------------------------------------------------------------------------------


def actor_of(request: AdmissionRequest, policy: GlobalPolicy) -> Actor:
    return actor_for(request.user_info.username, frozenset(request.user_info.groups), policy)


# -- tenant rules ------------------------------------------------------------------------------------------


class _RulesCache:
    """TenantRules per Tenant name, valid while the view hands out the very same Tenant object.

    The view's store replaces a Tenant's dict on every watch event, so object identity is a version that
    needs no resourceVersion (objects in offline review and tests have none). The entry keeps the object
    alive, so identity comparison stays sound.
    """

    LIMIT: Final = 4096

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.entries: dict[str, tuple[Mapping[str, Any], TenantRules]] = {}

    def get(self, name: str, tenant: Mapping[str, Any]) -> TenantRules:
        with self.lock:
            found = self.entries.get(name)
        if found is not None and found[0] is tenant:
            return found[1]
        rules = parse_tenant(tenant)
        with self.lock:
            if len(self.entries) >= self.LIMIT:
                self.entries.clear()
            self.entries[name] = (tenant, rules)
        return rules


_rules_cache = _RulesCache()


def tenant_rules(view: ClusterView, name: str | None) -> TenantRules | None:
    if not name:
        return None
    tenant = view.tenant(name)
    return _rules_cache.get(name, tenant) if tenant is not None else None


def owned_tenants(view: ClusterView, actor: Actor) -> list[str]:
    """Names of the tenants `actor` owns, sorted (O(tenants); used for cluster-scoped kinds only)."""
    owned = []
    for name in sorted(view.tenant_names()):
        rules = tenant_rules(view, name)
        if rules is not None and rules.owned_by(actor):
            owned.append(name)
    return owned


def is_member(view: ClusterView, actor: Actor, rules: TenantRules) -> bool:
    """An owner, or a service account living in one of the tenant's namespaces."""
    if rules.owned_by(actor):
        return True
    namespace = service_account_namespace(actor.username)
    return namespace is not None and view.tenant_of_namespace(namespace) == rules.name


# -- scope -------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Tenancy:
    """Which tenant a namespace (or object) belongs to. `known=False` means: cannot tell yet, fail closed."""

    known: bool
    tenant: str | None = None
    project: str | None = None

    @property
    def is_tenant(self) -> bool:
        return self.tenant is not None


NOT_A_TENANT: Final = Tenancy(True)
UNKNOWN: Final = Tenancy(False)


def namespace_tenancy(view: ClusterView, namespace: str) -> Tenancy:
    """The tenancy of namespace `namespace`; see the module docstring for how unknown namespaces resolve."""
    if not namespace:
        return NOT_A_TENANT
    found = view.namespace(namespace)
    if found is not None:
        labels = labels_of(found)
        tenant = labels.get(TENANT_LABEL) or None
        return Tenancy(True, tenant, labels.get(PROJECT_LABEL) or None) if tenant else NOT_A_TENANT
    if not namespace.startswith(NAMESPACE_PREFIX):
        return NOT_A_TENANT
    for tenant in view.tenant_names():
        if not namespace.startswith(f"{NAMESPACE_PREFIX}{sanitize_dns_label(tenant)}-"):
            continue
        for project in view.projects_of(tenant):
            spec = spec_of(project)
            name = spec.get("name")
            if isinstance(name, str) and project_namespace(tenant, name) == namespace:
                return Tenancy(True, tenant, sanitize_dns_label(name))
    return UNKNOWN


def object_tenancy(request: AdmissionRequest, view: ClusterView, obj: Mapping[str, Any] | None = None) -> Tenancy:
    """The tenancy of the request's object (`obj` defaults to the subject: old object for DELETE)."""
    subject = request.subject if obj is None else obj
    if request.namespace:
        return namespace_tenancy(view, request.namespace)
    key = (request.kind.group, request.kind.kind)
    if key == PROJECT_KIND:
        ref = spec_of(subject).get("tenantRef")
        return Tenancy(True, ref) if isinstance(ref, str) and ref else NOT_A_TENANT
    if key in TENANT_LABELLED_CLUSTER_KINDS:
        tenant = labels_of(subject).get(TENANT_LABEL)
        return Tenancy(True, tenant) if tenant else NOT_A_TENANT
    return NOT_A_TENANT


def unknown_namespace_message(request: AdmissionRequest, what: str) -> str:
    return (
        f"metadata.namespace {q(request.namespace)}: tenantgate does not know this namespace yet, so it cannot "
        f"tell which tenant's rules apply to {what}; tenantgate fails closed: retry in a few seconds, once the "
        "namespace (created by its Project) is visible"
    )


@dataclass(frozen=True, slots=True)
class Context:
    """What most rules need, computed once per rule call."""

    policy: GlobalPolicy
    actor: Actor


class _LastContext:
    """The context of the request being judged, so the rules of one request share one computation.

    Rules run one after another for a request; the first computes the context, the others find it here
    (compared by identity of the request and the view). Every rule of a request thereby also sees the same
    policy snapshot, even if the ConfigMap changes in between.
    """

    __slots__ = ("entry",)

    def __init__(self) -> None:
        self.entry: tuple[AdmissionRequest, object, Context] | None = None


_last_context = _LastContext()


def context(request: AdmissionRequest, view: ClusterView) -> Context:
    entry = _last_context.entry  # one atomic read; a concurrent writer only costs a recomputation
    if entry is not None and entry[0] is request and entry[1] is view:
        return entry[2]
    policy = global_policy(view)
    result = Context(policy, actor_of(request, policy))
    _last_context.entry = (request, view, result)
    return result
