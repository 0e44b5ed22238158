"""A real Kubernetes control plane on loopback: etcd, kube-apiserver and kube-controller-manager.

This is the project's envtest: the end-to-end tests and `tenantgate dev` both run against it, so admission,
CRD schemas, CEL, RBAC, impersonation, garbage collection and namespace deletion all behave as in a cluster.
There is no kubelet or scheduler: pods stay Pending, and tests write workload status as a node would.

Every process is started in its own session with a parent-death signal, so a crashed or killed Python process
does not leave an API server behind; `stop()` terminates them in reverse order and removes the state directory.
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import yaml

from certs.issue import KeyPair
from tenantgate.devcluster.audit import AUDIT_POLICY, ApiCall, parse_audit_log
from tenantgate.devcluster.build import Binaries, ensure_binaries
from tenantgate.devcluster.pki import CertificateAuthority, signing_key_pair, write_pair

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

SERVICE_CLUSTER_IP_RANGE = "10.0.0.0/16"
"""65,534 Service IPs: room for thousands of Apps (a /24 ran out at 253 Services)."""
KUBERNETES_SERVICE_IP = "10.0.0.1"
# The controllers a multi-tenant platform relies on in a real cluster; workload controllers are left out
# on purpose (no kubelet would run their pods anyway).
CONTROLLERS = (
    "garbage-collector-controller",
    "namespace-controller",
    "serviceaccount-controller",
    "clusterrole-aggregation-controller",
    "resourcequota-controller",
    "root-ca-certificate-publisher-controller",
)
START_TIMEOUT = float(os.environ.get("TENANTGATE_START_TIMEOUT", "180"))
_PR_SET_PDEATHSIG = 1


class CommandFailed(subprocess.CalledProcessError):
    """A kubectl or helm call that failed, saying what the command printed on stderr (the reason) as well."""

    def __str__(self) -> str:
        return f"{super().__str__()}\n{(self.stderr or '').strip()}"


class ControlPlaneError(RuntimeError):
    """The control plane failed to start; the message carries the tail of the failing process's log."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def die_with_parent() -> None:
    """Runs in the child before exec: ask the kernel to SIGTERM it when the parent goes away."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def terminate(popen: subprocess.Popen[bytes], sig: int = signal.SIGTERM, grace: float = 20) -> int:
    """Signal the process's whole group (it was started in its own session), then SIGKILL after `grace` s."""
    if popen.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(popen.pid, sig)
    try:
        return popen.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(popen.pid, signal.SIGKILL)
        return popen.wait(timeout=10)


def advertise_address() -> str | None:
    """The address the API server publishes for the `kubernetes` Service.

    Loopback is refused by the API server, and without a default route it cannot pick one itself. A UDP
    `connect` only asks the kernel for a route; it sends nothing.
    """
    override = os.environ.get("TENANTGATE_ADVERTISE_ADDRESS")
    if override:
        return override
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(("192.0.2.1", 9))
        except OSError:
            return None
        address = str(sock.getsockname()[0])
    return None if address.startswith("127.") else address


def kubeconfig_document(server: str, ca_pem: bytes, user: str, client: KeyPair | None) -> dict[str, Any]:
    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "tenantgate-dev", "cluster": {"server": server, "certificate-authority-data": b64(ca_pem)}}
        ],
        "users": [
            {
                "name": user,
                "user": {"client-certificate-data": b64(client.cert_pem), "client-key-data": b64(client.key_pem)}
                if client is not None
                else {},
            }
        ],
        "contexts": [{"name": "tenantgate-dev", "context": {"cluster": "tenantgate-dev", "user": user}}],
        "current-context": "tenantgate-dev",
    }


@dataclass
class _Process:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


