"""Shop dashboards in Grafana: the real control plane, the controller under its own ClusterRole, and the fake
Grafana on loopback.

Grafana down never holds back the Shop's children and shows as `DashboardSynced=False`; once it answers, the
dashboard (the ConfigMap's JSON) appears in the organisation named after the namespace; deleting the Shop removes
it and then the finalizer. The admin password appears in no log, Event, status or metric.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from controller.reconcilers.shop_grafana import GRAFANA_FINALIZER, LOKI_UID, PROMETHEUS_UID
from tenantgate.devcluster import ControlPlane
from tests.conftest import unique
from tests.e2e.test_controller_support import ControllerProcess, apply, eventually, get_json, install_platform
from tests.e2e.test_shop_e2e import conditions, install_third_party_crds, secret, shop
from tests.e2e.test_wallet_e2e import controller_user
from tests.fakes.grafana import FakeGrafana, ServedGrafana

pytestmark = pytest.mark.e2e

LEASE_NAMESPACE = "tenantgate-grafana-e2e"
PASSWORD = "grafana-e2e-admin-pw-" + "4f1c9e"


@pytest.fixture(scope="module")
def grafana() -> Iterator[ServedGrafana]:
    served = ServedGrafana(FakeGrafana(password=PASSWORD)).start()
    yield served
    served.stop()


@pytest.fixture(scope="module")
def controller(
    cluster: ControlPlane, grafana: ServedGrafana, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ControllerProcess]:
    install_platform(cluster, LEASE_NAMESPACE)
    install_third_party_crds(cluster)
    env = {
        "TENANTGATE_RECONCILERS": "shop",
        "GRAFANA_URL": grafana.url,
        "GRAFANA_ADMIN_USER": "admin",
        "GRAFANA_ADMIN_PASSWORD": PASSWORD,
        "GRAFANA_PROMETHEUS_URL": "http://prometheus.test:9090",
        "GRAFANA_LOKI_URL": "http://loki.test:3100",
    }
    process = ControllerProcess(
        cluster,
        LEASE_NAMESPACE,
        unique("grafana"),
        tmp_path_factory.mktemp("grafana"),
        lease_duration=3.0,
        extra_env=env,
        kubeconfig=controller_user(cluster),
    )
    process.start()
    eventually(process.is_leader, timeout=60, what="leadership")
    yield process
    assert process.stop() == 0, process.log_tail()


def test_shop_dashboard_reaches_its_org_and_leaves_with_the_shop(
    cluster: ControlPlane, grafana: ServedGrafana, controller: ControllerProcess, namespace: str
) -> None:
    name = unique("shop")
    fake = grafana.fake
    fake.down = True
    apply(cluster, shop(name, namespace))
    eventually(lambda: get_json(cluster, "clusters.postgresql.cnpg.io", name, "-n", namespace), what="Cluster")
    apply(cluster, secret(f"{name}-app", namespace, uri="postgresql://shop@db/shop"))
    eventually(lambda: get_json(cluster, "deployment", name, "-n", namespace), what="Deployment with Grafana down")
    down = eventually(
        lambda: (
            (o := get_json(cluster, "shop", name, "-n", namespace))
            and conditions(o).get("DashboardSynced") == ("False", "GrafanaError")
            and conditions(o).get("Available") == ("False", "Deploying")
            and o
        ),
        what="DashboardSynced=False beside the Shop's own progress while Grafana is down",
    )
    assert GRAFANA_FINALIZER in down["metadata"]["finalizers"]

    fake.down = False
    eventually(lambda: fake.dashboard(namespace, f"shop-{name}"), timeout=90, what="dashboard in the tenant org")
    synced = eventually(
        lambda: (
            (o := get_json(cluster, "shop", name, "-n", namespace))
            and conditions(o).get("DashboardSynced") == ("True", "Synced")
            and o
        ),
        what="DashboardSynced=True",
    )
    org = fake.org_named(namespace)
    assert org is not None
    assert set(org.datasources) == {PROMETHEUS_UID, LOKI_UID}
    assert org.datasources[PROMETHEUS_UID]["url"] == "http://prometheus.test:9090"
    configmap = get_json(cluster, "configmap", f"{name}-dashboard", "-n", namespace)
    assert configmap is not None
    stored = fake.dashboard(namespace, f"shop-{name}")
    assert stored is not None
    expected = json.loads(configmap["data"][f"{name}.json"])
    assert {k: v for k, v in stored.items() if k not in ("id", "version")} == {
        k: v for k, v in expected.items() if k != "version"
    }
    assert fake.orgs_created == len({o.name for o in fake.orgs.values()}) - 1

    fake.down = True
    cluster.kubectl("delete", "shop", name, "-n", namespace, "--wait=false")
    held = eventually(
        lambda: (
            (o := get_json(cluster, "shop", name, "-n", namespace))
            and conditions(o).get("DashboardSynced") == ("False", "GrafanaError")
            and o
        ),
        what="deletion held by the finalizer while Grafana is down",
    )
    assert held["metadata"]["finalizers"] == [GRAFANA_FINALIZER]
    assert fake.dashboard(namespace, f"shop-{name}") is not None
    fake.down = False
    eventually(lambda: get_json(cluster, "shop", name, "-n", namespace) is None, timeout=90, what="Shop deleted")
    assert fake.dashboard(namespace, f"shop-{name}") is None
    assert fake.org_named(namespace) is not None, "the org stays: other shops of the namespace may use it"

    haystack = "\n".join(
        [
            controller.log_path.read_text(errors="replace"),
            cluster.kubectl("get", "events", "-n", namespace, "-o", "json").stdout,
            json.dumps(synced),
            controller._get("/metrics")[1],
        ]
    )
    assert PASSWORD not in haystack
