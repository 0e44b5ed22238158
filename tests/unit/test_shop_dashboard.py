"""A Shop's monitoring children: the Grafana dashboard, ServiceMonitor and AlertmanagerConfig."""

from __future__ import annotations

import json
from typing import Any

import pytest

from controller.reconcilers.shop_dashboard import (
    ALERTMANAGER_CONFIG,
    BEST_EFFORT_KINDS,
    SERVICE_MONITOR,
    dashboard_configmap,
    monitoring_children,
)

pytestmark = pytest.mark.unit


def make_shop(name: str = "demo") -> dict[str, Any]:
    return {"apiVersion": "apps.shophub.local/v1", "kind": "Shop", "metadata": {"name": name, "namespace": "shops"}}


def test_dashboard_is_valid_grafana_json_stamped_with_the_shop() -> None:
    configmap = dashboard_configmap(make_shop())
    assert configmap["metadata"]["labels"] == {"grafana_dashboard": "1"}
    assert configmap["metadata"]["annotations"] == {"grafana_folder": "shops"}
    dashboard = json.loads(configmap["data"]["demo.json"])
    assert dashboard["uid"] == "shop-demo"
    assert dashboard["title"] == "Shop — demo"
    assert [p["title"] for p in dashboard["panels"]] == [
        "Request rate",
        "Error rate (5xx)",
        "Latency p95",
        "Replicas (ready / desired)",
    ]
    assert all(
        'service="demo"' in p["targets"][0]["expr"] or "demo" in p["targets"][0]["expr"] for p in dashboard["panels"]
    )


@pytest.mark.parametrize(
    ("webhook", "served", "kinds"),
    [
        (None, BEST_EFFORT_KINDS, ["ConfigMap", "ServiceMonitor"]),
        ("alerts-webhook", BEST_EFFORT_KINDS, ["ConfigMap", "ServiceMonitor", "AlertmanagerConfig"]),
        ("alerts-webhook", (ALERTMANAGER_CONFIG,), ["ConfigMap", "AlertmanagerConfig"]),
        ("alerts-webhook", (SERVICE_MONITOR,), ["ConfigMap", "ServiceMonitor"]),
        ("alerts-webhook", (), ["ConfigMap"]),
    ],
)
def test_the_dashboard_always_and_prometheus_operator_kinds_only_when_served(
    webhook: str | None, served: tuple[tuple[str, str], ...], kinds: list[str]
) -> None:
    assert [child["kind"] for child in monitoring_children(make_shop(), webhook, served)] == kinds
