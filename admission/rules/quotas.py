"""Quotas: within the platform's maxima, within the tenant's quota, and together within the tenant's aggregate.

Three bounds, compared as exact quantities (`kube.quantity`):

1. kubeOP's knobs `KUBEOP_QUOTA_MAX_REQUESTS_CPU` / `_MEMORY` bound `requests.cpu` / `requests.memory` (and
   their short forms `cpu` / `memory`) of every ResourceQuota in a tenant namespace and of every Project's
   quota. kubeOP's phrase `requests.cpu exceeds maximum <max>` is kept in the message.
2. The Tenant's `spec.quota.hard` bounds each of those resources in any single namespace.
3. The same `spec.quota.hard` bounds the sum over the tenant's projects. A project counts with its own
   `spec.quota.hard`, else the tenant's `spec.quota.projectDefaults.hard`, else the platform default
   (`pods 10, requests.cpu 1, requests.memory 1Gi`). A ResourceQuota written in a project namespace counts in
   place of its project's quota for that check, so a namespace never claims more than the tenant has left.

Quantities are never negative: a negative quota would count against the tenant's aggregate as room for the other
projects. Every resource the Tenant's `spec.quota.hard` bounds is bounded in every Project's effective quota
(`tenancy.quotas.effective_hard`, the quota the controller builds): a Project's own `spec.quota.hard` that omits
one is denied, naming what to add, and tenantgate's own `kubeop-quota` may not lose one either. A tenant's other
ResourceQuotas only narrow (the API server enforces every ResourceQuota of a namespace), so they need not repeat
the bounds.

A ResourceQuota without `spec.hard` limits nothing and is admitted. On UPDATE only resources whose value
changed are judged, and a Project whose effective quota did not change is not re-judged, so lowering the
tenant's quota never blocks unrelated edits. A broken knob fails closed with a message naming it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from fractions import Fraction
from typing import Any

from admission.context import RequestContext
from admission.protocol import AdmissionRequest
from admission.rules.guard import guardrail
from admission.rules.text import metadata_of, q, spec_of
from admission.verdict import Verdict, allowed, denied
from admission.view import labels_of
from kube.quantity import QuantityError, format_quantity, parse_quantity
from tenancy.labels import MANAGED_BY_LABEL, MANAGED_BY_VALUE
from tenancy.namespaces import sanitize_dns_label
from tenancy.policy import QUOTA_MAX_CPU, QUOTA_MAX_MEMORY, GlobalPolicy
from tenancy.quotas import DEFAULTS, PROJECT, canonical, canonical_names, effective_hard, missing_bounds
from tenancy.tenants import TenantRules


def _hard(obj: Mapping[str, Any] | None) -> dict[str, Any]:
    hard = spec_of(obj).get("hard")
    return {canonical(k): v for k, v in hard.items()} if isinstance(hard, dict) else {}


def project_hard(project: Mapping[str, Any] | None, rules: TenantRules | None) -> tuple[dict[str, Any], str]:
    """The effective quota of a Project (`tenancy.quotas.effective_hard`, what the controller builds), with
    canonical names, and where it comes from (for messages); pure."""
    quota = spec_of(project).get("quota")
    chosen = effective_hard(
        quota.get("hard") if isinstance(quota, dict) else None,
        rules.project_default_hard if rules is not None else None,
        rules.quota_hard if rules is not None else None,
    )
    if chosen.source == PROJECT:
        source = "spec.quota.hard"
    elif chosen.source == DEFAULTS and rules is not None:
        source = f"Tenant {q(rules.name)} spec.quota.projectDefaults.hard"
    else:
        source = "the platform's default project quota"
    return canonical_names(chosen.hard), source


def _amount(value: object) -> Fraction | None:
    try:
        return parse_quantity(value)
    except QuantityError:
        return None


def _global_problem(resource: str, amount: Fraction, path: str, shown: str, policy: GlobalPolicy) -> str | None:
    limits = {
        "requests.cpu": (QUOTA_MAX_CPU, policy.quota_max_requests_cpu, policy.quota_max_requests_cpu_text),
        "requests.memory": (QUOTA_MAX_MEMORY, policy.quota_max_requests_memory, policy.quota_max_requests_memory_text),
    }
    if resource not in limits:
        return None
    knob, maximum, text = limits[resource]
    broken = policy.problem(knob)
    if broken is not None:
        return (
            f"{path} {shown}: the platform's maximum for {resource} cannot be read ({broken}), and quota checks fail "
            f"closed; allowed: nothing until platform operators fix {knob}"
        )
    if maximum is not None and amount > maximum:
        return f"{path} {shown}: {resource} exceeds maximum {text} ({knob}); allowed: at most {text}"
    return None


def _aggregate_problem(
    resource: str,
    amount: Fraction,
    path: str,
    shown: str,
    rules: TenantRules,
    others: Sequence[Mapping[str, Any]],
) -> str | None:
    limit_value = {canonical(k): v for k, v in rules.quota_hard.items()}.get(resource)
    if limit_value is None:
        return None
    limit = _amount(limit_value)
    if limit is None:
        return None
    if amount > limit:
        return (
            f"{path} {shown}: exceeds Tenant {q(rules.name)} spec.quota.hard {resource} {q(str(limit_value))}; "
            f"allowed: at most {format_quantity(limit, resource)}"
        )
    used = _used(resource, rules, others)
    if used + amount > limit:
        left = max(limit - used, Fraction(0))
        total = format_quantity(used + amount, resource)
        return (
            f"{path} {shown}: tenant {q(rules.name)} would use {total} {resource} in total, over its "
            f"spec.quota.hard {format_quantity(limit, resource)} (its other {len(others)} project(s) use "
            f"{format_quantity(used, resource)}); allowed: at most {format_quantity(left, resource)} here"
        )
    return None


def _used(resource: str, rules: TenantRules, others: Sequence[Mapping[str, Any]]) -> Fraction:
    """What `others` (Projects) take of `resource` together; a negative quantity frees nothing, so it counts 0."""
    used = Fraction(0)
    for project in others:
        value = project_hard(project, rules)[0].get(resource)
        parsed = _amount(value) if value is not None else None
        if parsed is not None and parsed > 0:
            used += parsed
    return used


def _tenant_limit(resource: str, rules: TenantRules) -> Fraction | None:
    return _amount(canonical_names(rules.quota_hard).get(resource))


def _missing_problem(
    missing: Sequence[str], path: str, rules: TenantRules, others: Sequence[Mapping[str, Any]], instead: str
) -> str:
    """The deny text for a quota that leaves resources the tenant bounds unbounded."""
    room = []
    for resource in missing:
        limit = _tenant_limit(resource, rules)
        if limit is not None:
            left = max(limit - _used(resource, rules, others), Fraction(0))
            room.append(f"{resource} at most {format_quantity(left, resource)}")
    names = ", ".join(missing)
    return (
        f"{path} omits {names}, which Tenant {q(rules.name)} spec.quota.hard bounds, so the namespace would not be "
        f"bounded in {'it' if len(missing) == 1 else 'them'}; allowed: add {names} to {path}"
        f"{' (' + ', '.join(room) + ')' if room else ''}{instead}"
    )


@guardrail("its quota")
def resource_quota(request: AdmissionRequest, ctx: RequestContext) -> Verdict:
    """ResourceQuotas in tenant namespaces stay within the platform maxima and the tenant's quota."""
    obj = request.object or {}
    tenancy, rules = ctx.tenancy, ctx.rules
    raw_hard = spec_of(obj).get("hard")
    if not isinstance(raw_hard, dict):
        return allowed()
    old = _hard(request.old_object) if request.operation == "UPDATE" else {}
    others: list[Mapping[str, Any]] = []
    if rules is not None:
        others = [
            p
            for p in ctx.view.projects_of(rules.name)
            if sanitize_dns_label(str(spec_of(p).get("name") or "")) != (tenancy.project or "")
        ]
    entries = [
        (canonical(key), value, f'spec.hard["{key}"]')
        for key, value in raw_hard.items()
        if not (canonical(key) in old and old[canonical(key)] == value)
    ]
    problems = []
    if rules is not None and labels_of(obj).get(MANAGED_BY_LABEL) == MANAGED_BY_VALUE:
        missing = missing_bounds(raw_hard, rules.quota_hard)
        if missing and (request.operation != "UPDATE" or missing != missing_bounds(old, rules.quota_hard)):
            problems.append(_missing_problem(missing, "spec.hard", rules, others, ""))
    return _judge_quantities(entries, ctx.policy, rules, others, problems)


