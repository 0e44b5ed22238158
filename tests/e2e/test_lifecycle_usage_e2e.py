"""Lifecycle events and usage on the real control plane, through `tenantgate controller`.

Two HTTPS receivers (trustme, the controller trusting their CA through `TENANTGATE_EVENTS_CA_FILE`) verify every
delivery with the receiver example of docs/controller.md; one of them fails each delivery three times. Usage is
checked against the pods and claims the test creates (no kubelet: pods stay Pending and still count, as they do
for quota) and against the ResourceQuota `status.used` the kube-controller-manager maintains.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
import trustme

from tenantgate.devcluster import ControlPlane
from tests.conftest import unique
from tests.e2e.test_controller_support import (
    LEASE_NAMESPACE,
    TENANTGATE,
    ControllerProcess,
    apply,
    eventually,
    get_json,
    install_platform,
    project,
    tenant,
)
from tests.event_receiver import EventReceiver

pytestmark = pytest.mark.e2e

KEY = b"e2e-lifecycle-hmac-key"


@pytest.fixture(scope="module")
def receivers() -> Iterator[tuple[EventReceiver, EventReceiver, trustme.CA]]:
    ca = trustme.CA()
    with EventReceiver(KEY, ca) as steady, EventReceiver(KEY, ca, fail_first=3) as flaky:
        yield steady, flaky, ca


@pytest.fixture(scope="module")
def controller(
    cluster: ControlPlane,
    receivers: tuple[EventReceiver, EventReceiver, trustme.CA],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ControllerProcess]:
    install_platform(cluster, LEASE_NAMESPACE)
    directory = tmp_path_factory.mktemp("lifecycle")
    ca_file = receivers[0].write_ca(directory / "receivers-ca.pem")
    process = ControllerProcess(
        cluster,
        LEASE_NAMESPACE,
        unique("lifecycle"),
        directory,
        extra_env={
            "TENANTGATE_EVENTS_CA_FILE": str(ca_file),
            "TENANTGATE_EVENTS_RETRY_BASE": "0.3",
            "TENANTGATE_RECONCILERS": "tenant,project,app",
        },
    )
    process.start()
    eventually(process.is_leader, timeout=60, what="leadership")
    yield process
    code = process.stop()
    assert code == 0, process.log_tail()


def signing_secret(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": LEASE_NAMESPACE},
        "data": {"hmac-key": base64.b64encode(KEY).decode()},
    }


def events_for(receiver: EventReceiver, tenant_name: str) -> list[dict[str, Any]]:
    return [a.event for a in receiver.accepted() if a.event is not None and a.event["tenant"] == tenant_name]


def test_deliveries_arrive_signed_in_order_and_retries_resend_the_same_delivery(
    cluster: ControlPlane,
    controller: ControllerProcess,
    receivers: tuple[EventReceiver, EventReceiver, trustme.CA],
) -> None:
    steady, flaky, _ = receivers
    name, secret = unique("evt"), unique("evt-key")
    apply(cluster, signing_secret(secret))
    hooks = [
        {"url": steady.url, "secretRef": {"name": secret}},
        {"url": flaky.url, "secretRef": {"name": secret}, "events": ["project.ready"]},
    ]
    apply(cluster, tenant(name, eventWebhooks=hooks), project(f"web-{name}", name, "web"))

    ready = eventually(lambda: events_for(steady, name), what="project.ready at the steady receiver")
    assert [e["type"] for e in ready] == ["project.ready"]
    event = ready[0]
    assert event["object"]["kind"] == "Project"
    assert event["object"]["name"] == f"web-{name}"
    assert event["data"]["namespace"] == f"kubeop-{name}-web"
    [attempt] = [a for a in steady.accepted() if a.delivery_id == event["id"]]
    assert attempt.headers["X-KubeOP-Event"] == "project.ready"
    assert attempt.headers["X-KubeOP-Signature"].startswith("sha256=")

    # The flaky receiver answered 503 three times; the fourth attempt carries the same body and delivery id.
    flaky_ready = eventually(lambda: events_for(flaky, name), timeout=90, what="project.ready after three failures")
    attempts = flaky.of(flaky_ready[0]["id"])
    assert [a.status for a in attempts] == [503, 503, 503, 200]
    assert len({a.body for a in attempts}) == 1
    assert len({a.headers["X-KubeOP-Signature"] for a in attempts}) == 1

    # Deleting the Project: project.deleted follows project.ready for the same object, and only where wanted.
    cluster.kubectl("delete", "project", f"web-{name}", "--wait=false")
    both = eventually(lambda: len(e := events_for(steady, name)) >= 2 and e, timeout=120, what="project.deleted")
    assert [e["type"] for e in both] == ["project.ready", "project.deleted"]
    assert both[0]["timestamp"] <= both[1]["timestamp"]
    assert [e["type"] for e in events_for(flaky, name)] == ["project.ready"]

    # A reconcile that changes nothing emits nothing: the Tenant still reconciles, no further events.
    apply(cluster, tenant(name, eventWebhooks=hooks, maxProjects=3))
    eventually(lambda: controller.sum_metric("tenantgate_lifecycle_events_pending") == 0, what="queue drained")
    assert len(events_for(steady, name)) == 2
    assert controller.sum_metric("tenantgate_lifecycle_events_retries_total") >= 3
    assert controller.sum_metric("tenantgate_lifecycle_events_sent_total") >= 3
    log = controller.log_path.read_text()
    assert KEY.decode() not in log
    assert steady.url not in log
    assert flaky.url not in log
    cluster.kubectl("delete", "tenant", name, "--wait=false", check=False)


def test_app_events_arrive_in_the_order_of_its_transitions(
    cluster: ControlPlane,
    controller: ControllerProcess,
    receivers: tuple[EventReceiver, EventReceiver, trustme.CA],
) -> None:
    steady = receivers[0]
    name, secret = unique("appevt"), unique("appevt-key")
    namespace = f"kubeop-{name}-web"
    apply(cluster, signing_secret(secret))
    hooks = [{"url": steady.url, "secretRef": {"name": secret}, "events": ["app.ready", "app.revision_changed"]}]
    apply(cluster, tenant(name, eventWebhooks=hooks), project(f"web-{name}", name, "web"))
    eventually(lambda: get_json(cluster, "namespace", namespace), what="project namespace")
    app = {
        "apiVersion": "paas.kubeop.io/v1alpha1",
        "kind": "App",
        "metadata": {"name": "web", "namespace": namespace},
        "spec": {"type": "Image", "image": "nginx:1.25"},
    }
    apply(cluster, app)
    eventually(lambda: get_json(cluster, "deployment", "app-web", "-n", namespace), what="the App's Deployment")
    available = json.dumps({"status": {"replicas": 1, "readyReplicas": 1, "availableReplicas": 1}})
    patch_status = ("patch", "deployment", "app-web", "-n", namespace, "--subresource=status", "--type=merge")
    cluster.kubectl(*patch_status, "-p", available)
    [ready] = eventually(lambda: events_for(steady, name), what="app.ready")
    assert ready["type"] == "app.ready"
    first_revision = ready["data"]["revision"]

    cluster.kubectl("patch", "app", "web", "-n", namespace, "--type=merge", "-p", '{"spec":{"image":"nginx:1.26"}}')
    both = eventually(lambda: len(e := events_for(steady, name)) >= 2 and e, what="app.revision_changed")
    assert [e["type"] for e in both][:2] == ["app.ready", "app.revision_changed"]
    assert both[1]["data"]["from"] == first_revision
    assert both[1]["data"]["to"] != first_revision
    assert {e["object"]["uid"] for e in both} == {ready["object"]["uid"]}
    cluster.kubectl("delete", "project", f"web-{name}", "--wait=false", check=False)
    cluster.kubectl("delete", "tenant", name, "--wait=false", check=False)


def pod(name: str, namespace: str, cpu: str, memory: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "containers": [
                {
                    "name": "app",
                    "image": "nginx:1.25",
                    "resources": {
                        "requests": {"cpu": cpu, "memory": memory},
                        "limits": {"cpu": cpu, "memory": memory},
                    },
                }
            ]
        },
    }


def claim(name: str, namespace: str, size: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}},
    }


def project_usage(cluster: ControlPlane, tenant_name: str, project_name: str) -> dict[str, str]:
    status = (get_json(cluster, "tenant", tenant_name) or {}).get("status") or {}
    for entry in (status.get("usage") or {}).get("projects") or []:
        if entry.get("project") == project_name:
            resources: dict[str, str] = entry.get("resources") or {}
            return resources
    return {}


def usage_cli(cluster: ControlPlane, *args: str) -> str:
    result = subprocess.run(
        [str(TENANTGATE), "usage", "--kubeconfig", str(cluster.kubeconfig), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_usage_matches_the_pods_claims_and_quota_of_a_project(
    cluster: ControlPlane, controller: ControllerProcess
) -> None:
    name = unique("use")
    project_name = f"web-{name}"
    namespace = f"kubeop-{name}-web"
    apply(cluster, tenant(name), project(project_name, name, "web"))
    eventually(lambda: get_json(cluster, "resourcequota", "kubeop-quota", "-n", namespace), what="project quota")
    apply(
        cluster,
        pod("a", namespace, "100m", "64Mi"),
        pod("b", namespace, "250m", "128Mi"),
        claim("data", namespace, "2Gi"),
    )
    expected = {
        "requests.cpu": "350m",
        "limits.cpu": "350m",
        "requests.memory": "192Mi",
        "limits.memory": "192Mi",
        "requests.storage": "2Gi",
        "pods": "2",
    }
    eventually(lambda: project_usage(cluster, name, project_name) == expected, what=f"usage {expected}")

    # The kube-controller-manager's own count agrees for what the quota tracks.
    def quota_used() -> dict[str, str]:
        quota = get_json(cluster, "resourcequota", "kubeop-quota", "-n", namespace) or {}
        used: dict[str, str] = (quota.get("status") or {}).get("used") or {}
        return used

    used = eventually(lambda: quota_used().get("pods") == "2" and quota_used(), what="quota status.used")
    assert used["requests.cpu"] == expected["requests.cpu"]
    assert used["requests.memory"] == expected["requests.memory"]

    gauge = controller.sum_metric(
        "tenantgate_tenant_usage",
        lambda labels: labels == {"tenant": name, "project": project_name, "resource": "requests.memory"},
    )
    assert gauge == 192 * 2**20

    rows = json.loads(usage_cli(cluster, "--tenant", name, "--output", "json"))
    assert rows == [{"tenant": name, "project": project_name, "namespace": namespace, **expected}]
    [csv_row] = list(csv.DictReader(io.StringIO(usage_cli(cluster, "--tenant", name, "-o", "csv"))))
    assert csv_row == rows[0]
    table = usage_cli(cluster, "--tenant", name).splitlines()
    assert table[1].split() == [name, project_name, namespace, "350m", "350m", "192Mi", "192Mi", "2Gi", "2"]

    cluster.kubectl("delete", "pod", "b", "-n", namespace, "--grace-period=0", "--force", "--wait=false")
    eventually(lambda: project_usage(cluster, name, project_name).get("pods") == "1", what="usage after a delete")
    assert project_usage(cluster, name, project_name)["requests.cpu"] == "100m"
    cluster.kubectl("delete", "project", project_name, "--wait=false", check=False)
    cluster.kubectl("delete", "tenant", name, "--wait=false", check=False)


def test_usage_of_an_unknown_tenant_is_an_error(cluster: ControlPlane, controller: ControllerProcess) -> None:
    result = subprocess.run(
        [str(TENANTGATE), "usage", "--kubeconfig", str(cluster.kubeconfig), "--tenant", unique("nobody")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "does not exist" in result.stderr
