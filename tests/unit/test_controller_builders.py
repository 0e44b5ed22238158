"""Pure builders of the tenancy reconcilers: a Project's children, quota layering, owners, Registry and Policy."""

from __future__ import annotations

import base64
import json
from typing import Any

import jsonpatch
import pytest

from controller.reconcilers.policy import invalid_cidrs, policy_status
from controller.reconcilers.project import (
    ProjectInputs,
    desired_children,
    owned_namespaces,
    project_status,
)
from controller.reconcilers.registry import (
    attach_patch,
    desired_pull_secrets,
    detach_patch,
    password_ref_problem,
    pull_secret_name,
)
from controller.reconcilers.tenancy import effective_quota, owner_subjects, registry_tenant, schema_status
from controller.reconcilers.tenant import sum_resources, tenant_status, usage_summary
from tenancy.policy import GlobalPolicy, policy_from_configmap_data
from tenancy.registries import PasswordRef, parse_password_ref
from tenancy.tenants import parse_tenant

pytestmark = pytest.mark.unit

NOW = "2026-01-01T00:00:00Z"


def tenant(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "paas.kubeop.io/v1alpha1",
        "kind": "Tenant",
        "metadata": {"name": "acme", "uid": "t"},
        "spec": {"name": "Acme", **spec},
    }


def project(name: str = "web", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "paas.kubeop.io/v1alpha1",
        "kind": "Project",
        "metadata": {"name": name, "uid": "p", "generation": 2},
        "spec": {"tenantRef": "acme", "name": name, **spec},
    }


def children(
    p: dict[str, Any] | None = None,
    t: dict[str, Any] | None = None,
    policies: list[dict[str, Any]] | None = None,
    settings: GlobalPolicy | None = None,
) -> dict[str, Any]:
    built = desired_children(
        ProjectInputs(p or project(), t if t is not None else tenant(), policies or [], settings or GlobalPolicy())
    )
    return {f"{c['kind']}/{c['metadata']['name']}": c for c in built}


def test_project_children_match_kubeop_names_and_labels() -> None:
    built = children()
    assert list(built) == [
        "Namespace/kubeop-acme-web",
        "LimitRange/kubeop-defaults",
        "ResourceQuota/kubeop-quota",
        "NetworkPolicy/kubeop-ingress",
        "NetworkPolicy/kubeop-egress",
    ]
    assert built["Namespace/kubeop-acme-web"]["metadata"]["labels"] == {
        "app.kubeop.io/tenant": "acme",
        "app.kubeop.io/project": "web",
        "pod-security.kubernetes.io/enforce": "baseline",
        "pod-security.kubernetes.io/enforce-version": "latest",
        "pod-security.kubernetes.io/warn": "baseline",
        "pod-security.kubernetes.io/warn-version": "latest",
        "pod-security.kubernetes.io/audit": "baseline",
        "pod-security.kubernetes.io/audit-version": "latest",
    }
    namespaced = [c for k, c in built.items() if k != "Namespace/kubeop-acme-web"]
    assert all(c["metadata"].get("namespace") == "kubeop-acme-web" for c in namespaced)


@pytest.mark.parametrize(
    ("t", "level"),
    [
        (tenant(), "baseline"),
        (
            {**tenant(), "metadata": {"name": "acme", "annotations": {"tenantgate.io/pod-security": "restricted"}}},
            "restricted",
        ),
        (
            {**tenant(), "metadata": {"name": "acme", "annotations": {"tenantgate.io/pod-security": "privileged"}}},
            "baseline",
        ),
    ],
    ids=["default", "restricted", "never-weaker-than-baseline"],
)
def test_project_namespace_enforces_the_tenants_pod_security_level(t: dict[str, Any], level: str) -> None:
    labels = children(t=t)["Namespace/kubeop-acme-web"]["metadata"]["labels"]
    for mode in ("enforce", "warn", "audit"):
        assert labels[f"pod-security.kubernetes.io/{mode}"] == level
        assert labels[f"pod-security.kubernetes.io/{mode}-version"] == "latest"