class ControlPlane:
    """A running control plane. Use as a context manager, or call `start()` and `stop()`."""

    def __init__(
        self,
        binaries: Binaries | None = None,
        state_dir: Path | None = None,
        keep_state: bool = False,
        audit: bool = False,
    ) -> None:
        """`audit` keeps an audit log of every request at level Metadata (`audit_calls()` reads it)."""
        self.binaries = binaries or ensure_binaries()
        self.audit = audit
        self.state_dir = state_dir
        self.keep_state = keep_state
        self.server = ""
        self.kubeconfig = Path()
        self.startup_seconds = 0.0
        self._dir = Path()
        self._owns_dir = False
        self._ca: CertificateAuthority | None = None
        self._admin: KeyPair | None = None
        self._processes: list[_Process] = []
        self._apiserver_argv: list[str] = []

    # ---- lifecycle -------------------------------------------------------------------------------------

    def __enter__(self) -> ControlPlane:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> ControlPlane:
        started = time.monotonic()
        if self.state_dir is None:
            self._dir = Path(tempfile.mkdtemp(prefix="tenantgate-cp-"))
            self._owns_dir = not self.keep_state
        else:
            self._dir = self.state_dir
            self._dir.mkdir(parents=True, exist_ok=True)
        try:
            self._write_pki()
            etcd_url = self._start_etcd()
            self._start_apiserver(etcd_url)
            self._wait_ready()
            self._start_controller_manager()
            self._wait_for_default_service_account()
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - started
        return self

    def keep_state_on_stop(self) -> None:
        """Keep the state directory (logs, PKI, kubeconfig) when the control plane stops: something failed."""
        self._owns_dir = False

    def stop(self) -> None:
        # One at a time, newest first: an API server whose etcd vanished under it hangs in shutdown for ~20 s.
        for process in reversed(self._processes):
            terminate(process.popen)
        self._processes.clear()
        if self._owns_dir and self._dir.exists():
            shutil.rmtree(self._dir, ignore_errors=True)

    def restart_apiserver(self, sig: int = signal.SIGTERM) -> float:
        """Stop kube-apiserver and start it again with the same flags on the same port; etcd and the controller
        manager keep running, so every object survives and clients (watches included) must reconnect. `sig`
        SIGKILL drops connections at once, as a crash would. Seconds until the new server answered /readyz."""
        started = time.monotonic()
        old = self._process("kube-apiserver")
        terminate(old.popen, sig)
        position = self._processes.index(old)
        self._processes.remove(old)
        new = self._spawn("kube-apiserver", self._apiserver_argv)
        self._processes.remove(new)
        self._processes.insert(position, new)  # stop() still stops it before etcd
        self._wait_ready()
        return time.monotonic() - started

    # ---- start-up steps --------------------------------------------------------------------------------

    @property
    def directory(self) -> Path:
        return self._dir

    def _write_pki(self) -> None:
        pki = self._dir / "pki"
        pki.mkdir(exist_ok=True)
        self._ca = CertificateAuthority()
        (pki / "ca.crt").write_bytes(self._ca.cert_pem)
        serving = self._ca.serving(
            [
                "localhost",
                "kubernetes",
                "kubernetes.default",
                "kubernetes.default.svc",
                "kubernetes.default.svc.cluster.local",
            ],
            ["127.0.0.1", KUBERNETES_SERVICE_IP],
        )
        write_pair(serving, pki, "apiserver")
        write_pair(signing_key_pair(), pki, "sa")  # sa.crt holds the public key, sa.key the private key
        self._admin = self._ca.client("tenantgate-admin", ["system:masters"])
        write_pair(self._admin, pki, "admin")

    def _spawn(self, name: str, argv: list[str]) -> _Process:
        log = self._dir / f"{name}.log"
        with log.open("ab") as out:
            popen = subprocess.Popen(
                argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=die_with_parent,
                cwd=self._dir,
            )
        process = _Process(name, popen, log)
        self._processes.append(process)
        return process

    def _start_etcd(self) -> str:
        client, peer = free_port(), free_port()
        url = f"http://127.0.0.1:{client}"
        process = self._spawn(
            "etcd",
            [
                str(self.binaries.etcd),
                f"--data-dir={self._dir / 'etcd'}",
                f"--listen-client-urls={url}",
                f"--advertise-client-urls={url}",
                f"--listen-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-cluster=default=http://127.0.0.1:{peer}",
                "--unsafe-no-fsync=true",  # test data: durability buys nothing, fsync costs seconds
                "--log-level=warn",
            ],
        )
        self._poll(process, lambda: http_ok(f"{url}/health"), "etcd /health")
        return url

    def _start_apiserver(self, etcd_url: str) -> None:
        pki = self._dir / "pki"
        port = free_port()
        self.server = f"https://127.0.0.1:{port}"
        argv = [
            str(self.binaries.kube_apiserver),
            f"--etcd-servers={etcd_url}",
            "--bind-address=127.0.0.1",
            f"--secure-port={port}",
            f"--tls-cert-file={pki / 'apiserver.crt'}",
            f"--tls-private-key-file={pki / 'apiserver.key'}",
            f"--client-ca-file={pki / 'ca.crt'}",
            "--authorization-mode=RBAC",
            f"--service-account-issuer=https://127.0.0.1:{port}",
            f"--service-account-key-file={pki / 'sa.crt'}",
            f"--service-account-signing-key-file={pki / 'sa.key'}",
            f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
            "--allow-privileged=true",
            f"--cert-dir={pki}",
            "--profiling=false",
            "--v=1",
        ]
        if self.audit:
            policy = self._dir / "audit-policy.yaml"
            policy.write_text(yaml.safe_dump(AUDIT_POLICY))
            argv += [f"--audit-policy-file={policy}", f"--audit-log-path={self.audit_log}", "--audit-log-maxsize=0"]
        address = advertise_address()
        if address:
            argv.append(f"--advertise-address={address}")
        self._apiserver_argv = argv
        self._spawn("kube-apiserver", argv)
        self.kubeconfig = self._dir / "kubeconfig"
        self._write_kubeconfig(self.kubeconfig, "tenantgate-admin", self._admin_pair())

    @property
    def audit_log(self) -> Path:
        return self._dir / "audit.log"

    def audit_calls(self) -> list[ApiCall]:
        """Every completed resource request so far (the control plane must have been started with `audit`)."""
        with self.audit_log.open(encoding="utf-8") as lines:
            return list(parse_audit_log(lines))

    def _wait_ready(self) -> None:
        context = self._client_ssl_context(self._admin_pair())
        self._poll(
            self._process("kube-apiserver"),
            lambda: http_ok(f"{self.server}/readyz", context),
            "kube-apiserver /readyz",
        )

    def _start_controller_manager(self) -> None:
        assert self._ca is not None
        identity = self._ca.client("system:kube-controller-manager", ["system:masters"])
        kubeconfig = self._dir / "controller-manager.kubeconfig"
        self._write_kubeconfig(kubeconfig, "system:kube-controller-manager", identity)
        port = free_port()
        self._spawn(
            "kube-controller-manager",
            [
                str(self.binaries.kube_controller_manager),
                f"--kubeconfig={kubeconfig}",
                f"--authentication-kubeconfig={kubeconfig}",
                f"--authorization-kubeconfig={kubeconfig}",
                f"--controllers={','.join(CONTROLLERS)}",
                "--leader-elect=false",
                "--use-service-account-credentials=false",
                "--bind-address=127.0.0.1",
                f"--secure-port={port}",
                f"--cert-dir={self._dir / 'kcm-certs'}",
                f"--root-ca-file={self._dir / 'pki' / 'ca.crt'}",
                f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
                "--profiling=false",
                "--v=1",
            ],
        )

    def _wait_for_default_service_account(self) -> None:
        """Proves the controller manager works: it creates `default` ServiceAccounts as in a real cluster."""

        def exists() -> bool:
            result = self.kubectl("get", "serviceaccount", "default", "-n", "default", check=False, timeout=10)
            return result.returncode == 0

        self._poll(self._process("kube-controller-manager"), exists, "ServiceAccount default/default")

    def _admin_pair(self) -> KeyPair:
        if self._admin is None:
            raise ControlPlaneError("the control plane's PKI has not been written yet")
        return self._admin

    def _process(self, name: str) -> _Process:
        return next(p for p in self._processes if p.name == name)

    def _poll(self, process: _Process, ready: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if process.popen.poll() is not None:
                raise ControlPlaneError(
                    f"{process.name} exited with {process.popen.returncode} before {what}:\n{process.tail()}"
                )
            if ready():
                return
            time.sleep(0.1)
        raise ControlPlaneError(f"timed out after {START_TIMEOUT:.0f}s waiting for {what}:\n{process.tail()}")

    # ---- clients ---------------------------------------------------------------------------------------

    def _write_kubeconfig(self, path: Path, user: str, client: KeyPair) -> None:
        assert self._ca is not None
        path.write_text(yaml.safe_dump(kubeconfig_document(self.server, self._ca.cert_pem, user, client)))
        path.chmod(0o600)

    def _client_ssl_context(self, client: KeyPair) -> ssl.SSLContext:
        pki = self._dir / "pki"
        context = ssl.create_default_context(cafile=str(pki / "ca.crt"))
        cert, key = write_pair(client, pki, f".client-{os.getpid()}")
        context.load_cert_chain(str(cert), str(key))
        return context

    def mint_user(self, user: str, groups: Sequence[str] = ()) -> Path:
        """A kubeconfig authenticating as `user` with `groups`, by client certificate (no impersonation)."""
        assert self._ca is not None
        users = self._dir / "users"
        users.mkdir(exist_ok=True)
        path = users / f"{user.replace(':', '_')}-{len(list(users.iterdir()))}.kubeconfig"
        self._write_kubeconfig(path, user, self._ca.client(user, list(groups)))
        return path

    def service_account_kubeconfig(self, namespace: str, name: str, path: Path, duration: str = "48h") -> Path:
        """Write to `path` a kubeconfig authenticating as ServiceAccount `namespace/name` with a token from the
        TokenRequest API: the identity a pod of that ServiceAccount has, for a process run outside the cluster."""
        assert self._ca is not None
        token = self.kubectl("create", "token", name, "-n", namespace, f"--duration={duration}").stdout.strip()
        document = kubeconfig_document(self.server, self._ca.cert_pem, f"{namespace}:{name}", None)
        document["users"][0]["user"] = {"token": token}
        path.write_text(yaml.safe_dump(document))
        path.chmod(0o600)
        return path

    def environment(self) -> dict[str, str]:
        """Process environment for tools: our kubectl and helm first on PATH, our kubeconfig, a private helm home."""
        env = dict(os.environ)
        env["PATH"] = f"{self.binaries.directory}{os.pathsep}{env.get('PATH', '')}"
        env["KUBECONFIG"] = str(self.kubeconfig)
        helm_home = self._dir / "helm"
        env.update(
            HELM_CACHE_HOME=str(helm_home / "cache"),
            HELM_CONFIG_HOME=str(helm_home / "config"),
            HELM_DATA_HOME=str(helm_home / "data"),
        )
        return env

    def kubectl(
        self,
        *args: str,
        as_user: str | None = None,
        as_groups: Sequence[str] = (),
        stdin: str | None = None,
        check: bool = True,
        timeout: float = 120,
        kubeconfig: Path | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run the pinned kubectl as the admin, or impersonating `as_user` with `as_groups`."""
        argv = [str(self.binaries.kubectl), f"--kubeconfig={kubeconfig or self.kubeconfig}"]
        if as_user is not None:
            argv.append(f"--as={as_user}")
            argv += [f"--as-group={g}" for g in as_groups]
        elif as_groups:
            raise ValueError("impersonating groups needs a user (as_user)")
        return self._run([*argv, *args], stdin, check, timeout)

    def helm(
        self, *args: str, stdin: str | None = None, check: bool = True, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        return self._run([str(self.binaries.helm), f"--kubeconfig={self.kubeconfig}", *args], stdin, check, timeout)

    def _run(self, argv: list[str], stdin: str | None, check: bool, timeout: float) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            argv, input=stdin, capture_output=True, text=True, timeout=timeout, env=self.environment()
        )
        if check and result.returncode != 0:
            raise CommandFailed(result.returncode, argv, result.stdout, result.stderr)
        return result

    def api_client(self, kubeconfig: Path | None = None) -> ApiClient:
        """An official-client ApiClient for the admin (or for a minted user's kubeconfig)."""
        from kubernetes import client, config

        configuration = client.Configuration()
        config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=str(kubeconfig or self.kubeconfig), client_configuration=configuration
        )
        return client.ApiClient(configuration)

    def describe(self) -> dict[str, str]:
        return {"server": self.server, "kubeconfig": str(self.kubeconfig), "directory": str(self._dir)}


def http_ok(url: str, context: ssl.SSLContext | None = None) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2, context=context) as response:  # loopback only
            body = response.read()
            status: int = response.status
    except (urllib.error.URLError, OSError, ValueError):
        return False
    if url.endswith("/health"):
        with contextlib.suppress(ValueError):
            return bool(json.loads(body).get("health") == "true")
    return status == 200