def _judge_quantities(
    entries: Iterable[tuple[str, object, str]],
    policy: GlobalPolicy,
    rules: TenantRules | None,
    others: Sequence[Mapping[str, Any]],
    problems: Sequence[str] = (),
) -> Verdict:
    """Deny the (resource, value, field path) entries that are no quantity, are negative, exceed the platform
    maxima, or (with the tenant's `rules`) take the tenant's projects past its aggregate quota; every problem is
    named, after the `problems` found already."""
    problems = list(problems)
    for resource, value, path in entries:
        shown = q(str(value))
        amount = _amount(value)
        if amount is None:
            problems.append(f"{path} {shown} is not a resource quantity; allowed: a quantity such as 500m, 2 or 1Gi")
            continue
        if amount < 0:
            problems.append(
                f"{path} {shown} is negative: a quota bounds usage from above, and a negative one would count "
                f"against the tenant's total as room for other projects; allowed: 0 or more, such as "
                f"{format_quantity(Fraction(0), resource)} to allow none"
            )
            continue
        problem = _global_problem(resource, amount, path, shown, policy)
        if problem is None and rules is not None:
            problem = _aggregate_problem(resource, amount, path, shown, rules, others)
        if problem is not None:
            problems.append(problem)
    if problems:
        return denied("; ".join(problems))
    return allowed()