def test_namespace_name_is_sanitised() -> None:
    built = children(project("Demo Project"))
    assert "Namespace/kubeop-acme-demo-project" in built
    assert built["Namespace/kubeop-acme-demo-project"]["metadata"]["labels"]["app.kubeop.io/project"] == "demo-project"


def test_kubeop_defaults_when_nobody_sets_a_quota() -> None:
    built = children()
    hard = built["ResourceQuota/kubeop-quota"]["spec"]["hard"]
    assert hard == {"pods": "10", "requests.cpu": "1", "requests.memory": "1Gi"}
    assert built["LimitRange/kubeop-defaults"]["spec"]["limits"] == [
        {
            "type": "Container",
            "defaultRequest": {"cpu": "100m", "memory": "64Mi"},
            "default": {"cpu": "500m", "memory": "256Mi"},
        }
    ]


def test_tenant_project_defaults_apply_when_the_project_sets_none() -> None:
    t = tenant(quota={"projectDefaults": {"hard": {"pods": 20}, "limitRange": {"max": {"cpu": "2"}}}})
    quota = effective_quota(project(), t)
    assert quota.hard == {"pods": "20"}
    assert quota.limit_range == {"max": {"cpu": "2"}}


def test_project_quota_replaces_the_tenant_defaults_section_by_section() -> None:
    t = tenant(quota={"projectDefaults": {"hard": {"pods": "20"}, "limitRange": {"max": {"cpu": "2"}}}})
    quota = effective_quota(project(quota={"hard": {"requests.cpu": "4"}}), t)
    assert quota.hard == {"requests.cpu": "4"}
    assert quota.limit_range == {"max": {"cpu": "2"}}, "limitRange still comes from the tenant"


def test_ingress_policy_is_default_deny_with_own_namespace_and_ingress_controller() -> None:
    policy = children()["NetworkPolicy/kubeop-ingress"]["spec"]
    assert policy["podSelector"] == {}
    assert policy["policyTypes"] == ["Ingress"]
    assert policy["ingress"] == [
        {
            "from": [
                {"podSelector": {}},
                {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}},
            ]
        }
    ]


def test_intra_tenant_traffic_and_a_tenants_ingress_namespace() -> None:
    t = tenant(networkIsolation={"allowIntraTenant": True, "ingressControllerNamespace": "traefik"})
    built = children(t=t)
    peers = built["NetworkPolicy/kubeop-ingress"]["spec"]["ingress"][0]["from"]
    assert {"namespaceSelector": {"matchLabels": {"app.kubeop.io/tenant": "acme"}}} in peers
    assert {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "traefik"}}} in peers
    egress = built["NetworkPolicy/kubeop-egress"]["spec"]["egress"]
    assert {"to": [{"namespaceSelector": {"matchLabels": {"app.kubeop.io/tenant": "acme"}}}]} in egress


def test_egress_allows_own_namespace_dns_baseline_and_policy_cidrs_only() -> None:
    policies = [
        {"metadata": {"name": "p1"}, "spec": {"egressAllowCIDRs": ["192.168.1.7/24", "not-a-cidr", "10.0.0.0/8"]}},
        {"metadata": {"name": "gone", "deletionTimestamp": NOW}, "spec": {"egressAllowCIDRs": ["1.1.1.1/32"]}},
    ]
    settings = policy_from_configmap_data(None, {"KUBEOP_EGRESS_BASELINE": "10.0.0.0/8, 172.16.0.0/12"})
    egress = children(policies=policies, settings=settings)["NetworkPolicy/kubeop-egress"]["spec"]
    assert egress["policyTypes"] == ["Egress"]
    assert egress["egress"] == [
        {"to": [{"podSelector": {}}]},
        {
            "to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}}}],
            "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
        },
        {
            "to": [
                {"ipBlock": {"cidr": "10.0.0.0/8"}},
                {"ipBlock": {"cidr": "172.16.0.0/12"}},
                {"ipBlock": {"cidr": "192.168.1.0/24"}},
            ]
        },
    ]


