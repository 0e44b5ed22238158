"""Usage arithmetic: what a pod and a claim count for, as quota admission counts them, and the Tenant's status."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import pytest

from controller.reconcilers.tenant import export_usage, project_namespaces, usage_status
from controller.usage import (
    counted_fields_changed,
    namespace_usage,
    pod_usage,
    render_usage,
    trim_claim,
    trim_pod,
)
from kube.prometheus import Gauge

pytestmark = pytest.mark.unit


def container(requests: dict[str, str] | None = None, limits: dict[str, str] | None = None, **extra: Any) -> Any:
    resources = {k: v for k, v in (("requests", requests), ("limits", limits)) if v}
    return {"name": "c", "image": "nginx", "resources": resources, **extra}


def pod(*containers: Any, inits: tuple[Any, ...] = (), phase: str = "Pending", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": "ns", "uid": "u", "resourceVersion": "7", "labels": {"a": "b"}},
        "spec": {"containers": list(containers), "initContainers": list(inits), "nodeName": "n", **spec},
        "status": {"phase": phase, "conditions": [{"type": "Ready"}], "podIP": "10.0.0.1"},
    }


def test_a_pod_sums_its_containers() -> None:
    found = pod_usage(pod(container({"cpu": "100m", "memory": "64Mi"}, {"cpu": "500m", "memory": "256Mi"}),
                          container({"cpu": "250m"}, {"cpu": "1"})))  # fmt: skip
    assert found == {
        "requests.cpu": Fraction(35, 100),
        "requests.memory": 64 * 2**20,
        "limits.cpu": Fraction(3, 2),
        "limits.memory": 256 * 2**20,
    }


def test_an_init_container_counts_when_it_needs_more_than_the_containers() -> None:
    big_init = container({"cpu": "2", "memory": "1Gi"})
    found = pod_usage(pod(container({"cpu": "100m", "memory": "2Gi"}), inits=(big_init,)))
    assert found["requests.cpu"] == 2
    assert found["requests.memory"] == 2 * 2**30


def test_sidecars_keep_running_and_overhead_adds() -> None:
    sidecar = container({"cpu": "100m"}, restartPolicy="Always")
    found = pod_usage(pod(container({"cpu": "200m"}), inits=(sidecar,), overhead={"cpu": "50m", "memory": "10Mi"}))
    assert found["requests.cpu"] == Fraction(35, 100)
    assert found["requests.memory"] == 10 * 2**20


def test_a_namespace_counts_unfinished_pods_and_claims() -> None:
    pods = [
        pod(container({"cpu": "1", "memory": "1Gi"}), phase="Pending"),
        pod(container({"cpu": "1", "memory": "1Gi"}), phase="Running"),
        pod(container({"cpu": "8"}), phase="Succeeded"),
        pod(container({"cpu": "8"}), phase="Failed"),
    ]
    claims = [
        {"spec": {"resources": {"requests": {"storage": "5Gi"}}}},
        {"spec": {"resources": {"requests": {"storage": "500Mi"}}}},
        {"spec": {}},
    ]
    assert render_usage(namespace_usage(pods, claims)) == {
        "requests.cpu": "2",
        "limits.cpu": "0",
        "requests.memory": "2Gi",
        "limits.memory": "0",
        "requests.storage": "5620Mi",
        "pods": "2",
    }


def test_trimmed_objects_count_the_same_and_keep_only_what_is_counted() -> None:
    full = pod(container({"cpu": "100m"}, {"memory": "1Gi"}, env=[{"name": "X", "value": "y" * 1000}]),
               inits=(container({"cpu": "1"}, restartPolicy="Always"),), overhead={"cpu": "10m"})  # fmt: skip
    trimmed = trim_pod(full)
    assert pod_usage(trimmed) == pod_usage(full)
    assert trimmed["metadata"] == {"name": "p", "namespace": "ns", "uid": "u", "resourceVersion": "7"}
    assert trimmed["status"] == {"phase": "Pending"}
    assert "env" not in str(trimmed)
    assert "nodeName" not in trimmed["spec"]
    claim = {"metadata": {"name": "c", "namespace": "ns"}, "spec": {"resources": {"requests": {"storage": "1Gi"}},
             "storageClassName": "x"}, "status": {"phase": "Bound"}}  # fmt: skip
    assert trim_claim(claim)["spec"] == {"resources": {"requests": {"storage": "1Gi"}}}
    assert namespace_usage([], [trim_claim(claim)])["requests.storage"] == 2**30


def test_only_counted_changes_wake_the_tenant() -> None:
    a = trim_pod(pod(container({"cpu": "1"})))
    b = {**a, "metadata": {**a["metadata"], "resourceVersion": "8"}}
    assert not counted_fields_changed(a, b)
    assert counted_fields_changed(a, trim_pod(pod(container({"cpu": "1"}), phase="Succeeded")))
    assert counted_fields_changed(None, a)
    assert counted_fields_changed(a, None)


def test_usage_status_and_gauges() -> None:
    projects = [
        {"metadata": {"name": "acme-web"}, "spec": {"name": "web"}, "status": {"namespace": "kubeop-acme-web"}},
        {"metadata": {"name": "acme-api"}, "spec": {"name": "API"}},
    ]
    namespaces = project_namespaces("acme", projects)
    assert namespaces == {"acme-api": "kubeop-acme-api", "acme-web": "kubeop-acme-web"}
    per_project = {
        "acme-api": namespace_usage([pod(container({"cpu": "500m"}))], []),
        "acme-web": namespace_usage([pod(container({"cpu": "250m", "memory": "1Gi"}))] * 2, []),
    }
    status = usage_status(namespaces, per_project)
    assert status["total"]["requests.cpu"] == "1"
    assert status["total"]["requests.memory"] == "2Gi"
    assert status["total"]["pods"] == "3"
    assert status["projects"][1] == {
        "project": "acme-web",
        "namespace": "kubeop-acme-web",
        "resources": {"requests.cpu": "500m", "limits.cpu": "0", "requests.memory": "2Gi", "limits.memory": "0",
                      "requests.storage": "0", "pods": "2"},
    }  # fmt: skip
    gauge = Gauge("tenantgate_tenant_usage", "h", ("tenant", "project", "resource"))
    gauge.set("acme", "gone", "pods", value=4)
    gauge.set("deleted-tenant", "x", "pods", value=1)
    gauge.set("globex", "shop", "pods", value=1)
    export_usage(gauge, "acme", per_project, ["acme", "globex"])
    assert gauge.get("acme", "acme-web", "requests.memory") == 2 * 2**30
    assert gauge.get("acme", "acme-web", "requests.cpu") == 0.5
    assert ("acme", "gone", "pods") not in gauge.values
    assert ("deleted-tenant", "x", "pods") not in gauge.values
    assert gauge.get("globex", "shop", "pods") == 1
