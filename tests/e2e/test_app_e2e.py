"""Apps, and every example manifest, against a real control plane with `tenantgate controller` running."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from tenantgate.devcluster import ControlPlane
from tests.conftest import unique
from tests.e2e.test_controller_support import (
    REPO,
    ControllerProcess,
    apply,
    eventually,
    get_json,
    project,
    tenant,
)
from tests.e2e.test_django_e2e import finish_job
from tests.e2e.test_shop_e2e import start_controller

pytestmark = pytest.mark.e2e

EXAMPLES = REPO / "deploy" / "examples"


@pytest.fixture(scope="module")
def controller(cluster: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControllerProcess]:
    process = start_controller(cluster, tmp_path_factory.mktemp("controller"), "apps")
    yield process
    assert process.stop() == 0, process.log_tail()


def app(name: str, namespace: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "paas.kubeop.io/v1alpha1",
        "kind": "App",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


@pytest.fixture(scope="module")
def tenant_namespace(cluster: ControlPlane, controller: ControllerProcess) -> Iterator[str]:
    """A Project's namespace, so the tenant's guardrails apply to what Raw Apps deliver there."""
    name = unique("raw")
    apply(cluster, tenant(name, allowedRegistries={"exact": ["docker.io/library"]}), project(name, name, "app"))
    namespace = f"kubeop-{name}-app"
    eventually(lambda: get_json(cluster, "namespace", namespace), what=f"namespace {namespace}")
    yield namespace
    cluster.kubectl("delete", "project", name, "--wait=false", check=False)
    cluster.kubectl("delete", "tenant", name, "--wait=false", check=False)


def image_of(cluster: ControlPlane, namespace: str, name: str) -> str:
    found = get_json(cluster, "deployment", name, "-n", namespace)
    return str(found["spec"]["template"]["spec"]["containers"][0]["image"]) if found else ""


def test_delivery_image_update_rollout(cluster: ControlPlane, controller: ControllerProcess, namespace: str) -> None:
    name = unique("roll")
    apply(cluster, app(name, namespace, type="Image", image="nginx:1.25", host=f"{name}.example"))
    first = eventually(
        lambda: ((get_json(cluster, "app", name, "-n", namespace) or {}).get("status") or {}).get("revision"),
        what="status.revision",
    )
    assert "nginx:1.25" in eventually(lambda: image_of(cluster, namespace, f"app-{name}"), what="Deployment")
    for kind in ("service", "ingress"):
        assert eventually(lambda k=kind: get_json(cluster, k, f"app-{name}", "-n", namespace), what=kind)

    cluster.kubectl("patch", "app", name, "-n", namespace, "--type=merge", "-p", '{"spec":{"image":"nginx:1.26"}}')
    second = eventually(
        lambda: (
            (r := ((get_json(cluster, "app", name, "-n", namespace) or {}).get("status") or {}).get("revision"))
            and r != first
            and r
        ),
        what="new revision",
    )
    assert second
    eventually(lambda: "nginx:1.26" in image_of(cluster, namespace, f"app-{name}"), what="image nginx:1.26")
    deployment = get_json(cluster, "deployment", f"app-{name}", "-n", namespace)
    assert deployment is not None
    assert deployment["spec"]["template"]["metadata"]["annotations"]["kubeop.io/revision"] == second

    status = {"status": {"replicas": 1, "readyReplicas": 1, "availableReplicas": 1}}
    cluster.kubectl(
        "patch",
        "deployment",
        f"app-{name}",
        "-n",
        namespace,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps(status),
    )
    ready = eventually(
        lambda: (o := get_json(cluster, "app", name, "-n", namespace)) and (o.get("status") or {}).get("ready") and o,
        what="App ready",
    )
    [condition] = ready["status"]["conditions"]
    assert (condition["type"], condition["status"], condition["reason"]) == ("Ready", "True", "Converged")

    cluster.kubectl("delete", "app", name, "-n", namespace, "--wait=false")
    eventually(
        lambda: all(
            get_json(cluster, k, f"app-{name}", "-n", namespace) is None for k in ("deployment", "service", "ingress")
        ),
        timeout=150,
        interval=2,
        what="children garbage-collected",
    )


def test_helm_app_is_handed_to_flux(cluster: ControlPlane, controller: ControllerProcess, namespace: str) -> None:
    name = unique("chart")
    apply(
        cluster, app(name, namespace, type="Helm", helm={"chart": "oci://ghcr.io/acme/charts/web", "version": "1.0.0"})
    )
    release = eventually(
        lambda: get_json(cluster, "helmreleases.helm.toolkit.fluxcd.io", f"app-{name}", "-n", namespace),
        what="HelmRelease",
    )
    assert release["spec"]["chart"]["spec"]["chart"] == "web"
    flux_status = {
        "status": {
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "Succeeded",
                    "message": "installed",
                    "lastTransitionTime": "2024-01-01T00:00:00Z",
                }
            ]
        }
    }
    cluster.kubectl(
        "patch",
        "helmreleases.helm.toolkit.fluxcd.io",
        f"app-{name}",
        "-n",
        namespace,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps(flux_status),
    )
    eventually(
        lambda: ((get_json(cluster, "app", name, "-n", namespace) or {}).get("status") or {}).get("ready") is True,
        what="App ready from the HelmRelease",
    )


def status_of(cluster: ControlPlane, namespace: str, name: str) -> dict[str, Any]:
    status = (get_json(cluster, "app", name, "-n", namespace) or {}).get("status") or {}
    assert isinstance(status, dict)
    return status


def ready_condition(cluster: ControlPlane, namespace: str, name: str) -> dict[str, Any]:
    conditions = status_of(cluster, namespace, name).get("conditions") or []
    return next((c for c in conditions if c.get("type") == "Ready"), {})


def configmap_doc(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"greeting": "hello"}}


def deployment_doc(name: str, **security: Any) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "web", "image": "docker.io/library/nginx:1.25"}
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


def test_raw_app_converges_and_prunes_removed_documents(
    cluster: ControlPlane, controller: ControllerProcess, tenant_namespace: str
) -> None:
    namespace, name = tenant_namespace, unique("raw")
    manifests = yaml.safe_dump_all([configmap_doc(f"{name}-settings"), deployment_doc(name)])
    apply(cluster, app(name, namespace, type="Raw", rawManifests=manifests))
    configmap = eventually(lambda: get_json(cluster, "configmap", f"{name}-settings", "-n", namespace), what="cm")
    deployment = eventually(lambda: get_json(cluster, "deployment", name, "-n", namespace), what="Deployment")
    for child in (configmap, deployment):
        [owner] = child["metadata"]["ownerReferences"]
        assert (owner["kind"], owner["name"], owner["controller"]) == ("App", name, True)
    tenant_name = namespace.removeprefix("kubeop-").removesuffix("-app")
    assert deployment["metadata"]["labels"]["app.kubeop.io/tenant"] == tenant_name, "admission defaults"
    assert "app.kubeop.io/tenant" not in configmap["metadata"]["labels"], "ConfigMaps are not routed to admission"
    assert ready_condition(cluster, namespace, name).get("reason") in ("Progressing", "")
    status = {"status": {"replicas": 1, "readyReplicas": 1, "availableReplicas": 1}}
    cluster.kubectl(
        "patch", "deployment", name, "-n", namespace, "--subresource=status", "--type=merge", "-p", json.dumps(status)
    )
    eventually(lambda: status_of(cluster, namespace, name).get("ready") is True, what="Raw App ready")
    assert status_of(cluster, namespace, name)["revision"] == hashlib.sha1(manifests.encode()).hexdigest()[:12]

    only_deployment = yaml.safe_dump_all([deployment_doc(name)])
    patch = json.dumps({"spec": {"rawManifests": only_deployment}})
    cluster.kubectl("patch", "app", name, "-n", namespace, "--type=merge", "-p", patch)
    eventually(
        lambda: get_json(cluster, "configmap", f"{name}-settings", "-n", namespace) is None, what="ConfigMap pruned"
    )
    assert get_json(cluster, "deployment", name, "-n", namespace) is not None
    cluster.kubectl("delete", "app", name, "-n", namespace, "--wait=false")


@pytest.mark.parametrize(
    ("extra", "reason", "fragment"),
    [
        (
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "x"}},
            "ManifestRefused",
            "ClusterRole is cluster-scoped",
        ),
        (deployment_doc("root", privileged=True), "GuardrailDenied", "is privileged"),
    ],
)
def test_raw_app_is_refused_as_a_whole(
    cluster: ControlPlane,
    controller: ControllerProcess,
    tenant_namespace: str,
    extra: dict[str, Any],
    reason: str,
    fragment: str,
) -> None:
    namespace, name = tenant_namespace, unique("refused")
    manifests = yaml.safe_dump_all([configmap_doc(f"{name}-settings"), extra])
    apply(cluster, app(name, namespace, type="Raw", rawManifests=manifests))
    condition = eventually(
        lambda: (c := ready_condition(cluster, namespace, name)).get("reason") == reason and c, what=reason
    )
    assert condition["status"] == "False"
    assert fragment in condition["message"]
    assert get_json(cluster, "configmap", f"{name}-settings", "-n", namespace) is None, "nothing is applied"
    assert not status_of(cluster, namespace, name).get("revision")
    cluster.kubectl("delete", "app", name, "-n", namespace, "--wait=false")


def test_pre_hook_gates_an_image_change(cluster: ControlPlane, controller: ControllerProcess, namespace: str) -> None:
    name = unique("hooked")
    hooks = {"pre": [{"image": "docker.io/library/busybox:1.36", "args": ["sh", "-c", "echo migrate"]}]}
    apply(cluster, app(name, namespace, type="Image", image="nginx:1.25", hooks=hooks))
    first = hashlib.sha1(b"nginx:1.25").hexdigest()[:12]
    job = f"hook-pre-{name}-{first[:8]}"
    created = eventually(lambda: get_json(cluster, "job", job, "-n", namespace), what="first pre-hook Job")
    assert created["spec"]["template"]["spec"]["containers"][0]["name"] == "hook"
    assert ready_condition(cluster, namespace, name).get("reason") == "PreHooksRunning"
    assert get_json(cluster, "deployment", f"app-{name}", "-n", namespace) is None, "gated until the hook succeeds"
    finish_job(cluster, namespace, job, succeeded=True)
    eventually(lambda: "nginx:1.25" in image_of(cluster, namespace, f"app-{name}"), what="first rollout")
    assert status_of(cluster, namespace, name)["revision"] == first

    cluster.kubectl("patch", "app", name, "-n", namespace, "--type=merge", "-p", '{"spec":{"image":"nginx:1.26"}}')
    second = hashlib.sha1(b"nginx:1.26").hexdigest()[:12]
    job = f"hook-pre-{name}-{second[:8]}"
    eventually(lambda: get_json(cluster, "job", job, "-n", namespace), what="second pre-hook Job")
    eventually(
        lambda: ready_condition(cluster, namespace, name).get("reason") == "PreHooksRunning", what="PreHooksRunning"
    )
    assert "nginx:1.25" in image_of(cluster, namespace, f"app-{name}"), "the old revision keeps running"
    assert status_of(cluster, namespace, name)["revision"] == first
    finish_job(cluster, namespace, job, succeeded=True)
    eventually(lambda: "nginx:1.26" in image_of(cluster, namespace, f"app-{name}"), what="image nginx:1.26")
    eventually(lambda: status_of(cluster, namespace, name).get("revision") == second, what="new revision")
    assert status_of(cluster, namespace, name)["hooks"] == {"revision": second, "pre": ["Succeeded"], "post": []}