def test_egress_without_baseline_or_policies_has_no_ip_blocks() -> None:
    egress = children()["NetworkPolicy/kubeop-egress"]["spec"]["egress"]
    assert all("ipBlock" not in json.dumps(rule) for rule in egress)


def test_owners_get_the_tenant_admin_role_binding() -> None:
    t = tenant(
        owners=[
            {"kind": "User", "name": "alice"},
            {"kind": "Group", "name": "acme-admins"},
            {"kind": "ServiceAccount", "name": "system:serviceaccount:ci:deployer"},
        ]
    )
    binding = children(t=t)["RoleBinding/tenantgate-owners"]
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": "tenantgate-tenant-admin",
    }
    assert binding["subjects"] == [
        {"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "alice"},
        {"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": "acme-admins"},
        {"kind": "ServiceAccount", "name": "deployer", "namespace": "ci"},
    ]


def test_malformed_owners_are_skipped_and_no_owners_means_no_binding() -> None:
    assert (
        owner_subjects(
            tenant(
                owners=[
                    {"kind": "ServiceAccount", "name": "deployer"},
                    {"kind": "ServiceAccount", "name": "system:serviceaccount:ci"},
                    {"kind": "Robot", "name": "r"},
                    {"kind": "User", "name": ""},
                ]
            )
        )
        == []
    )
    assert "RoleBinding/tenantgate-owners" not in children()


def test_a_short_service_account_owner_is_bound_as_admission_knows_it() -> None:
    subjects = owner_subjects(tenant(owners=[{"kind": "ServiceAccount", "name": "ci:deployer"}]))
    assert subjects == [{"kind": "ServiceAccount", "name": "deployer", "namespace": "ci"}]
    rules = parse_tenant(tenant(owners=[{"kind": "ServiceAccount", "name": "ci:deployer"}]))
    assert rules.owner_service_accounts == frozenset({"system:serviceaccount:ci:deployer"})


def test_builders_are_deterministic() -> None:
    assert children() == children()


def test_project_status_keeps_kubeop_fields_and_the_ready_condition() -> None:
    status = project_status(project(), "kubeop-acme-web", True, "Bootstrapped", "Project namespace ready", NOW)
    assert status["namespace"] == "kubeop-acme-web"
    assert status["ready"] is True
    assert status["conditions"][0]["observedGeneration"] == 2


def test_finalizer_only_deletes_namespaces_this_project_built() -> None:
    namespaces = [
        {"metadata": {"name": "mine", "labels": {"tenantgate.io/owner": "p"}}},
        {"metadata": {"name": "other", "labels": {"tenantgate.io/owner": "q"}}},
        {"metadata": {"name": "hand-made", "labels": {"app.kubeop.io/tenant": "acme"}}},
    ]
    assert [n["metadata"]["name"] for n in owned_namespaces(namespaces, "p")] == ["mine"]
    assert owned_namespaces(namespaces, "") == []


def test_a_policy_for_another_tenant_does_not_reach_this_projects_egress() -> None:
    policies = [
        {"metadata": {"name": "all"}, "spec": {"egressAllowCIDRs": ["10.0.0.0/8"]}},
        {
            "metadata": {"name": "globex", "labels": {"app.kubeop.io/tenant": "globex"}},
            "spec": {"egressAllowCIDRs": ["203.0.113.0/24"]},
        },
    ]
    egress = children(policies=policies)["NetworkPolicy/kubeop-egress"]["spec"]["egress"]
    assert egress[-1] == {"to": [{"ipBlock": {"cidr": "10.0.0.0/8"}}]}


# ---- Tenant ------------------------------------------------------------------------------------------------


def test_usage_adds_up_quota_status_across_namespaces() -> None:
    quotas = [
        {
            "status": {
                "hard": {"pods": "10", "requests.cpu": "1", "requests.memory": "1Gi"},
                "used": {"pods": "2", "requests.cpu": "250m", "requests.memory": "512Mi"},
            }
        },
        {
            "status": {
                "hard": {"pods": "10", "requests.cpu": "500m", "requests.memory": "1Gi"},
                "used": {"pods": "1", "requests.cpu": "250m", "requests.memory": "512Mi"},
            }
        },
        {},
    ]
    assert usage_summary(quotas) == {
        "hard": {"pods": "20", "requests.cpu": "1500m", "requests.memory": "2Gi"},
        "used": {"pods": "3", "requests.cpu": "500m", "requests.memory": "1Gi"},
    }
    assert sum_resources([{"cpu": "garbage"}]) == {}


def test_tenant_status_is_filtered_to_the_schema() -> None:
    status = tenant_status(tenant(), ["web"], ["kubeop-acme-web"], {"hard": {}, "used": {}}, NOW)
    assert status["ready"] is True
    assert status["namespaces"] == ["kubeop-acme-web"]
    assert status["conditions"][0]["reason"] == "Bootstrapped"
    assert set(status) <= {"ready", "conditions", "namespaces", "projects", "usage"}
    assert schema_status("paas.kubeop.io/v1alpha1", "Tenant", {"surely-not-in-schema": 1}) == {}


# ---- Registry ----------------------------------------------------------------------------------------------


def registry(**metadata: Any) -> dict[str, Any]:
    return {
        "apiVersion": "paas.kubeop.io/v1alpha1",
        "kind": "Registry",
        "metadata": {"name": "ghcr", "uid": "r", **metadata},
        "spec": {"host": "ghcr.io", "username": "bot", "passwordRef": "vault/ghcr-bot"},
    }


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("ghcr-bot", PasswordRef(None, "ghcr-bot", "password")),
        ("vault/ghcr-bot", PasswordRef("vault", "ghcr-bot", "password")),
        ("vault/ghcr-bot#token", PasswordRef("vault", "ghcr-bot", "token")),
    ],
)
def test_password_ref_forms(ref: str, expected: PasswordRef) -> None:
    assert parse_password_ref(ref) == expected


