"""Support for the controller's end-to-end tests: platform install, a controller process, polling, metrics.

Holds no tests itself. The controller runs as the real command (`tenantgate controller`) in a subprocess, so the
tests exercise the CLI, leader election and crash-restarts exactly as a deployment would.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from controller.rbac import tenant_admin_cluster_role
from tenantgate.devcluster import ControlPlane
from tenantgate.devcluster.controlplane import free_port
from tenantgate.devcluster.platform import OWN_NAMESPACE, RELEASE

REPO = Path(__file__).resolve().parents[2]
CRD_DIR = REPO / "deploy" / "chart" / "crds"
TENANTGATE = Path(sys.executable).parent / "tenantgate"
TENANT_USERS_GROUP = "e2e-tenant-users"

LEASE_NAMESPACE = "tenantgate-system"
"""Where controller e2e tests put the leader Lease (tenantgate's own namespace, as in the chart)."""


def eventually(check: Callable[[], Any], timeout: float = 60, interval: float = 0.5, what: str = "") -> Any:
    """Poll until `check()` returns something truthy, and return it."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"not within {timeout}s: {what or check.__doc__ or check} (last: {last!r})")


def get_json(cluster: ControlPlane, *args: str) -> dict[str, Any] | None:
    result = cluster.kubectl("get", *args, "-o", "json", check=False)
    if result.returncode != 0:
        return None
    loaded = json.loads(result.stdout)
    return loaded if isinstance(loaded, dict) else None


def apply(
    cluster: ControlPlane, *documents: dict[str, Any], as_user: str | None = None, as_groups: tuple[str, ...] = ()
) -> None:
    cluster.kubectl("apply", "-f", "-", stdin=yaml.safe_dump_all(documents), as_user=as_user, as_groups=as_groups)


def tenant(name: str, owners: list[dict[str, str]] | None = None, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"name": name.title(), **spec}
    if owners:
        body["owners"] = owners
    return {"apiVersion": "paas.kubeop.io/v1alpha1", "kind": "Tenant", "metadata": {"name": name}, "spec": body}


def project(name: str, tenant_ref: str, spec_name: str | None = None, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "paas.kubeop.io/v1alpha1",
        "kind": "Project",
        "metadata": {"name": name},
        "spec": {"tenantRef": tenant_ref, "name": spec_name or name, **spec},
    }


def crd_documents() -> list[dict[str, Any]]:
    """The CRDs from the chart, or generated from the models when the chart has none yet."""
    files = sorted(CRD_DIR.glob("*.yaml")) if CRD_DIR.is_dir() else []
    if files:
        return [doc for f in files for doc in yaml.safe_load_all(f.read_text()) if doc]
    from crds.generator import generate_crds

    return generate_crds()


def adoptable_by_the_chart(obj: dict[str, Any]) -> dict[str, Any]:
    """`obj` with the ownership metadata of the chart's release: the chart also installs it, and a later
    `helm install` in the same session adopts an object so marked instead of refusing to overwrite it."""
    metadata = obj.setdefault("metadata", {})
    metadata.setdefault("labels", {})["app.kubernetes.io/managed-by"] = "Helm"
    metadata.setdefault("annotations", {}).update(
        {"meta.helm.sh/release-name": RELEASE, "meta.helm.sh/release-namespace": OWN_NAMESPACE}
    )
    return obj


def install_platform(cluster: ControlPlane, lease_namespace: str) -> None:
    """CRDs, the tenant-admin ClusterRole, the Lease namespace, and RBAC letting test users manage tenancy."""
    documents = crd_documents()
    apply(cluster, *documents)
    for doc in documents:
        cluster.kubectl("wait", "--for=condition=Established", f"crd/{doc['metadata']['name']}", "--timeout=60s")
    apply(
        cluster,
        adoptable_by_the_chart(tenant_admin_cluster_role()),
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": lease_namespace}},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": "e2e-tenancy-user"},
            "rules": [
                {
                    "apiGroups": ["paas.kubeop.io"],
                    "resources": ["tenants", "projects"],
                    "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"],
                }
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "e2e-tenancy-user"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "e2e-tenancy-user"},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": TENANT_USERS_GROUP}],
        },
    )


class ControllerProcess:
    """`tenantgate controller` in a subprocess, with its /metrics and /readyz on a free loopback port."""

    def __init__(
        self,
        cluster: ControlPlane,
        lease_namespace: str,
        identity: str,
        log_dir: Path,
        lease_duration: float = 15.0,
        extra_env: dict[str, str] | None = None,
        kubeconfig: Path | None = None,
    ) -> None:
        self.cluster = cluster
        self.lease_namespace = lease_namespace
        self.identity = identity
        self.port = free_port()
        self.log_path = log_dir / f"controller-{identity}.log"
        self.lease_duration = lease_duration
        self.extra_env = extra_env or {}
        self.kubeconfig = kubeconfig or cluster.kubeconfig
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> ControllerProcess:
        self.launch()
        eventually(self.ready, timeout=60, what=f"controller {self.identity} /readyz")
        return self

    def launch(self) -> ControllerProcess:
        """Start the process without waiting for it to be ready (a standby warming up)."""
        env = dict(os.environ)
        env.update(
            TENANTGATE_HEALTH_ADDR=f"127.0.0.1:{self.port}",
            TENANTGATE_IDENTITY=self.identity,
            TENANTGATE_LEASE_DURATION=str(self.lease_duration),
            TENANTGATE_RENEW_DEADLINE=str(self.lease_duration * 2 / 3),
            TENANTGATE_RETRY_PERIOD=str(max(self.lease_duration / 7.5, 0.5)),
            **self.extra_env,
        )
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    str(TENANTGATE),
                    "--log-level",
                    "INFO",
                    "controller",
                    "--kubeconfig",
                    str(self.kubeconfig),
                    "--namespace",
                    self.lease_namespace,
                    "--workers",
                    "4",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                cwd=REPO,
            )
        return self

    def _get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=5) as response:
                return int(response.status), response.read().decode()
        except OSError as error:
            status = getattr(error, "code", 0)
            return int(status or 0), ""

    def ready(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise AssertionError(f"controller {self.identity} exited:\n{self.log_tail()}")
        return self._get("/readyz")[0] == 200

    def metrics(self) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        status, text = self._get("/metrics")
        assert status == 200, f"/metrics answered {status}"
        samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
        for line in text.splitlines():
            if not line or line.startswith("#"):
                continue
            series, _, value = line.rpartition(" ")
            name, _, labels = series.partition("{")
            pairs = frozenset(
                (k, v.strip('"')) for k, _, v in (p.partition("=") for p in labels.rstrip("}").split(",") if p)
            )
            samples[(name, pairs)] = float(value)
        return samples

    def sum_metric(self, name: str, predicate: Callable[[dict[str, str]], bool] = lambda _: True) -> float:
        return sum(v for (n, labels), v in self.metrics().items() if n == name and predicate(dict(labels)))

    def writes(self) -> float:
        """API writes other than leader-election Lease renewals."""
        return self.sum_metric("tenantgate_controller_api_writes_total", lambda labels: labels["resource"] != "leases")

    def is_leader(self) -> bool:
        return self.sum_metric("tenantgate_controller_leader") == 1

    def kill(self) -> None:
        """SIGKILL: no graceful shutdown, the Lease is not released (a crash)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)

    def restart_after_crash(self, identity: str) -> ControllerProcess:
        """Kill this replica (SIGKILL) and start a fresh one in its place, as a Deployment would after a crash."""
        self.kill()
        self.identity = identity
        self.port = free_port()
        self.log_path = self.log_path.with_name(f"controller-{identity}.log")
        return self.start()

    def stop(self) -> int | None:
        """SIGTERM and wait: graceful shutdown."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)
        return self.process.returncode

    def log_tail(self, lines: int = 40) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def errors(self) -> list[str]:
        """Log lines at error level (a crash-free run has none)."""
        found = []
        with contextlib.suppress(OSError):
            for line in self.log_path.read_text(errors="replace").splitlines():
                with contextlib.suppress(ValueError):
                    entry = json.loads(line)
                    if isinstance(entry, dict) and entry.get("level") in ("error", "critical"):
                        found.append(line)
        return found
