"""tenantgate installed on a local control plane: CRDs, RBAC, certificates, webhook and controller processes.

Used by `tenantgate dev` and by the end-to-end tests, so both exercise the same installation. The webhook and
the controller run as real `tenantgate webhook` / `tenantgate controller` processes (the commands a container
runs), reached by the API server through URL-mode webhook configurations, because a local control plane has no
Service network to route `clientConfig.service` through.
"""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import sys
import time
from pathlib import Path

import yaml

from tenantgate.devcluster.controlplane import (
    ControlPlane,
    ControlPlaneError,
    die_with_parent,
    free_port,
    http_ok,
    terminate,
)

OWN_NAMESPACE = "tenantgate-system"
# The identity the local webhook and controller authenticate as: the service account name the chart uses, so
# that the webhook configurations' "skip tenantgate itself" condition is exercised exactly as in a cluster.
OWN_USERNAME = f"system:serviceaccount:{OWN_NAMESPACE}:tenantgate"
REPO_ROOT = Path(__file__).resolve().parents[2]
RBAC_DIR = REPO_ROOT / "deploy" / "rbac"


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
    """CRDs, webhook configurations (URL mode), webhook and controller on top of a running control plane."""

    def __init__(self, plane: ControlPlane, *, controller: bool = True) -> None:
        self.plane = plane
        self.directory = plane.directory / "tenantgate"
        self.directory.mkdir(parents=True, exist_ok=True)
        self.cert_dir = self.directory / "webhook-certs"
        self.webhook_port = free_port()
        self.health_port = free_port()
        self.with_controller = controller
        self.kubeconfig = plane.mint_user(OWN_USERNAME, ["system:masters"])
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
                str(self.kubeconfig),
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
                str(self.kubeconfig),
                "--namespace",
                OWN_NAMESPACE,
                "--no-leader-elect",
            ],
            self.directory / "controller.log",
            # Every listener takes a free loopback port: a busy 8081 (another dev, any local service) must not
            # stop the controller, and nothing local is exposed beyond loopback.
            {**env, "TENANTGATE_HEALTH_ADDR": f"127.0.0.1:{self.health_port}"},
        )

    @property
    def webhook_url(self) -> str:
        return f"https://127.0.0.1:{self.webhook_port}"

    # ---- install ---------------------------------------------------------------------------------------

    def install(self) -> LocalPlatform:
        self.install_crds()
        self._apply_documents([{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": OWN_NAMESPACE}}])
        if RBAC_DIR.is_dir():
            self.plane.kubectl("apply", "-f", str(RBAC_DIR))
        self._ensure_certs()
        self.start_webhook()
        self.install_webhook_configurations()
        if self.with_controller:
            self.controller.start()
        return self

    def install_crds(self) -> None:
        from crds.generator import generate_crds

        documents = generate_crds()
        self._apply_documents(documents, server_side=True)
        names = [str(d["metadata"]["name"]) for d in documents]
        self.plane.kubectl("wait", "--for=condition=Established", "--timeout=60s", *[f"crd/{n}" for n in names])

    def _ensure_certs(self) -> bytes:
        from certs.files import ensure_local_certs

        bundle = ensure_local_certs(self.cert_dir, ["127.0.0.1", "localhost"])
        return bundle.ca_bundle_pem

    def install_webhook_configurations(self) -> None:
        from admission.configuration import RoutingOptions, WebhookEndpoint, webhook_configurations

        ca_bundle = self._ensure_certs()
        mutating, validating = webhook_configurations(
            WebhookEndpoint(url=self.webhook_url),
            ca_bundle,
            RoutingOptions(own_namespace=OWN_NAMESPACE, own_usernames=(OWN_USERNAME,)),
        )
        self._apply_documents([mutating, validating])

    def uninstall_webhook_configurations(self) -> None:
        from admission.configuration import MUTATING_NAME, VALIDATING_NAME

        self.plane.kubectl("delete", "mutatingwebhookconfiguration", MUTATING_NAME, "--ignore-not-found")
        self.plane.kubectl("delete", "validatingwebhookconfiguration", VALIDATING_NAME, "--ignore-not-found")

    def _apply_documents(self, documents: list[dict[str, object]], server_side: bool = False) -> None:
        stream = yaml.safe_dump_all(documents, sort_keys=False)
        args = ["apply", "-f", "-"]
        if server_side:
            args += ["--server-side", "--force-conflicts", "--field-manager=tenantgate"]
        self.plane.kubectl(*args, stdin=stream)

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


def describe(platform: LocalPlatform) -> str:
    return json.dumps(
        {"webhook": platform.webhook_url, "logs": str(platform.directory), "kubeconfig": str(platform.plane.kubeconfig)}
    )