@pytest.mark.parametrize(
    ("ref", "problem"),
    [
        ("kubeop-acme-web/ghcr-bot", None),
        ("kubeop-acme-web/ghcr-bot#token", None),
        ("ghcr-bot", 'spec.passwordRef "ghcr-bot" names no namespace; write <namespace>/ghcr-bot with a namespace'),
        ("tenantgate-system/tenantgate-webhook-tls#tls.key", 'namespace "tenantgate-system" is not a namespace of'),
        ("kubeop-globex-shop/ghcr-bot", 'namespace "kubeop-globex-shop" is not a namespace of tenant "acme"'),
    ],
)
def test_registry_reads_a_password_only_inside_its_tenant(ref: str, problem: str | None) -> None:
    found = password_ref_problem(ref, "acme", ["kubeop-acme-web", "kubeop-acme-api"])
    if problem is None:
        assert found is None
    else:
        assert found is not None
        assert problem in found


def test_pull_secret_per_namespace_holds_docker_config_json() -> None:
    secrets = desired_pull_secrets(registry(), ["b", "a", "a"], "s3cret")
    assert [s["metadata"]["namespace"] for s in secrets] == ["a", "b"]
    secret = secrets[0]
    assert secret["type"] == "kubernetes.io/dockerconfigjson"
    assert secret["metadata"]["name"] == pull_secret_name("ghcr") == "kubeop-registry-ghcr"
    config = json.loads(base64.b64decode(secret["data"][".dockerconfigjson"]))
    assert config["auths"]["ghcr.io"]["auth"] == base64.b64encode(b"bot:s3cret").decode()


