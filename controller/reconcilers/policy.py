"""Policy: cluster-wide egress CIDRs for tenant workloads, merged into every Project's `kubeop-egress`.

kubeOP's Policy has no selector: it applies to every project namespace. The Project reconciler reads the
Policies from its cache when it builds `kubeop-egress`; this reconciler validates the CIDRs and reports, in the
Policy's `Ready` condition, what it applies to (or which entry is not a CIDR).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from controller.conditions import Condition, now_rfc3339, set_condition
from controller.context import Context
from controller.manager import Manager
from controller.reconcilers.tenancy import POLICY, PROJECT, schema_status, spec_of, status_of
from controller.runtime import DONE, Result
from kube.objects import Obj, generation_of, is_deleting
from kube.store import Change
from tenancy.policy import parse_network


def invalid_cidrs(policy: Mapping[str, Any]) -> list[str]:
    """`spec.egressAllowCIDRs[i] "x"` for each entry that is not a CIDR. Pure."""
    problems = []
    for index, raw in enumerate(spec_of(policy).get("egressAllowCIDRs") or []):
        if parse_network(str(raw)) is None:
            problems.append(f'spec.egressAllowCIDRs[{index}] "{raw}"')
    return problems


def policy_status(policy: Mapping[str, Any], project_count: int, now: str) -> dict[str, Any]:
    problems = invalid_cidrs(policy)
    cidrs = len(spec_of(policy).get("egressAllowCIDRs") or [])
    if problems:
        condition = Condition(
            "Ready",
            "False",
            "InvalidCIDR",
            f"{', '.join(problems)} is not a CIDR such as 10.0.0.0/8 and is ignored; the other entries apply",
        )
    else:
        condition = Condition(
            "Ready", "True", "Applied", f"{cidrs} egress CIDR(s) allowed in {project_count} project namespace(s)"
        )
    conditions = set_condition(status_of(policy).get("conditions"), condition, generation_of(policy), now)
    return schema_status(POLICY[0], POLICY[1], {"conditions": conditions})


async def reconcile(policy: Obj, ctx: Context) -> Result:
    if is_deleting(policy):
        return DONE
    projects = [p for p in ctx.informer(*PROJECT).store.objects() if not is_deleting(p)]
    await ctx.write_status(policy, policy_status(policy, len(projects), now_rfc3339()))
    return DONE


def _added_or_removed(change: Change) -> bool:
    return change.old is None or change.new is None


def setup(manager: Manager) -> None:
    policies = manager.informer(*POLICY)
    controller = manager.add_controller("Policy", policies, reconcile)
    controller.watch(manager.informer(*PROJECT), lambda _: policies.store.all_keys(), predicate=_added_or_removed)
