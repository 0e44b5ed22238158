"""App builders against kubeOP's controller tests and its Image path, plus the Flux delivery of Helm and Git."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from controller.reconcilers import app as a

pytestmark = pytest.mark.unit

NOW = "2024-01-01T00:00:00Z"


def make_app(name: str = "web", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "paas.kubeop.io/v1alpha1",
        "kind": "App",
        "metadata": {"name": name, "namespace": "kubeop-acme-web", "generation": 2},
        "spec": {"type": "Image", "image": "nginx:1.25", **spec},
    }


def kinds(children: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {c["kind"]: c for c in children}


def test_revision_differs_per_image_and_is_12_hex() -> None:
    first, second = a.image_revision("nginx:1.25"), a.image_revision("nginx:1.26")
    assert first
    assert first != second
    assert len(first) == 12
    int(first, 16)
    assert first == hashlib.sha1(b"nginx:1.25").hexdigest()[:12]


def test_image_deployment_shape() -> None:
    deployment = a.deployment(make_app())
    revision = a.image_revision("nginx:1.25")
    assert deployment["metadata"]["name"] == "app-web"
    assert deployment["metadata"]["labels"] == {"app.kubeop.io/app": "web"}
    assert deployment["metadata"]["annotations"] == {"kubeop.io/revision": revision}
    assert deployment["spec"]["selector"] == {"matchLabels": {"app.kubeop.io/app": "web"}}
    template = deployment["spec"]["template"]
    assert template["metadata"] == {
        "labels": {"app.kubeop.io/app": "web"},
        "annotations": {"kubeop.io/revision": revision},
    }
    [container] = template["spec"]["containers"]
    assert (container["name"], container["image"]) == ("app", "nginx:1.25")
    assert container["ports"] == [{"containerPort": 80, "protocol": "TCP"}]
    assert deployment["spec"]["replicas"] == 1


def test_replicas_and_port_from_spec() -> None:
    deployment = a.deployment(make_app(replicas=3, port=8080))
    assert deployment["spec"]["replicas"] == 3
    assert deployment["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] == 8080


def test_service_always_and_ingress_with_host() -> None:
    assert set(kinds(a.desired_children(make_app()))) == {"Deployment", "Service"}
    children = kinds(a.desired_children(make_app(host="web.acme.example", port=8080)))
    assert children["Service"]["spec"]["ports"] == [
        {"name": "http", "port": 8080, "targetPort": 8080, "protocol": "TCP"}
    ]
    rule = children["Ingress"]["spec"]["rules"][0]
    assert rule["host"] == "web.acme.example"
    assert rule["http"]["paths"][0]["backend"]["service"] == {"name": "app-web", "port": {"number": 8080}}


def test_helm_app_becomes_flux_repository_and_release() -> None:
    app = make_app(
        type="Helm",
        image=None,
        helm={
            "chart": "https://stefanprodan.github.io/podinfo/podinfo",
            "version": "6.5.0",
            "values": "replicaCount: 2\n",
        },
    )
    children = kinds(a.desired_children(app))
    assert children["HelmRepository"]["apiVersion"] == "source.toolkit.fluxcd.io/v1"
    assert children["HelmRepository"]["spec"]["url"] == "https://stefanprodan.github.io/podinfo"
    release = children["HelmRelease"]
    assert release["apiVersion"] == "helm.toolkit.fluxcd.io/v2"
    assert release["spec"]["chart"]["spec"] == {
        "chart": "podinfo",
        "version": "6.5.0",
        "sourceRef": {"kind": "HelmRepository", "name": "app-web"},
    }
    assert release["spec"]["values"] == {"replicaCount": 2}
    assert release["spec"]["targetNamespace"] == "kubeop-acme-web"


def test_oci_chart_repository() -> None:
    assert a.helm_source("oci://ghcr.io/acme/charts/web") == ("oci://ghcr.io/acme/charts", "oci", "web")


def test_git_app_becomes_flux_repository_and_kustomization() -> None:
    app = make_app(type="Git", image=None, git={"repo": "https://github.com/acme/web", "ref": "main", "path": "deploy"})
    children = kinds(a.desired_children(app))
    assert children["GitRepository"]["spec"]["ref"] == {"branch": "main"}
    kustomization = children["Kustomization"]
    assert kustomization["apiVersion"] == "kustomize.toolkit.fluxcd.io/v1"
    assert kustomization["spec"]["path"] == "deploy"
    assert kustomization["spec"]["sourceRef"] == {"kind": "GitRepository", "name": "app-web"}


@pytest.mark.parametrize(
    ("ref", "expected"),
    [("main", {"branch": "main"}), ("refs/tags/v1.2", {"tag": "v1.2"}), ("a" * 40, {"commit": "a" * 40})],
)
def test_git_references(ref: str, expected: dict[str, str]) -> None:
    assert a.git_reference(ref) == expected


def test_raw_builds_nothing_and_says_so() -> None:
    assert a.desired_children(make_app(type="Raw", image=None, rawManifests="kind: ConfigMap")) == []


@pytest.mark.parametrize(("available", "ready"), [(None, False), (0, False), (1, True), (3, True)])
def test_image_readiness(available: int | None, ready: bool) -> None:
    live = {"status": {} if available is None else {"availableReplicas": available}}
    result = a.deployment_readiness(live)
    assert result.ready is ready
    assert result.reason == ("Converged" if ready else "Progressing")


def test_flux_readiness_passes_the_message_on() -> None:
    live = {"status": {"conditions": [{"type": "Ready", "status": "False", "message": "chart pull failed"}]}}
    assert a.flux_readiness(live, "HelmRelease") == a.Readiness(False, "Progressing", "chart pull failed")
    live["status"]["conditions"][0]["status"] = "True"
    assert a.flux_readiness(live, "HelmRelease").ready is True
    assert a.flux_readiness(None, "Kustomization").ready is False


def test_status_has_revision_ready_and_condition() -> None:
    status = a.app_status(make_app(), a.Readiness(True, "Converged", "App reconciled"), NOW)
    assert status["revision"] == a.image_revision("nginx:1.25")
    assert status["ready"] is True
    [condition] = status["conditions"]
    assert (condition["type"], condition["status"], condition["reason"], condition["observedGeneration"]) == (
        "Ready",
        "True",
        "Converged",
        2,
    )
