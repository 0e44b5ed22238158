"""Egress stays inside the baseline plus Policies; tenantgate's fences are changed by tenantgate only."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from admission.rules.network import egress_cidrs as egress_cidrs_rule
from admission.rules.network import managed_objects as managed_objects_rule
from tests.unit.test_guardrails_support import (
    ADMIN,
    ALICE,
    KUBEOP,
    TENANTGATE,
    custom,
    judged,
    request,
    with_labels,
    world,
)

pytestmark = pytest.mark.unit

egress_cidrs = judged(egress_cidrs_rule)
managed_objects = judged(managed_objects_rule)

Who = tuple[str, Sequence[str]]


def netpol(*blocks: Mapping[str, Any], ns: str = "kubeop-acme-web", name: str = "np") -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "podSelector": {},
            "policyTypes": ["Egress"],
            "egress": [{"to": [{"ipBlock": dict(block)} for block in blocks]}],
        },
    }


BASELINE = {"KUBEOP_EGRESS_BASELINE": "10.0.0.0/8,fd00::/8"}


@pytest.mark.parametrize(
    ("block", "allowed", "text"),
    [
        ({"cidr": "10.1.0.0/16"}, True, ""),
        ({"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}, True, ""),
        ({"cidr": "fd00:1::/32"}, True, ""),
        (
            {"cidr": "0.0.0.0/0"},
            False,
            'spec.egress[0].to[0].ipBlock.cidr "0.0.0.0/0": egress CIDR 0.0.0.0/0 not in baseline allowlist; '
            "allowed: CIDRs inside 10.0.0.0/8, fd00::/8",
        ),
        (
            {"cidr": "0.0.0.0/0", "except": ["128.0.0.0/1"]},
            False,
            'spec.egress[0].to[0].ipBlock.cidr "0.0.0.0/0": egress CIDR 0.0.0.0/0 not in baseline allowlist '
            "(after its except entries it still opens 0.0.0.0/5, 8.0.0.0/7, 11.0.0.0/8 and 4 more)",
        ),
        ({"cidr": "10.0.0.0/7"}, False, "egress CIDR 10.0.0.0/7 not in baseline allowlist"),
        ({"cidr": "banana"}, False, '"banana" is not a CIDR'),
    ],
)
def test_egress_ip_blocks_stay_inside_the_baseline(block: Mapping[str, Any], allowed: bool, text: str) -> None:
    verdict = egress_cidrs(request(netpol(block)), world(**BASELINE))
    assert verdict.allowed is allowed
    assert text in verdict.message


@pytest.mark.parametrize(
    ("labels", "allowed"),
    [
        ({}, True),
        ({"app.kubeop.io/tenant": "acme"}, True),
        ({"app.kubeop.io/tenant": "acme", "app.kubeop.io/project": "web"}, True),
        ({"app.kubeop.io/tenant": "globex"}, False),
        ({"app.kubeop.io/tenant": "acme", "app.kubeop.io/project": "api"}, False),
    ],
)
def test_applicable_policies_widen_the_baseline(labels: Mapping[str, str], allowed: bool) -> None:
    policy = with_labels(custom(KUBEOP, "Policy", "p", egressAllowCIDRs=["192.168.0.0/16"]), labels)
    verdict = egress_cidrs(request(netpol({"cidr": "192.168.1.0/24"})), world(policy, **BASELINE))
    assert verdict.allowed is allowed


def _rules(*rules: Mapping[str, Any]) -> dict[str, Any]:
    policy = netpol()
    policy["spec"]["egress"] = [dict(rule) for rule in rules]
    return policy


ALL_OF_IT = {"KUBEOP_EGRESS_BASELINE": "0.0.0.0/0,::/0"}
ONLY_V4 = {"KUBEOP_EGRESS_BASELINE": "0.0.0.0/0"}
TEN = {"KUBEOP_EGRESS_BASELINE": "10.0.0.0/8"}
OUTSIDE_TEN = ["0.0.0.0/5", "8.0.0.0/7", "11.0.0.0/8", "12.0.0.0/6", "16.0.0.0/4", "32.0.0.0/3", "64.0.0.0/2"]


@pytest.mark.parametrize(
    ("rules", "knobs", "allowed", "text"),
    [
        ([{}], BASELINE, False, "spec.egress[0].to (no peers): an egress rule without peers allows every destination"),
        ([{"to": []}], BASELINE, False, "egress CIDR 0.0.0.0/0, ::/0 not in baseline allowlist"),
        ([{"ports": [{"port": 443}]}], BASELINE, False, "spec.egress[0].to (no peers)"),
        ([{"to": [{"podSelector": {}}]}, {}], BASELINE, False, "spec.egress[1].to (no peers)"),
        ([{}], ONLY_V4, False, "egress CIDR ::/0 not in baseline allowlist"),
        ([{}], ALL_OF_IT, True, ""),
        ([{"to": [{"ipBlock": {"cidr": "::/0"}}]}], BASELINE, False, 'ipBlock.cidr "::/0": egress CIDR ::/0 not in'),
        ([{"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["128.0.0.0/1", *OUTSIDE_TEN]}}]}], TEN, True, ""),
        ([{"to": [{"ipBlock": {"cidr": "10.0.0.0/8"}}]}, {"to": [{"ipBlock": {"cidr": "10.0.0.0/8"}}]}], TEN, True, ""),
        ([{"to": [{"ipBlock": {"cidr": "::ffff:10.0.0.0/104"}}]}], TEN, True, ""),
        ([{"to": [{"ipBlock": {"cidr": "::ffff:0:0/96"}}]}], TEN, False, "egress CIDR ::ffff:0:0/96 not in baseline"),
        ([{"to": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["x"]}}]}], TEN, False, '"x" is not a CIDR'),
        ([{"to": [{"podSelector": {}}, {"namespaceSelector": {}}]}], TEN, True, ""),
    ],
)
def test_equivalent_egress_forms_are_judged_alike(
    rules: list[Mapping[str, Any]], knobs: Mapping[str, str], allowed: bool, text: str
) -> None:
    verdict = egress_cidrs(request(_rules(*rules)), world(**knobs))
    assert verdict.allowed is allowed
    assert text in verdict.message


def test_the_union_of_permitted_cidrs_covers_what_no_single_one_does() -> None:
    knobs = {"KUBEOP_EGRESS_BASELINE": "10.0.0.0/9"}
    policy = custom(KUBEOP, "Policy", "p", egressAllowCIDRs=["10.128.0.0/9"])
    assert egress_cidrs(request(netpol({"cidr": "10.0.0.0/8"})), world(policy, **knobs)).allowed


def test_update_keeps_an_existing_rule_without_peers() -> None:
    old = _rules({})
    new = with_labels(old, {"x": "y"})
    verdict = egress_cidrs(request(new, "UPDATE", old=old), world(**BASELINE))
    assert verdict.allowed
    assert verdict.warnings == ("unchanged spec.egress[0].to (no peers) breaks current policy; kept",)


def test_empty_baseline_leaves_egress_unrestricted() -> None:
    assert egress_cidrs(request(netpol({"cidr": "0.0.0.0/0"})), world()).allowed


def test_broken_baseline_fails_closed() -> None:
    verdict = egress_cidrs(request(netpol({"cidr": "10.0.0.0/8"})), world(KUBEOP_EGRESS_BASELINE="10.0.0.0/8,x"))
    assert not verdict.allowed
    assert "fail closed" in verdict.message


def test_outside_tenant_namespaces_egress_is_not_judged() -> None:
    assert egress_cidrs(request(netpol({"cidr": "0.0.0.0/0"}, ns="default")), world(**BASELINE)).allowed


def test_update_keeps_existing_blocks() -> None:
    old = netpol({"cidr": "0.0.0.0/0"})
    assert egress_cidrs(request(old, "UPDATE", old=old), world(**BASELINE)).allowed


MANAGED = with_labels(
    netpol({"cidr": "10.0.0.0/8"}, name="kubeop-egress"), {"app.kubernetes.io/managed-by": "tenantgate"}
)


def _changed_spec(obj: Mapping[str, Any]) -> dict[str, Any]:
    return {**obj, "spec": {**obj["spec"], "egress": [{}]}}


def _unlabelled(obj: Mapping[str, Any]) -> dict[str, Any]:
    return {**obj, "metadata": {k: v for k, v in obj["metadata"].items() if k != "labels"}}


def _annotated(obj: Mapping[str, Any]) -> dict[str, Any]:
    return {**obj, "metadata": {**obj["metadata"], "annotations": {"note": "x"}}}


@pytest.mark.parametrize(
    ("operation", "new", "who", "allowed", "text"),
    [
        ("DELETE", None, ALICE, False, "is managed by tenantgate"),
        ("UPDATE", _changed_spec(MANAGED), ALICE, False, 'spec of NetworkPolicy "kubeop-egress"'),
        ("UPDATE", _unlabelled(MANAGED), ALICE, False, "removing it would take"),
        ("UPDATE", _annotated(MANAGED), ALICE, True, ""),
        ("CREATE", MANAGED, ALICE, False, "only tenantgate creates objects it manages"),
        ("DELETE", None, TENANTGATE, True, ""),
        ("UPDATE", _changed_spec(MANAGED), ADMIN, True, ""),
    ],
)
def test_tenantgates_fences_are_changed_by_tenantgate_only(
    operation: str, new: Mapping[str, Any] | None, who: Who, allowed: bool, text: str
) -> None:
    old = MANAGED if operation != "CREATE" else None
    verdict = managed_objects(request(new, operation, old=old, who=who), world())
    assert verdict.allowed is allowed
    assert text in verdict.message


def test_tenants_own_quotas_are_theirs_to_delete() -> None:
    quota = {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": "mine", "namespace": "kubeop-acme-web"},
        "spec": {"hard": {"pods": "3"}},
    }
    assert managed_objects(request(None, "DELETE", old=quota), world()).allowed
