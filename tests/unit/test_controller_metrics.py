"""Prometheus text rendering, JSON log lines, the controller CLI's settings, and the tenant-admin ClusterRole file."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import pytest

from controller.cli import config_from_args
from controller.events import EventRecorder, build_event
from controller.logs import JsonFormatter, fields
from controller.metrics import Metrics
from controller.rbac import tenant_admin_cluster_role

pytestmark = pytest.mark.unit


def test_metrics_render_in_prometheus_text_format() -> None:
    metrics = Metrics()
    metrics.reconcile_total.inc("Project", "success")
    metrics.reconcile_total.inc("Project", "success")
    metrics.api_writes.inc("apply", "resourcequotas")
    metrics.api_writes.inc("update", "leases")
    metrics.reconcile_duration.observe("Project", value=0.02)
    metrics.queue_depth.set_function("Project", function=lambda: 3)
    text = metrics.render()
    assert "# TYPE tenantgate_controller_reconcile_total counter" in text
    assert 'tenantgate_controller_reconcile_total{kind="Project",result="success"} 2' in text
    assert 'tenantgate_controller_queue_depth{kind="Project"} 3' in text
    assert 'tenantgate_controller_reconcile_duration_seconds_bucket{kind="Project",le="0.025"} 1' in text
    assert 'tenantgate_controller_reconcile_duration_seconds_bucket{kind="Project",le="+Inf"} 1' in text
    assert 'tenantgate_controller_reconcile_duration_seconds_count{kind="Project"} 1' in text
    assert metrics.writes() == 1, "lease renewals are not counted as steady-state writes"
    assert text.endswith("\n")


def test_label_values_are_escaped() -> None:
    metrics = Metrics()
    metrics.api_errors.inc('4"0\\4\n')
    assert 'code="4\\"0\\\\4\\n"' in metrics.render()


def test_json_log_line_carries_kind_namespace_and_name() -> None:
    record = logging.LogRecord("controller", logging.INFO, __file__, 1, "reconciled", None, None)
    for key, value in fields("Project", "ns1/web", result="success").items():
        setattr(record, key, value)
    line = json.loads(JsonFormatter().format(record))
    assert line["msg"] == "reconciled"
    assert line["level"] == "info"
    assert (line["kind"], line["namespace"], line["name"], line["result"]) == ("Project", "ns1", "web", "success")
    assert line["logger"] == "controller"


def test_cli_settings_come_from_arguments_and_environment() -> None:
    args = argparse.Namespace(kubeconfig=Path("/k"), workers=2, namespace="ops", no_leader_elect=True, log_level="INFO")
    config = config_from_args(
        args,
        {
            "TENANTGATE_HEALTH_ADDR": "127.0.0.1:9999",
            "TENANTGATE_LEASE_DURATION": "5",
            "TENANTGATE_RECONCILERS": "project, tenant",
        },
    )
    assert config.kubeconfig == Path("/k")
    assert config.workers == 2
    assert config.lease_namespace == "ops"
    assert config.leader_elect is False
    assert (config.health_host, config.health_port) == ("127.0.0.1", 9999)
    assert config.lease_duration == 5.0
    assert config.reconcilers == ["project", "tenant"]


def test_events_are_about_the_object_and_name_the_reporting_controller() -> None:
    project = {
        "apiVersion": "paas.kubeop.io/v1alpha1",
        "kind": "Project",
        "metadata": {"name": "web", "uid": "u", "resourceVersion": "7"},
    }
    event = build_event(project, "Normal", "Created", "Created Namespace x", "Create", "pod-1", suffix="abc")
    assert event["metadata"] == {"name": "web.abc", "namespace": "default"}
    assert event["reportingController"] == "tenantgate.io/controller"
    assert event["regarding"]["kind"] == "Project"
    assert "namespace" not in event["regarding"]
    assert event["eventTime"].endswith("Z")
    assert "." in event["eventTime"]


def test_event_recorder_does_not_repeat_itself_within_the_window() -> None:
    now = [0.0]
    recorder = EventRecorder(client=None, dedupe_seconds=60, clock=lambda: now[0])  # type: ignore[arg-type]
    obj = {"metadata": {"uid": "u"}}
    assert recorder.should_emit(obj, "Warning", "ReconcileFailed", "boom")
    assert not recorder.should_emit(obj, "Warning", "ReconcileFailed", "boom")
    assert recorder.should_emit(obj, "Warning", "ReconcileFailed", "other")
    now[0] = 61
    assert recorder.should_emit(obj, "Warning", "ReconcileFailed", "boom")


def test_tenant_admins_run_workloads_and_only_read_network_policies() -> None:
    rules = tenant_admin_cluster_role()["rules"]
    assert any("deployments" in r["resources"] and "create" in r["verbs"] for r in rules)
    network = [r for r in rules if "networkpolicies" in r["resources"]]
    assert network
    assert all(set(r["verbs"]) <= {"get", "list", "watch"} for r in network), "guardrails are read-only"


def test_controller_command_defaults_to_sixteen_workers() -> None:
    from tenantgate.cli import build_parser

    args = build_parser().parse_args(["controller"])
    assert args.workers == 16
    assert config_from_args(args, {}).workers == 16
    assert config_from_args(argparse.Namespace(), {}).workers == 16
