"""The preamble every "what" guardrail starts with, written once: `guardrail(...)` wraps a rule body.

Before judging what an object contains, a guardrail asks the same four questions, and only their details differ:
1. is there an object to judge? (a DELETE has none: admitted);
2. can the object's tenant be told? (a namespace tenantgate does not know yet: denied with a retry message, fail
   closed);
3. does it belong to a tenant at all? (most rules judge only tenant objects; some also judge others, such as
   kubeOP's App images against the global allowlist);
4. is the actor exempt? (tenantgate itself always; some rules also exempt platform admins).
The wrapper answers them from the request context and calls the body only when the object must be judged, so a
rule's body starts where its own logic starts.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Literal

from admission.context import RequestContext
from admission.protocol import AdmissionRequest
from admission.rules.text import q
from admission.verdict import Verdict, allowed, denied
from admission.view import ClusterView
from tenancy.tenants import Actor, TenantRules, service_account_namespace

Rule = Callable[[AdmissionRequest, RequestContext], Verdict]
Exempt = Literal["tenantgate", "admins"]


def unknown_namespace_message(request: AdmissionRequest, what: str) -> str:
    return (
        f"metadata.namespace {q(request.namespace)}: tenantgate does not know this namespace yet, so it cannot "
        f"tell which tenant's rules apply to {what}; tenantgate fails closed: retry in a few seconds, once the "
        "namespace (created by its Project) is visible"
    )


def _never(request: AdmissionRequest) -> bool:
    return False


def guardrail(
    what: str,
    *,
    tenants_only: bool = True,
    also_outside_tenants: Callable[[AdmissionRequest], bool] = _never,
    exempt: Exempt = "tenantgate",
) -> Callable[[Rule], Rule]:
    """Wrap a guardrail body with the shared preamble (see the module docstring).

    `what` names what is judged in the retry message ("its images"); `tenants_only` skips objects outside every
    tenant unless `also_outside_tenants(request)`; `exempt` is who passes unjudged.
    """

    def wrap(body: Rule) -> Rule:
        @functools.wraps(body)
        def rule(request: AdmissionRequest, ctx: RequestContext) -> Verdict:
            if request.object is None:
                return allowed()
            tenancy = ctx.tenancy
            if not tenancy.known:
                return denied(unknown_namespace_message(request, what))
            if tenants_only and not tenancy.is_tenant and not also_outside_tenants(request):
                return allowed()
            if ctx.actor.tenantgate or (exempt == "admins" and ctx.actor.admin):
                return allowed()
            return body(request, ctx)

        return rule

    return wrap


def owned_tenants(ctx: RequestContext, actor: Actor) -> list[str]:
    """Names of the tenants `actor` owns, sorted (O(tenants); used for cluster-scoped kinds only)."""
    owned = []
    for name in sorted(ctx.view.tenant_names()):
        rules = ctx.tenant_rules(name)
        if rules is not None and rules.owned_by(actor):
            owned.append(name)
    return owned


def is_member(view: ClusterView, actor: Actor, rules: TenantRules) -> bool:
    """An owner, or a service account living in one of the tenant's namespaces."""
    if rules.owned_by(actor):
        return True
    namespace = service_account_namespace(actor.username)
    return namespace is not None and view.tenant_of_namespace(namespace) == rules.name
