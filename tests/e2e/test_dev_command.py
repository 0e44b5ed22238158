"""The README's main command: `tenantgate dev` brings up everything and shows admission feedback.

It must not fall over on a busy machine: two of them run at once here, while something else holds the port the
controller's health server would take in a cluster (8081). Each listener `dev` starts takes a free loopback port.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest

pytestmark = pytest.mark.e2e


@contextlib.contextmanager
def port_8081_busy() -> Iterator[None]:
    """Hold 0.0.0.0:8081 for the duration (if something else already holds it, it is busy anyway)."""
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        with contextlib.suppress(OSError):
            holder.bind(("0.0.0.0", 8081))
            holder.listen()
        yield
    finally:
        holder.close()


def test_two_concurrent_devs_apply_the_example_and_show_admission_feedback_with_8081_busy() -> None:
    command = [sys.executable, "-m", "tenantgate.cli", "dev", "--exit-after-example"]
    with port_8081_busy():
        runs = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
        outputs = [run.communicate(timeout=900) for run in runs]
    for run, (out, err) in zip(runs, outputs, strict=True):
        assert run.returncode == 0, out + err
        assert "project.paas.kubeop.io/web created" in out
        assert 'Warning: spec.image "ghcr.io/acme/shop" is unpinned' in out
        assert '"availability":"standard","database":"postgres"' in out
        assert 'admission webhook "guardrails.tenantgate.io" denied the request' in out
        assert "allowed: ghcr.io/acme/, docker.io/library/" in out
        for child in ("deployment.apps/app-web", "service/app-web", "ingress.networking.k8s.io/app-web"):
            assert child in out  # the controller expanded the App
        assert "export KUBECONFIG=" in out
    first, second = (out.split("export KUBECONFIG=")[1].split()[0] for out, _ in outputs)
    assert first != second, "each dev runs its own control plane"
