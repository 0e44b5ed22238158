"""Apps, and every example manifest, against a real control plane with `tenantgate controller` running."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tenantgate.devcluster import ControlPlane
from tests.conftest import unique
from tests.e2e.test_controller_support import REPO, ControllerProcess, apply, eventually, get_json
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


EXAMPLE_CHILDREN = {
    "30-shop-postgres.yaml": [
        ("clusters.postgresql.cnpg.io", "shop-pg"),
        ("deployment", "shop-pg"),
        ("service", "shop-pg"),
        ("ingress", "shop-pg"),
        ("secret", "shop-pg-admin"),
        ("configmap", "shop-pg-dashboard"),
        ("servicemonitors.monitoring.coreos.com", "shop-pg"),
        ("alertmanagerconfigs.monitoring.coreos.com", "shop-pg"),
    ],
    "31-shop-mongodb.yaml": [
        ("mongodbcommunity.mongodbcommunity.mongodb.com", "shop-mongo"),
        ("secret", "shop-mongo-mongo-pw"),
        ("serviceaccount", "mongodb-database"),
        ("role", "mongodb-database"),
        ("rolebinding", "mongodb-database"),
        ("deployment", "shop-mongo"),
    ],
    "40-app-image.yaml": [("deployment", "app-web"), ("service", "app-web"), ("ingress", "app-web")],
    "42-app-helm.yaml": [
        ("helmrepositories.source.toolkit.fluxcd.io", "app-charts"),
        ("helmreleases.helm.toolkit.fluxcd.io", "app-charts"),
    ],
    "43-app-git.yaml": [
        ("gitrepositories.source.toolkit.fluxcd.io", "app-site"),
        ("kustomizations.kustomize.toolkit.fluxcd.io", "app-site"),
    ],
}


def documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def test_examples_converge(cluster: ControlPlane, controller: ControllerProcess) -> None:
    namespace = "kubeop-acme-web"
    existed = get_json(cluster, "project", "web") is not None
    apply(cluster, *documents(EXAMPLES / "00-tenant-acme.yaml"), *documents(EXAMPLES / "10-project-web.yaml"))
    eventually(lambda: get_json(cluster, "namespace", namespace), what="namespace kubeop-acme-web")
    apply(cluster, *(doc for name in EXAMPLE_CHILDREN for doc in documents(EXAMPLES / name)))
    # What the database operators would publish:
    for shop in ("shop-pg", "shop-mongo"):
        key = "uri" if shop == "shop-pg" else "connectionString.standard"
        secret = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": f"{shop}-app", "namespace": namespace},
            "stringData": {key: "db://x"},
        }
        apply(cluster, secret)
    try:
        for name, children in EXAMPLE_CHILDREN.items():
            for kind, child in children:
                eventually(
                    lambda k=kind, c=child: get_json(cluster, k, c, "-n", namespace),
                    timeout=90,
                    what=f"{name}: {kind} {child}",
                )
        mongo = get_json(cluster, "deployment", "shop-mongo", "-n", namespace)
        assert mongo is not None
        assert mongo["spec"]["replicas"] == 1
        assert eventually(lambda: replicas(cluster, namespace, "shop-pg") == 3, what="high availability -> 3")
    finally:
        for name in EXAMPLE_CHILDREN:
            cluster.kubectl("delete", "-f", str(EXAMPLES / name), "--wait=false", "--ignore-not-found", check=False)
        cluster.kubectl(
            "delete", "secret", "shop-pg-app", "shop-mongo-app", "-n", namespace, "--ignore-not-found", check=False
        )
        if not existed:
            cluster.kubectl("delete", "project", "web", "--wait=false", "--ignore-not-found", check=False)


def replicas(cluster: ControlPlane, namespace: str, name: str) -> int:
    found = get_json(cluster, "deployment", name, "-n", namespace)
    return int(found["spec"]["replicas"]) if found else -1