def _filled_warning(resource: str, value: object) -> str:
    return f"{resource}: bounded by the tenant, not by its projectDefaults; the namespace gets {value}"


def project_quota(request: AdmissionRequest, ctx: RequestContext) -> Verdict:
    """A Project's effective quota stays within the platform maxima and, with its siblings, the tenant's."""
    obj = request.object
    if obj is None:
        return allowed()
    ref = spec_of(obj).get("tenantRef")
    rules = ctx.tenant_rules(ref if isinstance(ref, str) else None)
    if rules is None:
        return allowed()
    if ctx.actor.tenantgate:
        return allowed()
    hard, source = project_hard(obj, rules)
    old = request.old_object if request.operation == "UPDATE" else None
    if old is not None and project_hard(old, rules)[0] == hard and spec_of(old).get("tenantRef") == ref:
        return allowed()
    me = str(metadata_of(obj).get("name") or "")
    others = [p for p in ctx.view.projects_of(rules.name) if str(metadata_of(p).get("name") or "") != me]
    quota = spec_of(obj).get("quota")
    chosen = effective_hard(
        quota.get("hard") if isinstance(quota, dict) else None, rules.project_default_hard, rules.quota_hard
    )
    own_hard = chosen.source == PROJECT
    unbounded = list(chosen.filled)
    entries = [
        (resource, value, f'{source}["{resource}"]' if source == "spec.quota.hard" else f"{source} {resource}")
        for resource, value in hard.items()
        if not own_hard or resource not in unbounded
    ]
    problems = []
    if own_hard and unbounded:
        instead = (
            f", or remove spec.quota.hard to use Tenant {q(rules.name)} spec.quota.projectDefaults.hard"
            if rules.project_default_hard
            else ""
        )
        problems.append(_missing_problem(unbounded, "spec.quota.hard", rules, others, instead))
    warnings = [] if own_hard else [_filled_warning(resource, hard[resource]) for resource in unbounded]
    return _judge_quantities(entries, ctx.policy, rules, others, problems).with_warnings(*warnings)
