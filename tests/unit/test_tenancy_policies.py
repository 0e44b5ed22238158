"""Which Policies apply to which Project: one rule, used by the validating webhook and the Project reconciler."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from admission.rules.network import egress_cidrs as egress_cidrs_rule
from controller.reconcilers.project import ProjectInputs, desired_children
from tenancy.policies import applicable_networks, policy_applies
from tenancy.policy import policy_from_configmap_data
from tests.unit.test_guardrails_support import judged, request, with_labels, world

pytestmark = pytest.mark.unit

egress_cidrs = judged(egress_cidrs_rule)

TENANT = "app.kubeop.io/tenant"
PROJECT = "app.kubeop.io/project"


def policy(name: str, *cidrs: str) -> dict[str, Any]:
    return {
        "apiVersion": "paas.kubeop.io/v1alpha1",
        "kind": "Policy",
        "metadata": {"name": name},
        "spec": {"egressAllowCIDRs": list(cidrs)},
    }


def labelled(name: str, labels: dict[str, str], *cidrs: str) -> dict[str, Any]:
    return with_labels(policy(name, *cidrs), labels)


@pytest.mark.parametrize(
    ("labels", "tenant", "project", "applies"),
    [
        ({}, "acme", "web", True),
        ({TENANT: "acme"}, "acme", "web", True),
        ({TENANT: "acme"}, "globex", "shop", False),
        ({TENANT: "acme", PROJECT: "web"}, "acme", "web", True),
        ({TENANT: "acme", PROJECT: "web"}, "acme", "api", False),
        ({TENANT: "acme", PROJECT: "web"}, "globex", "web", False),
        ({PROJECT: "web"}, "acme", "web", False),
        ({TENANT: ""}, "acme", "web", True),
    ],
    ids=[
        "unlabelled_is_platform_wide",
        "tenant_label_own_tenant",
        "tenant_label_other_tenant",
        "project_label_own_project",
        "project_label_sibling_project",
        "project_label_other_tenant",
        "project_label_alone_applies_nowhere",
        "empty_tenant_label_is_unlabelled",
    ],
)
def test_policy_applies_only_where_its_labels_say(
    labels: dict[str, str], tenant: str, project: str, applies: bool
) -> None:
    assert policy_applies(labelled("p", labels, "10.0.0.0/8"), tenant, project) is applies


def test_a_policy_being_deleted_applies_nowhere() -> None:
    gone = policy("gone", "10.0.0.0/8")
    gone["metadata"]["deletionTimestamp"] = "2024-01-01T00:00:00Z"
    assert not policy_applies(gone, "acme", "web")


def test_networks_are_normalised_deduplicated_and_invalid_entries_skipped() -> None:
    policies = [policy("a", "10.1.2.3/8", "not-a-cidr"), policy("b", "10.0.0.0/8", "192.168.0.0/16")]
    assert applicable_networks(policies, "acme", "web") == [
        ipaddress.ip_network("10.0.0.0/8"),
        ipaddress.ip_network("192.168.0.0/16"),
    ]


def _egress_cidrs_built_for(tenant: str, project_name: str, policies: list[dict[str, Any]]) -> list[str]:
    project = {
        "apiVersion": "paas.kubeop.io/v1alpha1",
        "kind": "Project",
        "metadata": {"name": project_name, "uid": "p"},
        "spec": {"tenantRef": tenant, "name": project_name},
    }
    baseline = policy_from_configmap_data(None, {"KUBEOP_EGRESS_BASELINE": "10.0.0.0/8"})
    children = desired_children(ProjectInputs(project, None, policies, baseline))
    egress = next(c for c in children if c["metadata"]["name"] == "kubeop-egress")
    return [peer["ipBlock"]["cidr"] for rule in egress["spec"]["egress"] for peer in rule["to"] if "ipBlock" in peer]


def _admitted(ns: str, cidr: str, policies: list[dict[str, Any]]) -> bool:
    network_policy = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "out", "namespace": ns},
        "spec": {"podSelector": {}, "egress": [{"to": [{"ipBlock": {"cidr": cidr}}]}]},
    }
    view = world(*policies, KUBEOP_EGRESS_BASELINE="10.0.0.0/8")
    return egress_cidrs(request(network_policy), view).allowed


def test_webhook_and_controller_agree_a_policy_for_acme_does_not_widen_globex() -> None:
    policies = [labelled("acme-only", {TENANT: "acme"}, "203.0.113.0/24")]
    assert "203.0.113.0/24" in _egress_cidrs_built_for("acme", "web", policies)
    assert "203.0.113.0/24" not in _egress_cidrs_built_for("globex", "shop", policies)
    assert _admitted("kubeop-acme-web", "203.0.113.0/24", policies)
    assert not _admitted("kubeop-globex-shop", "203.0.113.0/24", policies)
