"""`tenantgate certs ensure`: exit status and output around the cluster shell (which has its own tests)."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from certs import cli
from certs.kube import EnsureResult, InjectionResult
from certs.rotation import next_bundle

pytestmark = pytest.mark.unit

BUNDLE, _ = next_bundle(None, dns_names=["svc"], now=datetime(2025, 1, 1, tzinfo=UTC))


def args(**overrides: Any) -> argparse.Namespace:
    values: dict[str, Any] = {
        "certs_command": "ensure",
        "namespace": "tenantgate-system",
        "secret": "tenantgate-webhook-tls",
        "service": "tenantgate-webhook",
        "cert_dir": None,
        "kubeconfig": None,
        "webhook_config": ["tenantgate"],
    }
    values.update(overrides)
    return argparse.Namespace(**values)


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    recorded: list[dict[str, Any]] = []
    monkeypatch.setattr(cli, "api_client", lambda kubeconfig: object())

    def fake_ensure(core: Any, admission: Any, **kwargs: Any) -> EnsureResult:
        recorded.append(kwargs)
        missing = tuple(n for n in kwargs["webhook_configurations"] if n == "absent")
        injection = InjectionResult(("MutatingWebhookConfiguration/tenantgate",), (), missing)
        return EnsureResult(BUNDLE, True, ("no certificates yet",), injection)

    monkeypatch.setattr(cli, "ensure_in_cluster", fake_ensure)
    return recorded


def test_ensure_passes_arguments_and_reports_changes(
    calls: list[dict[str, Any]], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert cli.run_cli(args(cert_dir=tmp_path)) == 0
    assert calls == [
        {
            "namespace": "tenantgate-system",
            "secret": "tenantgate-webhook-tls",
            "service": "tenantgate-webhook",
            "webhook_configurations": ["tenantgate"],
            "cert_dir": tmp_path,
        }
    ]
    out = capsys.readouterr().out
    assert "secret tenantgate-system/tenantgate-webhook-tls: written (no certificates yet)" in out
    assert "caBundle injected: MutatingWebhookConfiguration/tenantgate" in out


def test_missing_webhook_configuration_exits_1(calls: list[dict[str, Any]]) -> None:
    assert cli.run_cli(args(webhook_config=["tenantgate", "absent"])) == 1


def test_unreachable_cluster_exits_1(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    def refuse(kubeconfig: Path | None) -> object:
        raise OSError("connection refused")

    monkeypatch.setattr(cli, "api_client", refuse)
    assert cli.run_cli(args()) == 1
    assert "connection refused" in caplog.text
