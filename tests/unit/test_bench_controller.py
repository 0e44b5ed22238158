"""The pure pieces of the controller convergence benchmark: when it is converged, and what the limit applies."""

from __future__ import annotations

import importlib
from typing import Any

controller = importlib.import_module("bench.controller")

READY = {"revision": "abc", "conditions": [{"type": "Ready", "status": "False"}]}


def app(name: str, status: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"metadata": {"name": name}, **({"status": status} if status is not None else {})}


def children(*names: str) -> dict[str, set[str]]:
    return {kind: set(names) for kind in ("Deployment", "Service", "Ingress")}


def test_converged_needs_every_app_every_child_and_every_status() -> None:
    assert controller.converged([app("a", READY), app("b", READY)], children("app-a", "app-b"), 2)
    assert not controller.converged([app("a", READY)], children("app-a", "app-b"), 2)  # an App not listed yet
    assert not controller.converged([app("a", READY), app("b")], children("app-a", "app-b"), 2)  # no status
    assert not controller.converged([app("a", {"revision": "abc"})], children("app-a"), 1)  # no Ready condition
    partial = children("app-a")
    partial["Ingress"] = set()
    assert not controller.converged([app("a", READY)], partial, 1)


def test_as_applied_keeps_what_an_apply_sends_into_the_other_namespace() -> None:
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": "app-a",
            "namespace": "kubeop-acme-web",
            "labels": {"app": "a"},
            "annotations": {"deployment.kubernetes.io/revision": "1", "kubeop.io/revision": "abc"},
            "uid": "1",
            "resourceVersion": "9",
            "ownerReferences": [{"kind": "App", "name": "a"}],
            "managedFields": [{}],
        },
        "spec": {"clusterIP": "10.0.0.9", "clusterIPs": ["10.0.0.9"], "ports": [{"port": 80}]},
        "status": {"loadBalancer": {}},
    }
    assert controller.as_applied(service, "kubeop-acme-limit") == {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": "app-a",
            "labels": {"app": "a"},
            "annotations": {"kubeop.io/revision": "abc"},
            "namespace": "kubeop-acme-limit",
        },
        "spec": {"ports": [{"port": 80}]},
    }
    assert service["spec"]["clusterIP"] == "10.0.0.9"  # the original is left alone
    assert "deployment.kubernetes.io/revision" in service["metadata"]["annotations"]
