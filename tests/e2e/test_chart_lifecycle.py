"""The chart's life on the real control plane: an upgrade with a changed value takes effect, an uninstall leaves
nothing of tenantgate but its CRDs (as Helm does) and tenant namespaces, and with the webhook down tenant writes
fail closed while the system's and tenantgate's own namespaces keep working."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tenantgate.devcluster import ControlPlane
from tenantgate.devcluster.platform import OWN_NAMESPACE, LocalPlatform
from tests.conftest import unique

pytestmark = pytest.mark.e2e

CLUSTER_KINDS = "clusterroles,clusterrolebindings,mutatingwebhookconfigurations,validatingwebhookconfigurations"


@pytest.fixture
def installed(cluster: ControlPlane) -> Iterator[LocalPlatform]:
    platform = LocalPlatform(cluster, controller=False).install()
    try:
        yield platform
    finally:
        platform.stop()
        platform.uninstall()


def _names(cluster: ControlPlane, kinds: str, *args: str) -> set[str]:
    listed = json.loads(cluster.kubectl("get", kinds, *args, "-o", "json").stdout)["items"]
    return {f"{item['kind']}/{item['metadata']['name']}" for item in listed}


def test_an_upgrade_with_a_changed_value_takes_effect(cluster: ControlPlane, installed: LocalPlatform) -> None:
    ca_bundle = (installed.cert_dir / "ca.crt").read_bytes()
    installed.install_chart(ca_bundle, "webhook.timeoutSeconds=7", "policy.KUBEOP_IMAGE_ALLOWLIST=quay.io")
    configuration = json.loads(
        cluster.kubectl("get", "validatingwebhookconfiguration", "tenantgate-validating", "-o", "json").stdout
    )
    assert {hook["timeoutSeconds"] for hook in configuration["webhooks"]} == {7}
    policy = json.loads(cluster.kubectl("get", "configmap", "kubeop-policy", "-n", OWN_NAMESPACE, "-o", "json").stdout)
    assert policy["data"] == {"KUBEOP_IMAGE_ALLOWLIST": "quay.io"}


def test_an_uninstall_leaves_only_crds_and_tenant_namespaces(cluster: ControlPlane) -> None:
    platform = LocalPlatform(cluster, controller=False).install()
    namespace = unique("kubeop-keep")
    cluster.kubectl("create", "namespace", namespace)
    cluster.kubectl("label", "namespace", namespace, "app.kubeop.io/tenant=keep")
    ours = {name for name in _names(cluster, CLUSTER_KINDS) if name.split("/")[1].startswith("tenantgate")}
    assert ours, "the chart installed cluster-wide objects"
    platform.stop()
    platform.uninstall()
    left = {name for name in _names(cluster, CLUSTER_KINDS) if name.split("/")[1].startswith("tenantgate")}
    assert left == set()
    in_namespace = _names(cluster, "serviceaccounts,configmaps,roles,rolebindings", "-n", OWN_NAMESPACE)
    assert {n for n in in_namespace if n.startswith(("ServiceAccount/tenantgate", "Role", "ConfigMap/kubeop"))} == set()
    crds = json.loads(cluster.kubectl("get", "crd", "-o", "json").stdout)["items"]
    assert "tenants.paas.kubeop.io" in {crd["metadata"]["name"] for crd in crds}, "Helm keeps CRDs"
    assert cluster.kubectl("get", "namespace", namespace, check=False).returncode == 0
    cluster.kubectl("delete", "namespace", namespace, "--wait=false")


def test_with_the_webhook_down_tenant_writes_fail_closed_and_system_writes_pass(
    cluster: ControlPlane, installed: LocalPlatform
) -> None:
    namespace = unique("kubeop-closed")
    cluster.kubectl("create", "namespace", namespace)
    cluster.kubectl("label", "namespace", namespace, "app.kubeop.io/tenant=closed")
    installed.webhook.stop()
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": unique("svc")},
        "spec": {"ports": [{"port": 80}]},
    }
    refused = cluster.kubectl("create", "-n", namespace, "-f", "-", stdin=json.dumps(service), check=False)
    assert refused.returncode != 0
    assert "failed calling webhook" in refused.stderr
    for system in ("kube-system", OWN_NAMESPACE):
        cluster.kubectl("create", "-n", system, "-f", "-", stdin=json.dumps(service))
        cluster.kubectl("delete", "service", service["metadata"]["name"], "-n", system)
    cluster.kubectl("delete", "namespace", namespace, "--wait=false")
