"""A Shop's monitoring children: its Grafana dashboard, and the prometheus-operator kinds when they are served.

The dashboard is a ConfigMap that Grafana's sidecar picks up by label, so it needs no third-party CRD and is
always built. The ServiceMonitor and the AlertmanagerConfig are prometheus-operator kinds; a cluster without
them still runs its shops, so they are built only when the reconcile found them served. Pure functions.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from typing import Any

from kube.objects import Obj, name_of, namespace_of

SERVICE_MONITOR = ("monitoring.coreos.com/v1", "ServiceMonitor")
ALERTMANAGER_CONFIG = ("monitoring.coreos.com/v1alpha1", "AlertmanagerConfig")
BEST_EFFORT_KINDS = (SERVICE_MONITOR, ALERTMANAGER_CONFIG)
"""The optional third-party kinds: skipped, with a warning Event, when their CRDs are not installed."""

WEBHOOK_KEY = "webhook-url"
"""The key of the Discord webhook Secret holding the URL."""
DASHBOARD_LABEL = "grafana_dashboard"
DASHBOARD_FOLDER_ANNOTATION = "grafana_folder"


def service_monitor(shop: Mapping[str, Any]) -> Obj:
    name = name_of(shop)
    return {
        "apiVersion": SERVICE_MONITOR[0],
        "kind": SERVICE_MONITOR[1],
        "metadata": {"name": name, "namespace": namespace_of(shop), "labels": {"release": "kube-prometheus-stack"}},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "endpoints": [{"port": "http", "path": "/metrics", "interval": "15s"}],
        },
    }


def alertmanager_config(shop: Mapping[str, Any], webhook_secret: str) -> Obj:
    name = name_of(shop)
    return {
        "apiVersion": ALERTMANAGER_CONFIG[0],
        "kind": ALERTMANAGER_CONFIG[1],
        "metadata": {"name": name, "namespace": namespace_of(shop)},
        "spec": {
            "route": {
                "receiver": "discord",
                "matchers": [{"name": "service", "value": name, "matchType": "="}],
                "groupBy": ["alertname"],
                "groupWait": "30s",
                "groupInterval": "5m",
                "repeatInterval": "1h",
            },
            "receivers": [
                {
                    "name": "discord",
                    "discordConfigs": [
                        {"apiURL": {"name": webhook_secret, "key": WEBHOOK_KEY}, "sendResolved": True},
                    ],
                }
            ],
        },
    }


def _panel(panel_id: int, title: str, expr: str, unit: str, x: int, y: int) -> dict[str, Any]:
    return {
        "id": panel_id,
        "type": "timeseries",
        "title": title,
        "datasource": {"type": "prometheus", "uid": "prometheus"},
        "gridPos": {"h": 8, "w": 12, "x": x, "y": y},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": [{"refId": "A", "expr": expr, "legendFormat": "{{pod}}"}],
    }


def dashboard(namespace: str, name: str) -> dict[str, Any]:
    """A Grafana dashboard for one shop: request rate, error rate, p95 latency and replicas. Pure.

    The queries select the shop's pods by the `service`/`namespace` labels its ServiceMonitor produces and
    the kube-state-metrics Deployment series, so the dashboard works without template variables.
    """
    selector = f'namespace="{namespace}",service="{name}"'
    requests = f"http_requests_total{{{selector}}}"
    return {
        "uid": f"shop-{name}",
        "title": f"Shop — {name}",
        "tags": ["shophub", "shop"],
        "timezone": "browser",
        "schemaVersion": 39,
        "version": 1,
        "editable": True,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {"list": []},
        "panels": [
            _panel(1, "Request rate", f"sum(rate({requests}[5m]))", "reqps", 0, 0),
            _panel(
                2,
                "Error rate (5xx)",
                f'sum(rate(http_requests_total{{{selector},status=~"5.."}}[5m]))'
                f" / clamp_min(sum(rate({requests}[5m])), 1e-9)",
                "percentunit",
                12,
                0,
            ),
            _panel(
                3,
                "Latency p95",
                f"histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket{{{selector}}}[5m])))",
                "s",
                0,
                8,
            ),
            _panel(
                4,
                "Replicas (ready / desired)",
                f'kube_deployment_status_replicas_ready{{namespace="{namespace}",deployment="{name}"}}',
                "short",
                12,
                8,
            ),
        ],
    }


def dashboard_configmap(shop: Mapping[str, Any]) -> Obj:
    name, namespace = name_of(shop), namespace_of(shop)
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": f"{name}-dashboard",
            "namespace": namespace,
            "labels": {DASHBOARD_LABEL: "1"},
            "annotations": {DASHBOARD_FOLDER_ANNOTATION: namespace},
        },
        "data": {f"{name}.json": json.dumps(dashboard(namespace, name), indent=2, ensure_ascii=False)},
    }


def monitoring_children(
    shop: Mapping[str, Any], webhook_secret: str | None, served: Collection[tuple[str, str]]
) -> list[Obj]:
    """The dashboard, then the ServiceMonitor and (with a webhook Secret) the AlertmanagerConfig if `served`."""
    children = [dashboard_configmap(shop)]
    if SERVICE_MONITOR in served:
        children.append(service_monitor(shop))
    if webhook_secret and ALERTMANAGER_CONFIG in served:
        children.append(alertmanager_config(shop, webhook_secret))
    return children
