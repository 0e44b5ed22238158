"""App `type: Raw`: parsing, forcing into the App's namespace, refusals, and the admission gate."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from admission.rules import build_registries
from admission.view import InMemoryClusterView
from controller.reconcilers import app as a
from controller.reconcilers import app_raw as r

pytestmark = pytest.mark.unit

NS = "kubeop-acme-web"
SCOPES: dict[tuple[str, str], bool | None] = {
    ("v1", "ConfigMap"): True,
    ("apps/v1", "Deployment"): True,
    ("v1", "Pod"): True,
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): False,
    ("rbac.authorization.k8s.io/v1", "Role"): True,
}


def configmap(name: str = "settings", **metadata: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, **metadata}, "data": {"a": "b"}}


def deployment(name: str = "api", image: str = "ghcr.io/acme/api:1.0", **security: Any) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "api", "image": image}
    if security:
        container["securityContext"] = security
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [container]}},
        },
    }


def dump(*docs: dict[str, Any]) -> str:
    return yaml.safe_dump_all(docs)


def test_parses_documents_and_skips_empty_ones() -> None:
    outcome = r.parse_manifests("---\n" + dump(configmap(), deployment()) + "---\n")
    assert outcome.problem is None
    assert [d["kind"] for d in outcome.documents] == ["ConfigMap", "Deployment"]


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("kind: [unclosed", "is not valid YAML"),
        ("- a\n- b\n", "document 0 is a list"),
        ("apiVersion: v1\nkind: ConfigMap\n", "needs apiVersion, kind and metadata.name"),
        (dump(configmap(), configmap()), "appears twice"),
    ],
)
def test_unusable_manifests_are_invalid(text: str, fragment: str) -> None:
    outcome = r.parse_manifests(text)
    assert outcome.problem is not None
    assert outcome.problem.reason == "InvalidManifests"
    assert fragment in outcome.problem.message
    assert outcome.documents == []


def test_namespace_is_forced_to_the_apps() -> None:
    outcome = r.scope_documents([configmap(), configmap("same", namespace=NS)], NS, SCOPES)
    assert outcome.problem is None
    assert [d["metadata"]["namespace"] for d in outcome.documents] == [NS, NS]


@pytest.mark.parametrize(
    ("doc", "fragment"),
    [
        (
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "x"}},
            "ClusterRole is cluster-scoped",
        ),
        (configmap(namespace="kube-system"), "metadata.namespace 'kube-system' is not the App's namespace"),
        (
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "x"}},
            "kind Role is not delivered by a Raw App",
        ),
        ({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "x"}}, "is not served"),
    ],
)
def test_refuses_documents_outside_the_namespace_or_the_supported_kinds(doc: dict[str, Any], fragment: str) -> None:
    outcome = r.scope_documents([configmap(), doc], NS, SCOPES)
    assert outcome.problem is not None
    assert outcome.problem.reason == "ManifestRefused"
    assert fragment in outcome.problem.message
    assert outcome.documents == []


def acme_view() -> InMemoryClusterView:
    return InMemoryClusterView.from_objects(
        [
            {
                "apiVersion": "paas.kubeop.io/v1alpha1",
                "kind": "Tenant",
                "metadata": {"name": "acme"},
                "spec": {
                    "name": "Acme",
                    "owners": [{"kind": "Group", "name": "acme-admins"}],
                    "allowedRegistries": {"exact": ["ghcr.io/acme", "docker.io/library"]},
                    "allowedDomains": ["*.acme.example"],
                },
            },
            {
                "apiVersion": "paas.kubeop.io/v1alpha1",
                "kind": "Project",
                "metadata": {"name": "web"},
                "spec": {"tenantRef": "acme", "name": "web"},
            },
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": NS, "labels": {"app.kubeop.io/tenant": "acme", "app.kubeop.io/project": "web"}},
            },
        ]
    )


def forced(*docs: dict[str, Any]) -> list[dict[str, Any]]:
    return r.scope_documents(list(docs), NS, SCOPES).documents


def test_admitted_documents_carry_the_admission_defaults_the_cluster_would_apply() -> None:
    outcome = r.admit_documents(forced(configmap(), deployment()), NS, acme_view(), build_registries())
    assert outcome.problem is None
    config, workload = outcome.documents
    assert workload["metadata"]["labels"]["app.kubeop.io/tenant"] == "acme"
    assert workload["metadata"]["labels"]["app.kubeop.io/project"] == "web"
    assert "app.kubeop.io/tenant" not in config["metadata"].get("labels", {}), "ConfigMaps are not routed"


@pytest.mark.parametrize(
    ("doc", "fragment"),
    [
        (deployment(privileged=True), "container api is privileged"),
        (deployment(image="evil.example/miner:1"), 'is not from an allowed registry of tenant "acme"'),
    ],
)
def test_any_denial_refuses_the_whole_revision(doc: dict[str, Any], fragment: str) -> None:
    outcome = r.admit_documents(forced(configmap(), doc), NS, acme_view(), build_registries())
    assert outcome.problem is not None
    assert outcome.problem.reason == "GuardrailDenied"
    assert outcome.problem.message.startswith("Deployment api: ")
    assert fragment in outcome.problem.message
    assert outcome.documents == []


def test_documents_are_reviewed_as_a_tenant_member_not_an_admin() -> None:
    user, groups = r.acting_identity(NS)
    assert user == f"system:serviceaccount:{NS}:default"
    assert "system:masters" not in groups
    assert f"system:serviceaccounts:{NS}" in groups


def test_raw_revision_is_the_sha1_of_the_manifests() -> None:
    app = {"metadata": {"name": "x"}, "spec": {"type": "Raw", "rawManifests": "a: b\n"}}
    assert a.revision_of(app) == a.image_revision("a: b\n")
    assert len(a.revision_of(app)) == 12


def test_every_raw_kind_is_pruned() -> None:
    assert set(r.RAW_KINDS) <= set(a.PRUNED_KINDS)


@pytest.mark.parametrize(
    ("applied", "ready"),
    [
        ([configmap()], True),
        ([deployment()], False),
        ([{**deployment(), "status": {"availableReplicas": 1}}], True),
        ([{**deployment(), "spec": {"replicas": 0}}], True),
    ],
)
def test_raw_readiness_waits_for_workloads(applied: list[dict[str, Any]], ready: bool) -> None:
    assert a.raw_readiness(applied).ready is ready
