"""Network guardrails: egress stays inside the baseline, and tenantgate's own policies and quotas stay put.

**Egress** (kubeOP's rule, with its messages `egress CIDR <cidr> not in baseline allowlist` and
`egress except CIDR <cidr> not in baseline allowlist`): in a tenant namespace every NetworkPolicy egress
`ipBlock.cidr`, and each of its `except` entries, must lie inside a CIDR of `KUBEOP_EGRESS_BASELINE` or of an
applicable Policy's `spec.egressAllowCIDRs`; which Policies apply to a namespace is `tenancy.policies`' rule,
the one the controller builds each project's `kubeop-egress` from. An empty baseline leaves ipBlocks
unrestricted (kubeOP's default: egress allowed everywhere); then Policies have nothing to widen.

**Managed objects**: NetworkPolicies, ResourceQuotas and LimitRanges labelled
`app.kubernetes.io/managed-by: tenantgate` are the tenant's fences (`kubeop-egress`, `kubeop-ingress`,
`kubeop-quota`, `kubeop-defaults`). Only tenantgate and platform admins may delete them, change their spec or
remove that label, and only they may create an object carrying it. Metadata edits (annotations, other labels)
stay possible, so `kubectl annotate` and `kubectl apply` bookkeeping never break.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from typing import Any, Final

from admission.context import RequestContext
from admission.protocol import AdmissionRequest
from admission.rules.findings import Finding, new_findings, verdict_for
from admission.rules.guard import guardrail, unknown_namespace_message
from admission.rules.text import describe, q, spec_of, verb
from admission.verdict import Verdict, allowed, denied
from admission.view import labels_of
from tenancy.policies import applicable_networks
from tenancy.policy import EGRESS_BASELINE, IPNetwork

MANAGED_BY: Final = "app.kubernetes.io/managed-by"
MANAGED_BY_TENANTGATE: Final = "tenantgate"
MANAGED_KINDS: Final = (
    ("networking.k8s.io", "NetworkPolicy"),
    ("", "ResourceQuota"),
    ("", "LimitRange"),
)


def _parse(cidr: str) -> IPNetwork | None:
    try:
        return ipaddress.ip_network(cidr.strip(), strict=False)
    except ValueError:
        return None


def inside(network: IPNetwork, allowed_networks: Sequence[IPNetwork]) -> bool:
    return any(
        network.version == candidate.version and network.subnet_of(candidate)  # type: ignore[arg-type]
        for candidate in allowed_networks
    )


def egress_blocks(obj: Mapping[str, Any]) -> list[tuple[str, str, bool]]:
    """(field path, CIDR, is an except entry) of every egress ipBlock; pure."""
    found = []
    egress = spec_of(obj).get("egress")
    for i, rule in enumerate(egress if isinstance(egress, list) else []):
        peers = rule.get("to") if isinstance(rule, dict) else None
        for j, peer in enumerate(peers if isinstance(peers, list) else []):
            block = peer.get("ipBlock") if isinstance(peer, dict) else None
            if not isinstance(block, dict):
                continue
            base = f"spec.egress[{i}].to[{j}].ipBlock"
            if isinstance(block.get("cidr"), str):
                found.append((f"{base}.cidr", block["cidr"], False))
            excepts = block.get("except")
            for k, cidr in enumerate(excepts if isinstance(excepts, list) else []):
                if isinstance(cidr, str):
                    found.append((f"{base}.except[{k}]", cidr, True))
    return found


@guardrail("its egress rules")
def egress_cidrs(request: AdmissionRequest, ctx: RequestContext) -> Verdict:
    """Egress ipBlocks of tenant NetworkPolicies stay inside the baseline plus applicable Policies."""
    tenancy = ctx.tenancy
    broken = ctx.policy.problem(EGRESS_BASELINE)
    baseline = ctx.policy.egress_baseline
    if not baseline and broken is None:
        return allowed()
    extra = applicable_networks(ctx.view.policies(), tenancy.tenant, tenancy.project)
    permitted = [*baseline, *extra]
    listing = ", ".join(str(n) for n in permitted)

    def collect(source: Mapping[str, Any]) -> list[Finding]:
        findings = []
        for path, cidr, is_except in egress_blocks(source):
            label = "egress except CIDR" if is_except else "egress CIDR"
            network = _parse(cidr)
            if broken is not None:
                message = (
                    f"{path} {q(cidr)}: {label} {cidr} not in baseline allowlist: the baseline cannot be read "
                    f"({broken}), so egress checks fail closed; allowed: none until platform operators fix it"
                )
            elif network is None:
                message = f"{path} {q(cidr)} is not a CIDR; allowed: a CIDR such as 10.0.0.0/8"
            elif inside(network, permitted):
                continue
            else:
                message = (
                    f"{path} {q(cidr)}: {label} {cidr} not in baseline allowlist; allowed: CIDRs inside "
                    f"{listing} ({EGRESS_BASELINE} and Policy spec.egressAllowCIDRs)"
                )
            findings.append(Finding(path, q(cidr), message, key=(cidr, str(is_except))))
        return findings

    fresh, kept = new_findings(request, collect)
    return verdict_for(fresh, kept)


def _managed(obj: Mapping[str, Any] | None) -> bool:
    return labels_of(obj).get(MANAGED_BY) == MANAGED_BY_TENANTGATE


def managed_objects(request: AdmissionRequest, ctx: RequestContext) -> Verdict:
    """tenantgate's NetworkPolicies, ResourceQuotas and LimitRanges are changed by tenantgate (and admins) only."""
    new, old = request.object, request.old_object
    operation = request.operation
    label = f'metadata.labels["{MANAGED_BY}"]'
    mark = f"{label} {q(MANAGED_BY_TENANTGATE)}"
    problem: str | None = None
    if operation == "CREATE" and _managed(new):
        problem = f"{mark}: only tenantgate creates objects it manages"
    elif operation == "DELETE" and _managed(old):
        problem = f"{describe(request)} is managed by tenantgate ({mark})"
    elif operation == "UPDATE" and _managed(old) and not _managed(new):
        problem = f"{mark}: removing it would take {describe(request)} out of tenantgate's care"
    elif operation == "UPDATE" and _managed(old) and (new or {}).get("spec") != (old or {}).get("spec"):
        problem = f"spec of {describe(request)}: it is managed by tenantgate ({mark})"
    if problem is None:
        return allowed()
    if ctx.actor.admin:
        return allowed()
    tenancy = ctx.namespace_tenancy(request.namespace)
    if not tenancy.known and request.namespace:
        return denied(unknown_namespace_message(request, describe(request)))
    return denied(
        f"{problem}; it is one of the fences tenantgate keeps around the tenant, so you may not {verb(request)} it; "
        "allowed: tenantgate and platform admins change it (ask for a quota or egress change through your "
        "Project or a platform admin)"
    )
