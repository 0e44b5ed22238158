"""Grafana settings and payloads for Shop dashboards: pure functions."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from controller.reconcilers.shop_dashboard import dashboard
from controller.reconcilers.shop_grafana import (
    DEFAULT_LOKI_URL,
    DEFAULT_PROMETHEUS_URL,
    GrafanaError,
    dashboard_upload,
    datasource_bodies,
    failed_condition,
    grafana_settings,
    retry_delay,
    seconds_failing,
)


def test_no_grafana_url_means_no_grafana() -> None:
    assert grafana_settings({}) is None
    assert grafana_settings({"GRAFANA_URL": "  "}) is None


def test_upstream_defaults_and_a_hidden_password() -> None:
    settings = grafana_settings({"GRAFANA_URL": "http://grafana:3000/", "GRAFANA_ADMIN_PASSWORD": "s3cret-pw"})
    assert settings is not None
    assert settings.url == "http://grafana:3000"
    assert settings.user == "admin"
    assert (settings.prometheus_url, settings.loki_url) == (DEFAULT_PROMETHEUS_URL, DEFAULT_LOKI_URL)
    assert "s3cret-pw" not in repr(settings)


def test_datasources_have_upstream_uids_and_prometheus_is_default() -> None:
    settings = grafana_settings({"GRAFANA_URL": "http://g", "GRAFANA_PROMETHEUS_URL": "http://p:9090"})
    assert settings is not None
    bodies = {b["uid"]: b for b in datasource_bodies(settings)}
    assert bodies["prometheus"]["isDefault"] is True
    assert bodies["prometheus"]["url"] == "http://p:9090"
    assert bodies["P8E80F9AEF21F6940"]["type"] == "loki"
    assert bodies["P8E80F9AEF21F6940"]["isDefault"] is False


def test_upload_drops_the_id_without_touching_the_callers_dashboard() -> None:
    board = {**dashboard("ns", "tea"), "id": 7}
    body = dashboard_upload(board)
    assert "id" not in body["dashboard"]
    assert board["id"] == 7
    assert body["overwrite"] is True
    assert body["dashboard"]["uid"] == "shop-tea"


@pytest.mark.parametrize(("seconds", "delay"), [(0, 5), (3, 5), (42, 42), (10_000, 300)])
def test_retry_backs_off_with_time_failing(seconds: float, delay: float) -> None:
    assert retry_delay(seconds) == delay


@pytest.mark.parametrize(
    ("status", "reason"), [(0, "GrafanaUnreachable"), (401, "GrafanaUnauthorized"), (500, "GrafanaError")]
)
def test_failure_reasons(status: int, reason: str) -> None:
    condition = failed_condition(GrafanaError(status, "GET", "/api/x", "boom"))
    assert (condition.type, condition.status, condition.reason) == ("DashboardSynced", "False", reason)


@pytest.mark.parametrize(
    ("condition", "seconds"),
    [
        ({"type": "DashboardSynced", "status": "False", "lastTransitionTime": "2026-01-01T00:00:00Z"}, 90.0),
        ({"type": "DashboardSynced", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"}, 0.0),
        ({"type": "Available", "status": "False", "lastTransitionTime": "2026-01-01T00:00:00Z"}, 0.0),
        ({"type": "DashboardSynced", "status": "False", "lastTransitionTime": "garbage"}, 0.0),
    ],
)
def test_seconds_failing_reads_the_condition(condition: dict[str, str], seconds: float) -> None:
    now = datetime(2026, 1, 1, 0, 1, 30, tzinfo=UTC)
    assert seconds_failing({"status": {"conditions": [condition]}}, now) == seconds
