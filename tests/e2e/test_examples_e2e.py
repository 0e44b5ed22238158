"""Every workload example in deploy/examples/ converges to the children its kind promises.

One controller runs every reconciler, as `tenantgate controller` does by default; the third-party CRDs come from
tests/fixtures/crds/, and the test writes what a database operator or the Job controller would (no kubelet).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tenantgate.devcluster import ControlPlane
from tests.conftest import unique
from tests.e2e.test_controller_support import (
    LEASE_NAMESPACE,
    ControllerProcess,
    apply,
    eventually,
    get_json,
    install_platform,
)
from tests.e2e.test_django_e2e import finish_job, one_job
from tests.e2e.test_shop_e2e import install_third_party_crds

pytestmark = pytest.mark.e2e

EXAMPLES = Path(__file__).resolve().parents[2] / "deploy" / "examples"


@pytest.fixture(scope="module")
def controller(cluster: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControllerProcess]:
    install_platform(cluster, LEASE_NAMESPACE)
    install_third_party_crds(cluster)
    process = ControllerProcess(cluster, LEASE_NAMESPACE, unique("examples"), tmp_path_factory.mktemp("controller"))
    process.start()
    eventually(process.is_leader, timeout=60, what="leadership")
    yield process
    assert process.stop() == 0, process.log_tail()


EXAMPLE_CHILDREN = {
    "20-shop.yaml": [
        ("clusters.postgresql.cnpg.io", "storefront"),
        ("deployment", "storefront"),
        ("service", "storefront"),
        ("ingress", "storefront"),
        ("secret", "storefront-admin"),
    ],
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
    "41-app-raw.yaml": [
        ("configmap", "notes-content"),
        ("deployment", "notes"),
        ("service", "notes"),
        ("ingress", "notes"),
    ],
    "42-app-helm.yaml": [
        ("helmrepositories.source.toolkit.fluxcd.io", "app-charts"),
        ("helmreleases.helm.toolkit.fluxcd.io", "app-charts"),
    ],
    "43-app-git.yaml": [
        ("gitrepositories.source.toolkit.fluxcd.io", "app-site"),
        ("kustomizations.kustomize.toolkit.fluxcd.io", "app-site"),
    ],
}
# Django examples: (instance, children once its migration Job has completed).
DJANGO_EXAMPLES = {
    "50-django-blindage.yaml": (
        "acme-site",
        [("deployment", "acme-site-web"), ("service", "acme-site-web")],
    ),
    "51-django-thismatters.yaml": (
        "blog",
        [
            ("deployment", "blog-redis"),
            ("service", "blog-redis"),
            ("deployment", "blog-web"),
            ("deployment", "blog-worker"),
            ("deployment", "blog-beat"),
            ("service", "blog-web"),
            ("ingress", "blog"),
            ("horizontalpodautoscalers.autoscaling", "blog-web"),
            ("horizontalpodautoscalers.autoscaling", "blog-worker"),
        ],
    ),
}


def documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def test_examples_converge(cluster: ControlPlane, controller: ControllerProcess) -> None:
    converge_examples(cluster)


def converge_examples(cluster: ControlPlane) -> None:
    """Apply every example, play the database operators and the Job controller, wait for every promised child;
    then delete the examples again."""
    namespace = "kubeop-acme-web"
    existed = get_json(cluster, "project", "web") is not None
    apply(cluster, *documents(EXAMPLES / "00-tenant-acme.yaml"), *documents(EXAMPLES / "10-project-web.yaml"))
    eventually(lambda: get_json(cluster, "namespace", namespace), what="namespace kubeop-acme-web")
    examples = [*EXAMPLE_CHILDREN, *DJANGO_EXAMPLES]
    assert sorted(examples) == sorted(
        p.name for p in EXAMPLES.glob("*.yaml") if p.name[:2] not in ("00", "10", "90")
    ), "every workload example is checked here"
    apply(cluster, *(doc for name in examples for doc in documents(EXAMPLES / name)))
    # What the database operators would publish:
    for shop in ("storefront", "shop-pg", "shop-mongo"):
        key = "connectionString.standard" if shop == "shop-mongo" else "uri"
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
        for instance, children in DJANGO_EXAMPLES.values():
            job = one_job(cluster, namespace, instance)
            finish_job(cluster, namespace, job, succeeded=True)  # as the Job controller would, pods having run
            for kind, child in children:
                eventually(
                    lambda k=kind, c=child: get_json(cluster, k, c, "-n", namespace),
                    timeout=90,
                    what=f"{instance}: {kind} {child}",
                )
        mongo = get_json(cluster, "deployment", "shop-mongo", "-n", namespace)
        assert mongo is not None
        assert mongo["spec"]["replicas"] == 1
        assert eventually(lambda: replicas(cluster, namespace, "shop-pg") == 3, what="high availability -> 3")
    finally:
        for name in examples:
            cluster.kubectl("delete", "-f", str(EXAMPLES / name), "--wait=false", "--ignore-not-found", check=False)
        cluster.kubectl(
            "delete",
            "secret",
            "storefront-app",
            "shop-pg-app",
            "shop-mongo-app",
            "-n",
            namespace,
            "--ignore-not-found",
            check=False,
        )
        if not existed:
            cluster.kubectl("delete", "project", "web", "--wait=false", "--ignore-not-found", check=False)


def replicas(cluster: ControlPlane, namespace: str, name: str) -> int:
    deployment = get_json(cluster, "deployment", name, "-n", namespace) or {}
    return int(deployment.get("spec", {}).get("replicas", 0))
