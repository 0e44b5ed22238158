"""A Project's namespace: one builder of its name and labels for admission, the controller and offline review."""

from __future__ import annotations

import pytest

from tenancy.labels import PROJECT_LABEL, TENANT_LABEL
from tenancy.namespaces import project_namespace_name, project_namespace_object, sanitize_dns_label

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("tenant", "name", "namespace"),
    [
        ("acme", "web", "kubeop-acme-web"),
        ("acme", "Demo Project", "kubeop-acme-demo-project"),
        ("Acme_Corp", "--api--", "kubeop-acme-corp-api"),
    ],
)
def test_project_namespace_is_sanitised(tenant: str, name: str, namespace: str) -> None:
    assert project_namespace_name(tenant, name) == namespace


@pytest.mark.parametrize(
    ("tenant", "name", "message"),
    [
        ("acme", "!!!", "has no letter or digit"),
        ("acme", "x" * 60, r"shorten spec.name by 9 characters \(to at most 51\)"),
    ],
)
def test_project_namespace_that_cannot_be_valid_is_refused(tenant: str, name: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        project_namespace_name(tenant, name)


def test_sanitize_keeps_valid_labels_unchanged() -> None:
    assert sanitize_dns_label("web-1") == "web-1"


def test_namespace_object_carries_the_tenancy_labels_read_back_by_admission() -> None:
    namespace = project_namespace_object("Acme", "Demo Project")
    assert namespace["metadata"]["name"] == "kubeop-acme-demo-project"
    labels = namespace["metadata"]["labels"]
    assert {k: v for k, v in labels.items() if not k.startswith("pod-security.")} == {
        TENANT_LABEL: "Acme",
        PROJECT_LABEL: "demo-project",
    }
    assert labels["pod-security.kubernetes.io/enforce"] == "baseline"
    restricted = project_namespace_object("Acme", "Demo Project", "restricted")["metadata"]["labels"]
    assert restricted["pod-security.kubernetes.io/enforce"] == "restricted"
