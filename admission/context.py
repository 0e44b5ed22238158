"""The facts of one admission request, computed once in dispatch and passed to every rule.

Every guardrail asks the same questions: who is asking (`actor`), under which platform policy (`policy`), which
tenant the object belongs to (`tenancy`) and what that tenant allows (`rules`). Dispatch builds one
`RequestContext` per review and hands it to each rule, so the answers are computed at most once per request and
every rule of a request sees the same policy snapshot, even if the ConfigMap changes in between.

Where an object belongs:
- a namespaced object belongs to the tenant named by its namespace's `app.kubeop.io/tenant` label;
- a Project to its `spec.tenantRef`;
- a cluster-scoped DNSRecord, Certificate or Registry to its own `app.kubeop.io/tenant` label. That label comes
  from the request, so it is not a fact until the membership rule has checked it: a non-admin's object must
  name a tenant the writer owns (an empty value is denied, never read as "outside every tenant"); only a platform
  admin's object may belong to no tenant.

Namespace tenancy fails closed: a namespace the view does not know is resolved through the Project that will own
it (the informer may lag the controller by a moment), and a `kubeop-*` namespace that matches no Project is
reported as unknown, which rules answer with a deny that says to retry, never with "not a tenant".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from admission.protocol import AdmissionRequest
from admission.view import ClusterView, labels_of
from tenancy.labels import PROJECT_LABEL, TENANT_LABEL
from tenancy.namespaces import NAMESPACE_PREFIX, project_namespace, sanitize_dns_label
from tenancy.policy import GlobalPolicy
from tenancy.tenants import Actor, TenantRules, actor_for

TENANT_LABELLED_CLUSTER_KINDS: Final = frozenset(
    {("paas.kubeop.io", "DNSRecord"), ("paas.kubeop.io", "Certificate"), ("paas.kubeop.io", "Registry")}
)
"""Cluster-scoped kinds that belong to a tenant through their own `app.kubeop.io/tenant` label."""
PROJECT_KIND: Final = ("paas.kubeop.io", "Project")


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


def _spec(obj: Mapping[str, Any] | None) -> Mapping[str, Any]:
    spec = (obj or {}).get("spec")
    return spec if isinstance(spec, dict) else {}


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
            name = _spec(project).get("name")
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
        ref = _spec(subject).get("tenantRef")
        return Tenancy(True, ref) if isinstance(ref, str) and ref else NOT_A_TENANT
    if key in TENANT_LABELLED_CLUSTER_KINDS:
        tenant = labels_of(subject).get(TENANT_LABEL)
        return Tenancy(True, tenant) if tenant else NOT_A_TENANT
    return NOT_A_TENANT


def actor_of(request: AdmissionRequest, policy: GlobalPolicy) -> Actor:
    return actor_for(request.user_info.username, frozenset(request.user_info.groups), policy)


class RequestContext:
    """One review's facts: the view, the policy and the actor at once, the tenancy and tenant rules on first use.

    Lazily computed facts are kept for the rest of the review (the context lives as long as one request), so no
    rule recomputes what another already knows.
    """

    __slots__ = ("_namespaces", "_rules", "_tenancy", "actor", "policy", "request", "view")

    def __init__(self, request: AdmissionRequest, view: ClusterView, policy: GlobalPolicy | None = None) -> None:
        self.request = request
        self.view = view
        self.policy = policy if policy is not None else view.global_policy()
        self.actor = actor_of(request, self.policy)
        self._tenancy: Tenancy | None = None
        self._rules: dict[str, TenantRules | None] = {}
        self._namespaces: dict[str, Tenancy] = {}

    def for_request(self, request: AdmissionRequest) -> RequestContext:
        """The context of the same review after mutation: the same policy snapshot, the tenancy read anew."""
        return RequestContext(request, self.view, self.policy)

    @property
    def tenancy(self) -> Tenancy:
        """The tenancy of the request's subject (the old object for DELETE)."""
        if self._tenancy is None:
            if self.request.namespace:
                self._tenancy = self.namespace_tenancy(self.request.namespace)
            else:
                self._tenancy = object_tenancy(self.request, self.view)
        return self._tenancy

    @property
    def rules(self) -> TenantRules | None:
        """The rules of the subject's tenant (None outside tenants, or while the Tenant does not exist)."""
        return self.tenant_rules(self.tenancy.tenant)

    def tenant_rules(self, name: str | None) -> TenantRules | None:
        if not name:
            return None
        if name not in self._rules:
            self._rules[name] = self.view.tenant_rules(name)
        return self._rules[name]

    def namespace_tenancy(self, namespace: str) -> Tenancy:
        found = self._namespaces.get(namespace)
        if found is None:
            found = self._namespaces[namespace] = namespace_tenancy(self.view, namespace)
        return found
