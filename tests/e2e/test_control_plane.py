"""The local control plane behaves like a real cluster where the platform depends on it.

Each test checks something a fake API server would get wrong: RBAC aggregation, garbage collection,
namespace finalization, quota status, service-account creation, client-certificate identities.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable

import pytest

from tenantgate.devcluster import ControlPlane
from tenantgate.devcluster.build import HELM_VERSION, KUBERNETES_VERSION
from tests.conftest import unique

pytestmark = pytest.mark.e2e


def eventually(check: Callable[[], bool], timeout: float = 90, interval: float = 0.5) -> None:
    """Poll until `check()` holds; controllers in the control plane act asynchronously."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s: {check.__doc__ or check}")


def test_creates_namespace_and_configmap(cluster: ControlPlane, namespace: str) -> None:
    cluster.kubectl("create", "configmap", "greeting", "-n", namespace, "--from-literal=hello=world")
    got = json.loads(cluster.kubectl("get", "configmap", "greeting", "-n", namespace, "-o", "json").stdout)
    assert got["data"] == {"hello": "world"}


def test_user_without_rbac_is_forbidden_until_bound_to_edit(cluster: ControlPlane, namespace: str) -> None:
    user = unique("alice")
    denied = cluster.kubectl(
        "create", "configmap", "x", "-n", namespace, as_user=user, as_groups=["acme-admins"], check=False
    )
    assert denied.returncode != 0
    assert "forbidden" in denied.stderr
    cluster.kubectl("create", "rolebinding", "alice-edit", "-n", namespace, "--clusterrole=edit", f"--user={user}")

    def allowed() -> bool:
        """the aggregated `edit` ClusterRole lets the user create a ConfigMap"""
        result = cluster.kubectl(
            "create", "configmap", "x", "-n", namespace, as_user=user, as_groups=["acme-admins"], check=False
        )
        return result.returncode == 0

    eventually(allowed, timeout=30)


def test_child_of_deleted_owner_is_garbage_collected(cluster: ControlPlane, namespace: str) -> None:
    cluster.kubectl("create", "configmap", "owner", "-n", namespace)
    uid = cluster.kubectl("get", "configmap", "owner", "-n", namespace, "-o", "jsonpath={.metadata.uid}").stdout
    child = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "child",
            "namespace": namespace,
            "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": uid}],
        },
    }
    cluster.kubectl("apply", "-f", "-", stdin=json.dumps(child))
    cluster.kubectl("delete", "configmap", "owner", "-n", namespace)

    def child_gone() -> bool:
        """the garbage collector deleted the orphaned child"""
        got = cluster.kubectl("get", "configmap", "child", "-n", namespace, "--ignore-not-found", "-o", "name")
        return got.stdout.strip() == ""

    eventually(child_gone)


def test_deleted_namespace_finishes_terminating(cluster: ControlPlane) -> None:
    name = unique("doomed")
    cluster.kubectl("create", "namespace", name)
    cluster.kubectl("create", "configmap", "content", "-n", name)
    cluster.kubectl("delete", "namespace", name, "--wait=false")

    def gone() -> bool:
        """the namespace controller emptied and finalized the namespace"""
        return cluster.kubectl("get", "namespace", name, "--ignore-not-found", "-o", "name").stdout.strip() == ""

    eventually(gone)


def test_resource_quota_gets_status(cluster: ControlPlane, namespace: str) -> None:
    cluster.kubectl("create", "quota", "q", "-n", namespace, "--hard=pods=3,requests.cpu=1")

    def has_status() -> bool:
        """the resource quota controller published status.hard and status.used"""
        got = json.loads(cluster.kubectl("get", "quota", "q", "-n", namespace, "-o", "json").stdout)
        status = got.get("status", {})
        return bool(status.get("hard") == {"pods": "3", "requests.cpu": "1"} and "used" in status)

    eventually(has_status, timeout=60)


def test_new_namespace_gets_default_service_account(cluster: ControlPlane, namespace: str) -> None:
    def has_default() -> bool:
        """the service account controller created `default`"""
        return cluster.kubectl("get", "serviceaccount", "default", "-n", namespace, check=False).returncode == 0

    eventually(has_default, timeout=30)


def test_a_thousand_services_get_cluster_ips(cluster: ControlPlane, namespace: str) -> None:
    services = [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": f"svc-{index}", "namespace": namespace},
            "spec": {"ports": [{"port": 80}]},
        }
        for index in range(1000)
    ]
    cluster.kubectl("create", "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": services}))
    listed = json.loads(cluster.kubectl("get", "services", "-n", namespace, "-o", "json").stdout)["items"]
    assert len({s["spec"]["clusterIP"] for s in listed}) == 1000


def test_kubectl_and_server_report_pinned_version(cluster: ControlPlane) -> None:
    versions = json.loads(cluster.kubectl("version", "-o", "json").stdout)
    assert versions["clientVersion"]["gitVersion"] == KUBERNETES_VERSION
    assert versions["serverVersion"]["gitVersion"] == KUBERNETES_VERSION


def test_helm_reports_pinned_version(cluster: ControlPlane) -> None:
    assert cluster.helm("version", "--short").stdout.startswith(HELM_VERSION)


def test_minted_user_certificate_carries_groups(cluster: ControlPlane) -> None:
    kubeconfig = cluster.mint_user("bob", ["acme-admins", "devs"])
    whoami = json.loads(cluster.kubectl("auth", "whoami", "-o", "json", kubeconfig=kubeconfig).stdout)
    info = whoami["status"]["userInfo"]
    assert info["username"] == "bob"
    assert {"acme-admins", "devs", "system:authenticated"} <= set(info["groups"])


def test_python_client_talks_to_the_api_server(cluster: ControlPlane, namespace: str) -> None:
    from kubernetes import client

    with cluster.api_client() as api:
        names = [ns.metadata.name for ns in client.CoreV1Api(api).list_namespace().items]
    assert namespace in names


def test_stop_leaves_no_process_and_no_files(cluster: ControlPlane) -> None:
    plane = ControlPlane(binaries=cluster.binaries).start()
    pids = [p.popen.pid for p in plane._processes]
    directory = plane.directory
    assert directory.exists()
    assert len(pids) == 3
    plane.stop()
    assert not directory.exists()
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