def test_registry_tenant_comes_from_its_label() -> None:
    assert registry_tenant(registry(labels={"app.kubeop.io/tenant": "acme"})) == "acme"
    assert registry_tenant(registry()) == ""


def test_attach_appends_without_touching_other_entries() -> None:
    account = {"metadata": {"resourceVersion": "5"}, "imagePullSecrets": [{"name": "theirs"}]}
    patch = attach_patch(account, "kubeop-registry-ghcr")
    assert patch is not None
    patched = jsonpatch.apply_patch(account, patch)
    assert patched["imagePullSecrets"] == [{"name": "theirs"}, {"name": "kubeop-registry-ghcr"}]
    assert attach_patch(patched, "kubeop-registry-ghcr") is None


def test_attach_to_an_account_without_pull_secrets_is_guarded_by_its_version() -> None:
    account = {"metadata": {"resourceVersion": "5"}}
    patch = attach_patch(account, "x")
    assert patch is not None
    assert patch[0] == {"op": "test", "path": "/metadata/resourceVersion", "value": "5"}
    assert jsonpatch.apply_patch(account, patch)["imagePullSecrets"] == [{"name": "x"}]


def test_detach_removes_only_our_entries() -> None:
    account = {"imagePullSecrets": [{"name": "x"}, {"name": "theirs"}, {"name": "x"}]}
    patch = detach_patch(account, "x")
    assert patch is not None
    assert jsonpatch.apply_patch(account, patch)["imagePullSecrets"] == [{"name": "theirs"}]
    assert detach_patch({"imagePullSecrets": [{"name": "theirs"}]}, "x") is None
    assert detach_patch({}, "x") is None


# ---- Policy ------------------------------------------------------------------------------------------------


def test_policy_reports_invalid_cidrs_by_path() -> None:
    policy = {"metadata": {"name": "p", "generation": 1}, "spec": {"egressAllowCIDRs": ["10.0.0.0/8", "nope"]}}
    assert invalid_cidrs(policy) == ['spec.egressAllowCIDRs[1] "nope"']
    status = policy_status(policy, 3, NOW)
    assert status["conditions"][0]["status"] == "False"
    assert status["conditions"][0]["reason"] == "InvalidCIDR"


def test_valid_policy_reports_its_reach() -> None:
    policy = {"metadata": {"name": "p", "generation": 1}, "spec": {"egressAllowCIDRs": ["10.0.0.0/8"]}}
    [ready] = policy_status(policy, 3, NOW)["conditions"]
    assert ready["status"] == "True"
    assert "3 project namespace(s)" in ready["message"]


def test_a_resource_the_tenant_bounds_is_never_left_unbounded_in_a_project_namespace() -> None:
    t = tenant(
        quota={
            "hard": {"requests.cpu": "8", "requests.memory": "16Gi", "count/secrets": "50"},
            "projectDefaults": {"hard": {"requests.cpu": "2", "requests.memory": "2Gi"}},
        }
    )
    quota = effective_quota(project(quota={"hard": {"cpu": "4"}}), t)
    assert quota.hard == {"cpu": "4", "requests.memory": "2Gi", "count/secrets": "0"}


def test_defaults_omitting_a_bounded_resource_are_filled_from_the_platform_default() -> None:
    t = tenant(quota={"hard": {"requests.cpu": "8", "pods": "40"}, "projectDefaults": {"hard": {"requests.cpu": "1"}}})
    assert effective_quota(project(), t).hard == {"requests.cpu": "1", "pods": "10"}


def test_a_negative_quantity_stored_earlier_is_built_as_zero() -> None:
    quota = effective_quota(project(quota={"hard": {"requests.cpu": "-8", "pods": -1}}), tenant())
    assert quota.hard == {"requests.cpu": "0", "pods": "0"}
