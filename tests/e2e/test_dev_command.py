"""The README's main command: `tenantgate dev` brings up everything and shows admission feedback."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.e2e


def test_dev_applies_the_example_and_shows_admission_feedback() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tenantgate.cli", "dev", "--exit-after-example"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "project.paas.kubeop.io/web created" in out
    assert 'Warning: spec.image "ghcr.io/acme/shop" is unpinned' in out
    assert '"availability":"standard","database":"postgres"' in out
    assert 'admission webhook "guardrails.tenantgate.io" denied the request' in out
    assert "allowed: ghcr.io/acme/, docker.io/library/" in out
    for child in ("deployment.apps/app-web", "service/app-web", "ingress.networking.k8s.io/app-web"):
        assert child in out  # the controller expanded the App
    assert "export KUBECONFIG=" in out
