"""Admission feedback as a user of `kubectl` sees it, through the real API server and the real webhook process.

The webhook is reached through URL-mode configurations installed by the `platform` fixture; every assertion is
on what kubectl prints or on what the API server stored.
"""

from __future__ import annotations

import json
import time

import pytest
import yaml

from tenantgate.devcluster import ControlPlane
from tenantgate.devcluster.platform import LocalPlatform
from tests.conftest import unique

pytestmark = pytest.mark.e2e


def manifest(document: dict[str, object]) -> str:
    return yaml.safe_dump(document)


def project(name: str, tenant_ref: str) -> dict[str, object]:
    return {
        "apiVersion": "paas.kubeop.io/v1alpha1",
        "kind": "Project",
        "metadata": {"name": name},
        "spec": {"tenantRef": tenant_ref, "name": name},
    }


@pytest.fixture
def tenant_namespace(cluster: ControlPlane, platform: LocalPlatform) -> str:
    """A Tenant and its project namespace, created by the platform admin as the controller would."""
    tenant = unique("acme")
    cluster.kubectl(
        "apply",
        "-f",
        "-",
        stdin=manifest(
            {
                "apiVersion": "paas.kubeop.io/v1alpha1",
                "kind": "Tenant",
                "metadata": {"name": tenant},
                "spec": {"name": tenant},
            }
        ),
    )
    namespace = f"kubeop-{tenant}-web"
    cluster.kubectl(
        "apply",
        "-f",
        "-",
        stdin=manifest(
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {
                    "name": namespace,
                    "labels": {"app.kubeop.io/tenant": tenant, "app.kubeop.io/project": "web"},
                },
            }
        ),
    )
    # The webhook learns of both through its watches, a moment later: wait until it admits an App there.
    probe = manifest(app("probe", namespace, "docker.io/library/nginx:1.25"))
    deadline = time.monotonic() + 30
    while cluster.kubectl("apply", "--dry-run=server", "-f", "-", stdin=probe, check=False).returncode != 0:
        assert time.monotonic() < deadline, "the webhook never learned of the new tenant namespace"
        time.sleep(0.2)
    return namespace


def app(name: str, namespace: str, image: str) -> dict[str, object]:
    return {
        "apiVersion": "paas.kubeop.io/v1alpha1",
        "kind": "App",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"type": "Image", "image": image, "host": f"{name}.example.test"},
    }


def test_denied_apply_exits_1_with_the_message_on_stderr(cluster: ControlPlane, platform: LocalPlatform) -> None:
    name = unique("orphan")
    result = cluster.kubectl("apply", "-f", "-", stdin=manifest(project(name, "no-such-tenant")), check=False)
    assert result.returncode == 1
    assert "denied the request" in result.stderr
    assert 'spec.tenantRef "no-such-tenant": referenced tenant does not exist' in result.stderr
    assert cluster.kubectl("get", "project", name, "--ignore-not-found", "-o", "name").stdout == ""


def test_server_dry_run_gives_the_same_denial_and_writes_nothing(
    cluster: ControlPlane, platform: LocalPlatform
) -> None:
    name = unique("orphan")
    result = cluster.kubectl(
        "apply", "--dry-run=server", "-f", "-", stdin=manifest(project(name, "no-such-tenant")), check=False
    )
    assert result.returncode == 1
    assert 'spec.tenantRef "no-such-tenant": referenced tenant does not exist' in result.stderr


def test_defaults_set_by_the_webhook_show_in_get(
    cluster: ControlPlane, platform: LocalPlatform, tenant_namespace: str
) -> None:
    cluster.kubectl("apply", "-f", "-", stdin=manifest(app("web", tenant_namespace, "docker.io/library/nginx:1.25")))
    stored = yaml.safe_load(cluster.kubectl("get", "app", "web", "-n", tenant_namespace, "-o", "yaml").stdout)
    assert stored["metadata"]["labels"]["app.kubeop.io/managed-by"] == "kubeop-admission"


def test_server_dry_run_of_an_allowed_object_is_defaulted_but_not_stored(
    cluster: ControlPlane, platform: LocalPlatform, tenant_namespace: str
) -> None:
    result = cluster.kubectl(
        "apply",
        "--dry-run=server",
        "-o",
        "json",
        "-f",
        "-",
        stdin=manifest(app("dry", tenant_namespace, "docker.io/library/nginx:1.25")),
    )
    assert json.loads(result.stdout)["metadata"]["labels"]["app.kubeop.io/managed-by"] == "kubeop-admission"
    assert cluster.kubectl("get", "app", "dry", "-n", tenant_namespace, "--ignore-not-found", "-o", "name").stdout == ""


def test_warnings_are_printed_by_kubectl(cluster: ControlPlane, platform: LocalPlatform, tenant_namespace: str) -> None:
    result = cluster.kubectl("apply", "-f", "-", stdin=manifest(app("untagged", tenant_namespace, "nginx")))
    assert result.returncode == 0
    warnings = [line for line in result.stderr.splitlines() if line.startswith("Warning:")]
    assert any("nginx" in line for line in warnings), result.stderr


def test_without_the_webhook_system_namespaces_still_accept_writes(
    cluster: ControlPlane, platform: LocalPlatform
) -> None:
    platform.webhook.stop()
    try:
        name = unique("still-works")
        cluster.kubectl("create", "configmap", name, "-n", "kube-system")
        cluster.kubectl("delete", "configmap", name, "-n", "kube-system")
        refused = cluster.kubectl(
            "apply", "-f", "-", stdin=manifest(project(unique("p"), "no-such-tenant")), check=False
        )
        assert refused.returncode == 1
        assert "failed calling webhook" in refused.stderr  # failurePolicy Fail for tenantgate's kinds
    finally:
        platform.start_webhook()


def test_global_policy_configmap_is_reloaded_without_restart(
    cluster: ControlPlane, platform: LocalPlatform, tenant_namespace: str
) -> None:
    def policy(allowlist: str) -> str:
        return manifest(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "kubeop-policy", "namespace": "tenantgate-system"},
                "data": {"KUBEOP_IMAGE_ALLOWLIST": allowlist},
            }
        )

    candidate = manifest(app(unique("probe"), tenant_namespace, "docker.io/library/nginx:1.25"))

    def verdict_becomes(denied: bool) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            result = cluster.kubectl("apply", "--dry-run=server", "-f", "-", stdin=candidate, check=False)
            if (result.returncode != 0) == denied:
                if denied:
                    assert "registry docker.io is not allowed" in result.stderr
                return
            time.sleep(0.5)
        raise AssertionError(f"verdict did not become denied={denied} within 30s")

    pid = platform.webhook.popen.pid if platform.webhook.popen else None
    try:
        cluster.kubectl("apply", "-f", "-", stdin=policy("ghcr.io"))
        verdict_becomes(denied=True)
        cluster.kubectl("apply", "-f", "-", stdin=policy("ghcr.io,docker.io"))
        verdict_becomes(denied=False)
    finally:
        cluster.kubectl("delete", "configmap", "kubeop-policy", "-n", "tenantgate-system", "--ignore-not-found")
    assert platform.webhook.popen is not None
    assert platform.webhook.popen.pid == pid  # the same process throughout: no restart
