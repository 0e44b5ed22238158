"""Quotas stay within the platform maxima, the tenant's quota and, summed over projects, its aggregate."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from admission.rules.quotas import project_quota as project_quota_rule
from admission.rules.quotas import resource_quota as resource_quota_rule
from tests.unit.test_guardrails_support import ACME, ADMIN, ALICE, TENANTGATE, judged, project, request, respec, world

pytestmark = pytest.mark.unit

project_quota = judged(project_quota_rule)
resource_quota = judged(resource_quota_rule)


def quota(ns: str = "kubeop-acme-web", **hard: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": "q", "namespace": ns},
        "spec": {"hard": hard},
    }


MAXIMA = {"KUBEOP_QUOTA_MAX_REQUESTS_CPU": "4", "KUBEOP_QUOTA_MAX_REQUESTS_MEMORY": "8Gi"}


@pytest.mark.parametrize(
    ("hard", "allowed", "text"),
    [
        ({"requests.cpu": "4", "requests.memory": "8Gi"}, True, ""),
        ({"requests.cpu": "4000m"}, True, ""),
        (
            {"requests.cpu": "4001m"},
            False,
            'spec.hard["requests.cpu"] "4001m": requests.cpu exceeds maximum 4 (KUBEOP_QUOTA_MAX_REQUESTS_CPU); '
            "allowed: at most 4",
        ),
        ({"cpu": "5"}, False, 'spec.hard["cpu"] "5": requests.cpu exceeds maximum 4'),
        ({"requests.memory": "8589934593"}, False, "requests.memory exceeds maximum 8Gi"),
        ({"memory": "9G"}, False, "requests.memory exceeds maximum 8Gi"),
        ({"pods": "1000"}, True, ""),
    ],
)
def test_resource_quotas_stay_within_the_platform_maxima(hard: Mapping[str, str], allowed: bool, text: str) -> None:
    verdict = resource_quota(request(quota(**hard)), world(replace=[respec(ACME, quota=None)], **MAXIMA))
    assert verdict.allowed is allowed
    assert text in verdict.message


@pytest.mark.parametrize(
    ("hard", "allowed", "text"),
    [
        ({"requests.cpu": "6"}, True, ""),
        (
            {"requests.cpu": "6500m"},
            False,
            'tenant "acme" would use 8500m requests.cpu in total, over its '
            "spec.quota.hard 8 (its other 1 project(s) use 2); allowed: at most 6 here",
        ),
        ({"requests.cpu": "9"}, False, 'exceeds Tenant "acme" spec.quota.hard requests.cpu "8"; allowed: at most 8'),
        ({"requests.memory": "14Gi"}, True, ""),
        ({"requests.memory": "15Gi"}, False, "would use 17Gi requests.memory in total"),
    ],
)
def test_resource_quotas_fit_in_what_the_tenant_has_left(hard: Mapping[str, str], allowed: bool, text: str) -> None:
    # acme: aggregate 8 CPU / 16Gi; projects default to 2 CPU / 2Gi; kubeop-acme-web is project "web", and
    # project "api" (another 2 CPU / 2Gi by default) already counts.
    verdict = resource_quota(request(quota(**hard)), world(project("acme-api", "acme", "api")))
    assert verdict.allowed is allowed
    assert text in verdict.message


def test_broken_maximum_fails_closed_naming_the_knob() -> None:
    verdict = resource_quota(request(quota(**{"requests.cpu": "1"})), world(KUBEOP_QUOTA_MAX_REQUESTS_CPU="lots"))
    assert not verdict.allowed
    assert "KUBEOP_QUOTA_MAX_REQUESTS_CPU" in verdict.message
    assert "fail closed" in verdict.message


def test_update_judges_only_changed_resources() -> None:
    old = quota(**{"requests.cpu": "7", "pods": "10"})
    new = quota(**{"requests.cpu": "7", "pods": "20"})
    view = world(**MAXIMA)
    assert resource_quota(request(new, "UPDATE", old=old), view).allowed
    raised = quota(**{"requests.cpu": "7500m", "pods": "10"})
    assert not resource_quota(request(raised, "UPDATE", old=old), view).allowed


@pytest.mark.parametrize(
    ("obj", "allowed"),
    [(quota(ns="default", **{"requests.cpu": "100"}), True), (quota(**{"requests.cpu": "100"}), False)],
)
def test_only_tenant_namespaces_are_bounded(obj: Mapping[str, Any], allowed: bool) -> None:
    assert resource_quota(request(obj), world(**MAXIMA)).allowed is allowed


def test_tenantgate_writes_its_own_quotas_unchecked() -> None:
    assert resource_quota(request(quota(**{"requests.cpu": "100"}), who=TENANTGATE), world(**MAXIMA)).allowed


@pytest.mark.parametrize(
    ("quota_spec", "siblings", "allowed", "text"),
    [
        (None, 3, True, ""),  # 3 siblings with the default 2 CPU, plus this one's 2: exactly 8
        (None, 4, False, 'Tenant "acme" spec.quota.projectDefaults.hard requests.cpu'),
        ({"hard": {"requests.cpu": "1", "requests.memory": "1Gi"}}, 3, True, ""),
        (
            {"hard": {"requests.cpu": "3"}},
            3,
            False,
            'spec.quota.hard["requests.cpu"] "3": tenant "acme" would use 9 requests.cpu in total',
        ),
        ({"hard": {"requests.cpu": "5"}}, 0, False, "requests.cpu exceeds maximum 4"),
    ],
)
def test_projects_together_fit_the_tenants_aggregate(
    quota_spec: Mapping[str, Any] | None, siblings: int, allowed: bool, text: str
) -> None:
    others = [project(f"acme-s{i}", "acme", f"s{i}") for i in range(siblings - 1)]  # plus acme-web
    new = project("acme-new", "acme", "new", **({"quota": quota_spec} if quota_spec else {}))
    verdict = project_quota(request(new, who=ALICE), world(*others, **MAXIMA))
    assert verdict.allowed is allowed
    assert text in verdict.message


def test_project_with_unchanged_quota_is_not_rejudged() -> None:
    tight = respec(ACME, quota={"hard": {"requests.cpu": "1"}})
    old = project("acme-web", "acme", "web")
    new = {**old, "metadata": {"name": "acme-web", "labels": {"a": "b"}}}
    assert project_quota(request(new, "UPDATE", old=old), world(replace=[tight])).allowed
    assert not project_quota(request(project("acme-x", "acme", "x")), world(replace=[tight])).allowed


@pytest.mark.parametrize(
    ("hard", "text"),
    [
        (
            {"requests.cpu": "-8", "requests.memory": "1Gi"},
            'spec.quota.hard["requests.cpu"] "-8" is negative: a quota bounds usage from above',
        ),
        ({"requests.cpu": "1", "requests.memory": "-1Gi"}, 'spec.quota.hard["requests.memory"] "-1Gi" is negative'),
        ({"requests.cpu": "1", "requests.memory": "1Gi", "pods": -1}, 'spec.quota.hard["pods"] "-1" is negative'),
    ],
)
def test_negative_project_quantities_are_denied(hard: Mapping[str, Any], text: str) -> None:
    verdict = project_quota(request(project("acme-neg", "acme", "neg", quota={"hard": hard})), world())
    assert not verdict.allowed
    assert text in verdict.message


def test_a_negative_sibling_frees_no_room_for_the_others() -> None:
    # stored before negatives were refused: it must not count as -8 against the tenant's 8
    negative = project("acme-neg", "acme", "neg", quota={"hard": {"requests.cpu": "-8", "requests.memory": "1Gi"}})
    big = project("acme-big", "acme", "big", quota={"hard": {"requests.cpu": "7", "requests.memory": "1Gi"}})
    verdict = project_quota(request(big), world(negative))
    assert not verdict.allowed
    assert 'tenant "acme" would use 9 requests.cpu in total' in verdict.message


def test_negative_resource_quota_quantities_are_denied() -> None:
    verdict = resource_quota(request(quota(**{"requests.cpu": "-1"})), world())
    assert not verdict.allowed
    assert 'spec.hard["requests.cpu"] "-1" is negative' in verdict.message


@pytest.mark.parametrize(
    ("hard", "missing"),
    [
        ({"pods": "5"}, "requests.cpu, requests.memory"),
        ({"requests.cpu": "1"}, "requests.memory"),
        ({"cpu": "1", "limits.memory": "1Gi"}, "requests.memory"),
    ],
)
def test_a_project_quota_omitting_a_resource_the_tenant_bounds_is_denied(hard: Mapping[str, Any], missing: str) -> None:
    verdict = project_quota(request(project("acme-new", "acme", "new", quota={"hard": hard})), world())
    assert not verdict.allowed
    assert (
        f'spec.quota.hard omits {missing}, which Tenant "acme" spec.quota.hard bounds, so the namespace would not be '
        f"bounded in"
    ) in verdict.message
    assert f"allowed: add {missing} to spec.quota.hard (" in verdict.message
    assert 'or remove spec.quota.hard to use Tenant "acme" spec.quota.projectDefaults.hard' in verdict.message


def test_the_missing_resource_message_says_how_much_is_left() -> None:
    verdict = project_quota(request(project("acme-new", "acme", "new", quota={"hard": {"requests.cpu": "1"}})), world())
    assert "(requests.memory at most 14Gi)" in verdict.message  # 16Gi less acme-web's default 2Gi


@pytest.mark.parametrize(
    "hard", [{"cpu": "1", "memory": "1Gi"}, {"requests.cpu": "1", "requests.memory": "1Gi", "pods": "3"}]
)
def test_a_project_quota_bounding_every_tenant_resource_is_admitted(hard: Mapping[str, Any]) -> None:
    assert project_quota(request(project("acme-new", "acme", "new", quota={"hard": hard})), world()).allowed


def test_defaults_that_omit_a_bounded_resource_are_filled_and_counted() -> None:
    # projectDefaults bound only cpu; memory is filled from the platform default (1Gi) and counts in the total
    tenant = respec(
        ACME,
        quota={
            "hard": {"requests.cpu": "8", "requests.memory": "2Gi"},
            "projectDefaults": {"hard": {"requests.cpu": "1"}},
        },
    )
    view = world(project("acme-two", "acme", "two"), replace=[tenant])
    verdict = project_quota(request(project("acme-three", "acme", "three")), view)
    assert not verdict.allowed
    assert "would use 3Gi requests.memory in total" in verdict.message


MANAGED = {"app.kubernetes.io/managed-by": "tenantgate"}


def _managed_quota(**hard: Any) -> dict[str, Any]:
    obj = quota(**hard)
    obj["metadata"] = {**obj["metadata"], "name": "kubeop-quota", "labels": dict(MANAGED)}
    return obj


def test_tenantgates_quota_may_not_lose_a_bounded_resource() -> None:
    old = _managed_quota(**{"requests.cpu": "2", "requests.memory": "2Gi"})
    new = _managed_quota(**{"requests.cpu": "2"})
    verdict = resource_quota(request(new, "UPDATE", old=old, who=ADMIN), world())
    assert not verdict.allowed
    assert "spec.hard omits requests.memory, which Tenant" in verdict.message


def test_a_tenants_own_narrowing_quota_need_not_repeat_the_bounds() -> None:
    assert resource_quota(request(quota(pods="3")), world()).allowed


def test_a_project_on_defaults_that_omit_a_bounded_resource_is_told_what_it_gets() -> None:
    tenant = respec(
        ACME,
        quota={
            "hard": {"requests.cpu": "8", "count/secrets": "20"},
            "projectDefaults": {"hard": {"requests.cpu": "1"}},
        },
    )
    verdict = project_quota(request(project("acme-new", "acme", "new")), world(replace=[tenant]))
    assert verdict.allowed
    assert verdict.warnings == (
        "count/secrets: bounded by the tenant, not by its projectDefaults; the namespace gets 0",
    )
