"""Global policy: ConfigMap `kubeop-policy` wins over the environment, and an edit applies without restart."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from fractions import Fraction

import pytest

from admission.context import RequestContext
from admission.protocol import AdmissionRequest
from admission.view import CONFIGMAP
from tenancy.policy import EGRESS_BASELINE, QUOTA_MAX_CPU, policy_from_configmap_data
from tests.unit.test_guardrails_support import pod, policy_configmap, request, view_of

pytestmark = pytest.mark.unit

ENV = {
    "KUBEOP_IMAGE_ALLOWLIST": "docker.io, GHCR.io ",
    "KUBEOP_EGRESS_BASELINE": "10.0.0.0/8",
    "KUBEOP_QUOTA_MAX_REQUESTS_CPU": "2",
    "KUBEOP_QUOTA_MAX_REQUESTS_MEMORY": "4Gi",
}


def test_reads_every_knob_from_the_environment() -> None:
    policy = policy_from_configmap_data(None, ENV)
    assert policy.image_allowlist == ("docker.io", "ghcr.io")
    assert policy.egress_baseline == (ipaddress.ip_network("10.0.0.0/8"),)
    assert policy.quota_max_requests_cpu == Fraction(2)
    assert policy.quota_max_requests_memory == Fraction(4 * 2**30)
    assert policy.admin_groups == frozenset({"system:masters"})
    assert "system:serviceaccount:tenantgate-system:tenantgate" in policy.admin_users
    assert not policy.problems


@pytest.mark.parametrize(
    ("data", "allowlist", "cpu"),
    [
        ({"KUBEOP_IMAGE_ALLOWLIST": "quay.io"}, ("quay.io",), Fraction(2)),
        ({"KUBEOP_IMAGE_ALLOWLIST": ""}, (), Fraction(2)),
        ({"KUBEOP_QUOTA_MAX_REQUESTS_CPU": "500m"}, ("docker.io", "ghcr.io"), Fraction(1, 2)),
        ({}, ("docker.io", "ghcr.io"), Fraction(2)),
    ],
)
def test_configmap_keys_win_over_the_environment_even_when_empty(
    data: Mapping[str, str], allowlist: tuple[str, ...], cpu: Fraction
) -> None:
    policy = policy_from_configmap_data(data, ENV)
    assert policy.image_allowlist == allowlist
    assert policy.quota_max_requests_cpu == cpu


@pytest.mark.parametrize(
    ("data", "knob"),
    [
        ({"KUBEOP_EGRESS_BASELINE": "10.0.0.0/8, not-a-cidr"}, EGRESS_BASELINE),
        ({"KUBEOP_QUOTA_MAX_REQUESTS_CPU": "two"}, QUOTA_MAX_CPU),
    ],
)
def test_broken_knobs_are_recorded_not_dropped(data: Mapping[str, str], knob: str) -> None:
    assert knob in policy_from_configmap_data(data, {}).problems


def test_admin_groups_and_users_are_configurable_and_tenantgate_is_always_admin() -> None:
    policy = policy_from_configmap_data(
        {"TENANTGATE_ADMIN_GROUPS": "platform-team", "TENANTGATE_ADMIN_USERS": "ops"}, {"TENANTGATE_NAMESPACE": "tg"}
    )
    assert policy.admin_groups == frozenset({"platform-team"})
    assert policy.admin_users == frozenset({"ops", "system:serviceaccount:tg:tenantgate"})
    assert policy.tenantgate_user == "system:serviceaccount:tg:tenantgate"


def test_an_edited_configmap_applies_to_the_next_request_without_restart(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TENANTGATE_NAMESPACE", raising=False)
    view = view_of([policy_configmap(KUBEOP_IMAGE_ALLOWLIST="docker.io")])
    assert view.global_policy().image_allowlist == ("docker.io",)
    assert view.global_policy() is view.global_policy()  # parsed once per ConfigMap change
    view.upsert(CONFIGMAP, policy_configmap(KUBEOP_IMAGE_ALLOWLIST="quay.io"))
    assert view.global_policy().image_allowlist == ("quay.io",)


def test_without_a_configmap_the_environment_applies(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBEOP_IMAGE_ALLOWLIST", "registry.example")
    monkeypatch.delenv("TENANTGATE_NAMESPACE", raising=False)
    assert view_of([]).global_policy().image_allowlist == ("registry.example",)
    monkeypatch.setenv("KUBEOP_IMAGE_ALLOWLIST", "other.example")
    assert view_of([]).global_policy().image_allowlist == ("other.example",)


def test_every_rule_of_a_request_sees_one_policy_snapshot() -> None:
    view = view_of([policy_configmap(KUBEOP_IMAGE_ALLOWLIST="docker.io")])
    context = RequestContext(admission_request(), view)
    view.upsert(CONFIGMAP, policy_configmap(KUBEOP_IMAGE_ALLOWLIST="quay.io"))
    assert context.policy.image_allowlist == ("docker.io",)
    assert RequestContext(admission_request(), view).policy.image_allowlist == ("quay.io",)


def admission_request() -> AdmissionRequest:
    return request(pod())
