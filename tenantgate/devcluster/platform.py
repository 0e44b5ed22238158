"""tenantgate installed on a local control plane through its Helm chart, with the webhook and the controller as
local processes under the chart's own ServiceAccount identities.

Used by `tenantgate dev` and by the end-to-end tests, so both exercise what users install: `helm upgrade --install`
of `deploy/chart` (CRDs, RBAC, ServiceAccounts, both webhook configurations, the policy ConfigMap), with
`webhook.url` at a local webhook because a local control plane has no pods and no Service network. The webhook and
the controller run as real `tenantgate webhook` / `tenantgate controller` processes (the commands a container
runs) with tokens of the chart's ServiceAccounts from the TokenRequest API, so every API call they make is
authorised by the chart's generated RBAC, or fails.
"""

from __future__ import annotations

import base64
import os
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from tenantgate.chart import CHART_DIR, CONTROLLER_ACCOUNT, WEBHOOK_ACCOUNT
from tenantgate.devcluster.controlplane import (
    ControlPlane,
    ControlPlaneError,
    die_with_parent,
    free_port,
    http_ok,
    terminate,
)

OWN_NAMESPACE = "tenantgate-system"
RELEASE = "tenantgate"
REPO_ROOT = Path(__file__).resolve().parents[2]


class _Service:
    """One tenantgate process with its log file."""

    def __init__(self, name: str, argv: list[str], log: Path, env: dict[str, str]) -> None:
        self.name = name
        self.argv = argv
        self.log = log
        self.env = env
        self.popen: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.popen = subprocess.Popen(
                self.argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env,
                start_new_session=True,
                preexec_fn=die_with_parent,
            )

    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def stop(self, sig: int = signal.SIGTERM) -> int | None:
        if self.popen is None:
            return None
        code = terminate(self.popen, sig)
        self.popen = None
        return code

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


class LocalPlatform:
    """The chart installed (URL mode), webhook and controller processes under its identities, on a control plane."""

    def __init__(
        self,
        plane: ControlPlane,
        *,
        controller: bool = True,
        leader_election: bool = False,
        controller_env: Mapping[str, str] | None = None,
    ) -> None:
        """`leader_election` runs the controller as the chart does, holding a Lease (one local process needs none);
        `controller_env` adds settings to the controller's environment (for example where an external API is)."""
        self.plane = plane
        self.directory = plane.directory / "tenantgate"
        self.directory.mkdir(parents=True, exist_ok=True)
        self.cert_dir = self.directory / "webhook-certs"
        self.webhook_port = free_port()
        self.health_port = free_port()
        self.with_controller = controller
        self.webhook_kubeconfig = self.directory / "webhook.kubeconfig"
        self.controller_kubeconfig = self.directory / "controller.kubeconfig"
        env = dict(os.environ)
        env.setdefault("PYTHONUNBUFFERED", "1")
        self.webhook = _Service(
            "webhook",
            [
                sys.executable,
                "-m",
                "tenantgate.cli",
                "webhook",
                "--cert-dir",
                str(self.cert_dir),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.webhook_port),
                "--kubeconfig",
                str(self.webhook_kubeconfig),
            ],
            self.directory / "webhook.log",
            env,
        )
        self.controller = _Service(
            "controller",
            [
                sys.executable,
                "-m",
                "tenantgate.cli",
                "controller",
                "--kubeconfig",
                str(self.controller_kubeconfig),
                "--namespace",
                OWN_NAMESPACE,
                *([] if leader_election else ["--no-leader-elect"]),
            ],
            self.directory / "controller.log",
            # Every listener takes a free loopback port: a busy 8081 (another dev, any local service) must not
            # stop the controller, and nothing local is exposed beyond loopback.
            {**env, **(controller_env or {}), "TENANTGATE_HEALTH_ADDR": f"127.0.0.1:{self.health_port}"},
        )

    @property
    def webhook_url(self) -> str:
        return f"https://127.0.0.1:{self.webhook_port}"

    # ---- install ---------------------------------------------------------------------------------------

    def install(self) -> LocalPlatform:
        ca_bundle = self._ensure_certs()
        self.install_chart(ca_bundle)
        self.plane.service_account_kubeconfig(OWN_NAMESPACE, WEBHOOK_ACCOUNT, self.webhook_kubeconfig)
        self.plane.service_account_kubeconfig(OWN_NAMESPACE, CONTROLLER_ACCOUNT, self.controller_kubeconfig)
        self.start_webhook()
        if self.with_controller:
            self.controller.start()
        return self

    def install_chart(self, ca_bundle: bytes, *values: str) -> None:
        """`helm upgrade --install` of the repository's chart, pointing both webhook configurations at the local
        webhook; no workloads of its own run (the processes run locally). `values` are extra `--set` entries."""
        settings = [
            f"webhook.url={self.webhook_url}",
            f"webhook.caBundle={base64.b64encode(ca_bundle).decode()}",
            "controller.replicas=0",
            *values,
        ]
        args = ["upgrade", "--install", RELEASE, str(CHART_DIR), "--namespace", OWN_NAMESPACE, "--create-namespace"]
        for setting in settings:
            args += ["--set", setting]
        self.plane.helm(*args)

    def uninstall(self) -> None:
        """`helm uninstall`: everything of the release goes, but the CRDs (as Helm does) and tenant namespaces."""
        self.plane.helm("uninstall", RELEASE, "--namespace", OWN_NAMESPACE, "--ignore-not-found", "--wait")

    def _ensure_certs(self) -> bytes:
        from certs.files import ensure_local_certs

        bundle = ensure_local_certs(self.cert_dir, ["127.0.0.1", "localhost"])
        return bundle.ca_bundle_pem

    # ---- processes -------------------------------------------------------------------------------------

    def start_webhook(self, timeout: float = 60) -> None:
        self.webhook.start()
        context = ssl.create_default_context(cafile=str(self.cert_dir / "ca.crt"))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.webhook.running():
                raise ControlPlaneError(f"tenantgate webhook exited during start-up:\n{self.webhook.tail()}")
            if http_ok(f"{self.webhook_url}/readyz", context):
                return
            time.sleep(0.1)
        raise ControlPlaneError(f"tenantgate webhook not ready after {timeout:.0f}s:\n{self.webhook.tail()}")

    def stop(self) -> None:
        self.controller.stop()
        self.webhook.stop()

    def exited(self) -> list[_Service]:
        """The platform processes that were started and are no longer running."""
        started = [self.webhook, *([self.controller] if self.with_controller else [])]
        return [service for service in started if service.popen is not None and not service.running()]

    def __enter__(self) -> LocalPlatform:
        return self.install()

    def __exit__(self, *exc: object) -> None:
        self.stop()
