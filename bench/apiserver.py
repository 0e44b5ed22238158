"""Admission through the real API server: what tenantgate's webhooks add to a tenant's writes, and where it goes.

    .venv/bin/python -m bench apiserver [--quick] [--creates N] [--concurrency 1 16] [--rounds 2] [--no-write]

Why it is built this way:
- One local control plane (`tenantgate.devcluster.ControlPlane`) with the chart installed and the real webhook
  process serving it (`LocalPlatform`, no controller), so the only thing that changes between phases is whether
  the API server calls the webhooks. Phases "with" and "without" alternate (with, without, with, without ...)
  by deleting and re-creating the two webhook configurations the chart installed; after each switch a probe
  Shop is created until the API server visibly does (or no longer does) call the webhook (the tenancy labels
  appear or not), so no phase measures a half-switched server.
- The writer is a tenant owner authenticated by its own client certificate (`mint_user`), creating Pods and
  Shops in its project namespace with aiohttp straight against the API server (no kubectl), C writers sharing
  one keep-alive connection pool. Every create must answer 201; the objects of a phase are deleted (untimed,
  with the webhooks in the same state) before the next one, so every phase starts from the same store.
- Latency is per create, from sending the request to the end of the answer; throughput is creates per second
  over the phase. Reported: p50 and p99 with and without (pooled over rounds), the added p50/p99, and the
  throughput ratio, per (kind, concurrency).
- The breakdown of one call comes from three clocks scraped around every "with" phase: the API server's own
  request duration for the create (`apiserver_request_duration_seconds`), its view of each webhook call
  (`apiserver_admission_webhook_admission_duration_seconds`: connection, TLS, HTTP and the webhook's answer)
  and tenantgate's handler time (`tenantgate_webhook_request_duration_seconds`: from the handler's first line
  to the answer built). Means from the histograms' `_sum`/`_count`. Connections from the API server to the
  webhook are counted from /proc/net/tcp during the phase (distinct client ports seen), and the ALPN protocol
  the webhook agrees to is checked, so connection reuse and HTTP version are measured, not assumed. A direct
  keep-alive client posting an equivalent review straight to the webhook gives the floor of one call
  (loopback, TLS, HTTP, handler) without the API server.
- Bounded: N creates per (kind, concurrency, phase) (default 2000, `--quick` 100), every process started is
  stopped on exit; loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import math
import re
import ssl
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from bench.report import Table, load_average, render, write_section

TITLE = "Admission through the API server"
USER = "alice@acme.example"
TENANT = "acme"
NAMESPACE = "kubeop-acme-web"
SHOP_API = "/apis/apps.shophub.local/v1"
KINDS = ("Pod", "Shop")
TENANT_LABEL = "app.kubeop.io/tenant"
WEBHOOK_KINDS = ("mutatingwebhookconfigurations", "validatingwebhookconfigurations")
ADMISSION_API = "/apis/admissionregistration.k8s.io/v1"
SERVER_FIELDS = ("uid", "resourceVersion", "creationTimestamp", "generation", "managedFields")


# ---- objects ---------------------------------------------------------------------------------------------


def pod(name: str) -> dict[str, Any]:
    """A Pod a tenant would write: an allowed registry, the restricted security context, resources set."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": NAMESPACE, "labels": {"app": "bench"}},
        "spec": {
            "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [
                {
                    "name": "web",
                    "image": f"ghcr.io/{TENANT}/web:1.0",
                    "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"memory": "32Mi"}},
                    "securityContext": {
                        "allowPrivilegeEscalation": False,
                        "runAsNonRoot": True,
                        "capabilities": {"drop": ["ALL"]},
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                }
            ],
        },
    }


def shop(name: str) -> dict[str, Any]:
    """A Shop as the shophub backend sends it: availability and database left to tenantgate's defaults."""
    return {
        "apiVersion": "apps.shophub.local/v1",
        "kind": "Shop",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {"title": "Corner Shop", "walletAddress": "0x27b1fdb04752bbc536007a920d24acb045561c26"},
    }


def collection_path(kind: str) -> str:
    return f"/api/v1/namespaces/{NAMESPACE}/pods" if kind == "Pod" else f"{SHOP_API}/namespaces/{NAMESPACE}/shops"


def make(kind: str, name: str) -> dict[str, Any]:
    return pod(name) if kind == "Pod" else shop(name)


def tenancy_objects() -> list[dict[str, Any]]:
    role = "bench-tenant-owner"
    return [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": role},
            "rules": [
                {"apiGroups": ["paas.kubeop.io", "apps.shophub.local"], "resources": ["*"], "verbs": ["*"]},
                {"apiGroups": [""], "resources": ["pods"], "verbs": ["*"]},
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": role},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": USER}],
        },
        {
            "apiVersion": "paas.kubeop.io/v1alpha1",
            "kind": "Tenant",
            "metadata": {"name": TENANT},
            "spec": {
                "name": "Acme",
                "owners": [{"kind": "User", "name": USER}],
                "allowedRegistries": {"exact": [f"ghcr.io/{TENANT}"]},
                "allowedDomains": [f"*.{TENANT}.example"],
            },
        },
        {
            "apiVersion": "paas.kubeop.io/v1alpha1",
            "kind": "Project",
            "metadata": {"name": f"{TENANT}-web"},
            "spec": {"tenantRef": TENANT, "name": "web"},
        },
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": NAMESPACE, "labels": {TENANT_LABEL: TENANT, "app.kubeop.io/project": "web"}},
        },
    ]


# ---- statistics and metrics ----------------------------------------------------------------------------


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (no interpolation: with 2,000 samples the rank is the measurement)."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(fraction * len(ordered))))
    return ordered[rank - 1]


_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def metric_total(text: str, metric: str, /, **labels: str) -> float:
    """Sum of every sample of `name` whose labels include `labels` (a prefix match on values ending in `*`)."""
    total = 0.0
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if not match or match.group(1) != metric:
            continue
        found = dict(_LABEL.findall(match.group(3) or ""))
        if all(_label_matches(found.get(key), wanted) for key, wanted in labels.items()):
            total += float(match.group(4))
    return total


def _label_matches(value: str | None, wanted: str) -> bool:
    if value is None:
        return False
    return value.startswith(wanted[:-1]) if wanted.endswith("*") else value == wanted


@dataclass(frozen=True)
class Clock:
    """Seconds and calls of one histogram between two scrapes."""

    seconds: float
    calls: float

    @property
    def mean_ms(self) -> float:
        return self.seconds / self.calls * 1e3 if self.calls else float("nan")


def clock(before: str, after: str, metric: str, /, **labels: str) -> Clock:
    seconds = metric_total(after, f"{metric}_sum", **labels) - metric_total(before, f"{metric}_sum", **labels)
    calls = metric_total(after, f"{metric}_count", **labels) - metric_total(before, f"{metric}_count", **labels)
    return Clock(seconds, calls)


def established_peers(port: int, tables: Sequence[Path] = (Path("/proc/net/tcp"), Path("/proc/net/tcp6"))) -> set[str]:
    """Remote `address:port` of every ESTABLISHED TCP connection to local `port` (the kernel's own table)."""
    peers = set()
    for table in tables:
        with contextlib.suppress(OSError):
            for line in table.read_text().splitlines()[1:]:
                fields = line.split()
                local, remote, state = fields[1], fields[2], fields[3]
                if state == "01" and int(local.rsplit(":", 1)[1], 16) == port:
                    peers.add(remote)
    return peers


class ConnectionWatch:
    """Samples the connections to the webhook every 50 ms in a thread: how many the API server opens per phase."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.seen: set[str] = set()
        self.initial: set[str] = set()
        self.most = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            peers = established_peers(self.port)
            self.seen |= peers
            self.most = max(self.most, len(peers))
            self._stop.wait(0.05)

    @property
    def opened(self) -> int:
        """Connections that were not open when the phase began: what the phase cost in TCP and TLS handshakes."""
        return len(self.seen - self.initial)

    def __enter__(self) -> ConnectionWatch:
        self.initial = established_peers(self.port)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far, from /proc (clock ticks)."""
    import os

    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def processes(platform: Any) -> dict[str, int]:
    """The processes on the write path, by name: the API server, etcd, tenantgate's webhook and this client."""
    import os

    found = {process.name: process.popen.pid for process in platform.plane._processes}
    pids = {"kube-apiserver": found["kube-apiserver"], "etcd": found["etcd"], "client": os.getpid()}
    if platform.webhook.popen is not None:
        pids["webhook"] = platform.webhook.popen.pid
    return pids


def cpu_snapshot(pids: dict[str, int]) -> dict[str, float]:
    return {name: cpu_seconds(pid) for name, pid in pids.items()}


# ---- the API server client -----------------------------------------------------------------------------


@dataclass
class Identity:
    """Server URL, TLS context and headers from a kubeconfig: an embedded client certificate or a bearer token."""

    server: str
    context: ssl.SSLContext
    token: str | None = None

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def session(self, limit: int) -> aiohttp.ClientSession:
        return aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=self.context, limit=limit), headers=self.headers
        )


def identity(kubeconfig: Path, scratch: Path) -> Identity:
    document = yaml.safe_load(kubeconfig.read_text())
    cluster = document["clusters"][0]["cluster"]
    user = document["users"][0]["user"]
    context = ssl.create_default_context(cadata=base64.b64decode(cluster["certificate-authority-data"]).decode())
    if "token" in user:
        return Identity(cluster["server"], context, user["token"])
    name = kubeconfig.stem
    cert, key = scratch / f"{name}.crt", scratch / f"{name}.key"
    cert.write_bytes(base64.b64decode(user["client-certificate-data"]))
    key.write_bytes(base64.b64decode(user["client-key-data"]))
    key.chmod(0o600)
    context.load_cert_chain(str(cert), str(key))
    return Identity(cluster["server"], context)


@dataclass
class Phase:
    kind: str
    concurrency: int
    webhooks: bool
    latencies: list[float]
    seconds: float
    connections: int = 0
    most_connections: int = 0
    clocks: dict[str, Clock] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)

    @property
    def throughput(self) -> float:
        return len(self.latencies) / self.seconds


async def create_many(
    session: aiohttp.ClientSession, server: str, kind: str, names: Sequence[str], concurrency: int
) -> tuple[list[float], float]:
    """Create every object, `concurrency` at a time; (latency of each, wall seconds). Anything but 201 fails."""
    url = server + collection_path(kind)
    queue = list(reversed(names))
    latencies: list[float] = []

    async def writer() -> None:
        while queue:
            body = json.dumps(make(kind, queue.pop())).encode()
            started = time.perf_counter()
            async with session.post(url, data=body, headers={"Content-Type": "application/json"}) as response:
                answer = await response.read()
                latencies.append(time.perf_counter() - started)
                if response.status != 201:
                    raise RuntimeError(f"create {kind} answered {response.status}: {answer[:500]!r}")

    started = time.perf_counter()
    await asyncio.gather(*(writer() for _ in range(concurrency)))
    return latencies, time.perf_counter() - started


async def delete_all(session: aiohttp.ClientSession, server: str, kind: str) -> None:
    """Delete the phase's objects and wait until the collection is empty (nothing carries over)."""
    url = server + collection_path(kind)
    async with session.delete(url) as response:
        if response.status != 200:
            raise RuntimeError(f"delete {kind} collection answered {response.status}: {await response.text()}")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        async with session.get(url, params={"limit": "1"}) as response:
            if not (await response.json())["items"]:
                return
        await asyncio.sleep(0.2)
    raise RuntimeError(f"{kind} objects still there 120 s after the delete")


async def get_text(session: aiohttp.ClientSession, url: str) -> str:
    async with session.get(url) as response:
        response.raise_for_status()
        return await response.text()


# ---- webhook registration ------------------------------------------------------------------------------


class Registration:
    """tenantgate's two webhook configurations, taken out of the API server and put back between phases."""

    def __init__(self, admin: aiohttp.ClientSession, server: str) -> None:
        self.admin = admin
        self.server = server
        self.saved: dict[str, list[dict[str, Any]]] = {}
        self.registered = True

    async def load(self) -> None:
        for plural in WEBHOOK_KINDS:
            async with self.admin.get(f"{self.server}{ADMISSION_API}/{plural}") as response:
                items = (await response.json())["items"]
            ours = [item for item in items if item["metadata"]["name"].startswith("tenantgate")]
            if not ours:
                raise RuntimeError(f"no tenantgate {plural} installed")
            for item in ours:
                for key in SERVER_FIELDS:
                    item["metadata"].pop(key, None)
            self.saved[plural] = ours

    def timeout_seconds(self) -> list[int]:
        return sorted(
            {hook.get("timeoutSeconds", 10) for items in self.saved.values() for i in items for hook in i["webhooks"]}
        )

    async def set(self, registered: bool) -> None:
        if registered == self.registered:
            return
        for plural, items in self.saved.items():
            for item in items:
                if registered:
                    async with self.admin.post(f"{self.server}{ADMISSION_API}/{plural}", json=item) as response:
                        if response.status != 201:
                            raise RuntimeError(f"re-create {plural}: {response.status} {await response.text()}")
                else:
                    name = item["metadata"]["name"]
                    async with self.admin.delete(f"{self.server}{ADMISSION_API}/{plural}/{name}") as response:
                        if response.status != 200:
                            raise RuntimeError(f"delete {plural}/{name}: {response.status} {await response.text()}")
        self.registered = registered


async def wait_for_admission(session: aiohttp.ClientSession, server: str, expected: bool) -> None:
    """Create probe Shops until the API server calls the webhook (tenancy label added) or no longer does."""
    url = server + collection_path("Shop")
    deadline = time.monotonic() + 60
    attempt = 0
    while time.monotonic() < deadline:
        attempt += 1
        name = f"probe-{int(time.time() * 1000)}-{attempt}"
        async with session.post(url, json=shop(name)) as response:
            body = await response.json()
        if response.status == 201:
            async with session.delete(f"{url}/{name}"):
                pass
            if (TENANT_LABEL in body["metadata"].get("labels", {})) == expected:
                return
        await asyncio.sleep(0.2)
    raise RuntimeError(f"the API server did not switch its webhooks {'on' if expected else 'off'} within 60 s")


# ---- the direct floor ----------------------------------------------------------------------------------


async def direct_floor(url: str, ca_file: Path, body: bytes, calls: int) -> list[float]:
    """Latency of posting one review straight to the webhook over one keep-alive TLS connection, one at a time."""
    context = ssl.create_default_context(cafile=str(ca_file))
    connector = aiohttp.TCPConnector(ssl=context, limit=1)
    latencies = []
    async with aiohttp.ClientSession(connector=connector) as session:
        for _ in range(calls + 20):
            started = time.perf_counter()
            async with session.post(url, data=body, headers={"Content-Type": "application/json"}) as response:
                answer = await response.json()
            latencies.append(time.perf_counter() - started)
            if not answer["response"]["allowed"]:
                raise RuntimeError(f"the webhook did not allow the floor's review: {answer}")
    return latencies[20:]


def pod_review(uid: str) -> bytes:
    """The AdmissionReview the API server sends to `/validate` for one of the benchmark's Pod creates."""
    obj = pod("floor")
    return json.dumps(
        {
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "request": {
                "uid": uid,
                "kind": {"group": "", "version": "v1", "kind": "Pod"},
                "resource": {"group": "", "version": "v1", "resource": "pods"},
                "requestKind": {"group": "", "version": "v1", "kind": "Pod"},
                "requestResource": {"group": "", "version": "v1", "resource": "pods"},
                "name": "floor",
                "namespace": NAMESPACE,
                "operation": "CREATE",
                "userInfo": {"username": USER, "groups": ["system:authenticated"]},
                "object": obj,
                "oldObject": None,
                "dryRun": False,
                "options": {"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions"},
            },
        }
    ).encode()


def negotiated_protocol(port: int, ca_file: Path) -> str:
    """What the webhook agrees to when offered HTTP/2 first, as the API server's Go client offers it."""
    import socket

    context = ssl.create_default_context(cafile=str(ca_file))
    context.set_alpn_protocols(["h2", "http/1.1"])
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        return tls.selected_alpn_protocol() or "none"


# ---- the run -------------------------------------------------------------------------------------------


@dataclass
class Settings:
    creates: int
    concurrencies: list[int]
    rounds: int


def settings_from(quick: bool, extra: argparse.Namespace) -> Settings:
    creates = extra.creates if extra.creates is not None else (100 if quick else 2000)
    return Settings(creates, list(extra.concurrency), 1 if quick and extra.rounds == 2 else extra.rounds)


@contextlib.contextmanager
def local_platform() -> Iterator[Any]:
    from tenantgate.devcluster import ControlPlane
    from tenantgate.devcluster.platform import LocalPlatform

    with ControlPlane() as plane:
        platform = LocalPlatform(plane, controller=False)
        platform.install()
        try:
            yield platform
        finally:
            platform.stop()


def prepare_tenancy(platform: Any) -> Path:
    plane = platform.plane
    for obj in tenancy_objects():
        deadline = time.monotonic() + 60
        while True:  # the webhook's view trails the API server: the Project needs the Tenant in it
            result = plane.kubectl("apply", "-f", "-", stdin=json.dumps(obj), check=False)
            if result.returncode == 0:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(result.stderr)
            time.sleep(0.5)
    deadline = time.monotonic() + 60
    while plane.kubectl("get", "serviceaccount", "default", "-n", NAMESPACE, check=False).returncode != 0:
        if time.monotonic() > deadline:
            raise RuntimeError(f"no default ServiceAccount in {NAMESPACE}")
        time.sleep(0.5)
    return Path(plane.mint_user(USER, ["system:authenticated"]))


async def measure(platform: Any, settings: Settings, scratch: Path) -> tuple[list[Phase], dict[str, Any]]:
    plane = platform.plane
    tenant = identity(prepare_tenancy(platform), scratch)
    admin = identity(Path(plane.kubeconfig), scratch)
    ca_file = platform.cert_dir / "ca.crt"
    webhook_context = ssl.create_default_context(cafile=str(ca_file))
    facts: dict[str, Any] = {"alpn": negotiated_protocol(platform.webhook_port, ca_file)}
    most = max(settings.concurrencies)
    pids = processes(platform)
    async with (
        tenant.session(most) as session,
        admin.session(4) as admin_session,
        # A new connection per scrape, closed at once: the connection count at the webhook is the API server's.
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=webhook_context, force_close=True)) as scraper,
    ):
        registration = Registration(admin_session, admin.server)
        await registration.load()
        facts["timeoutSeconds"] = registration.timeout_seconds()
        await wait_for_admission(session, tenant.server, True)
        phases: list[Phase] = []
        for round_ in range(settings.rounds):
            for webhooks in (True, False):
                await registration.set(webhooks)
                await wait_for_admission(session, tenant.server, webhooks)
                for kind in KINDS:
                    for concurrency in settings.concurrencies:
                        prefix = f"{kind.lower()}-{round_}-{int(webhooks)}-{concurrency}"
                        warmup = [f"{prefix}-warm-{i}" for i in range(max(10, 2 * concurrency))]
                        await create_many(session, tenant.server, kind, warmup, concurrency)
                        before_api = await get_text(admin_session, f"{admin.server}/metrics")
                        before_hook = await get_text(scraper, f"{platform.webhook_url}/metrics")
                        names = [f"{prefix}-{i}" for i in range(settings.creates)]
                        cpu_before = cpu_snapshot(pids)
                        with ConnectionWatch(platform.webhook_port) as watch:
                            latencies, seconds = await create_many(session, tenant.server, kind, names, concurrency)
                        cpu_after = cpu_snapshot(pids)
                        after_api = await get_text(admin_session, f"{admin.server}/metrics")
                        after_hook = await get_text(scraper, f"{platform.webhook_url}/metrics")
                        phase = Phase(kind, concurrency, webhooks, latencies, seconds, watch.opened, watch.most)
                        phase.clocks = phase_clocks(kind, before_api, after_api, before_hook, after_hook)
                        phase.cpu = {name: cpu_after[name] - cpu_before[name] for name in pids}
                        phases.append(phase)
                        print(progress(round_, phase), flush=True)
                        await delete_all(admin_session, admin.server, kind)
        await registration.set(True)
        floor_calls = 200 if settings.creates <= 100 else 1000
        facts["floor"] = await direct_floor(
            f"{platform.webhook_url}/validate", ca_file, pod_review("floor"), floor_calls
        )
    return phases, facts


def phase_clocks(kind: str, before_api: str, after_api: str, before_hook: str, after_hook: str) -> dict[str, Clock]:
    resource = "pods" if kind == "Pod" else "shops"
    request_labels = {"verb": "POST", "resource": resource}
    clocks = {
        "API server, whole create": clock(
            before_api, after_api, "apiserver_request_duration_seconds", **request_labels
        ),
        "API server, mutating webhook calls": clock(
            before_api, after_api, "apiserver_admission_webhook_admission_duration_seconds", type="admit", name="*"
        ),
        "API server, validating webhook calls": clock(
            before_api, after_api, "apiserver_admission_webhook_admission_duration_seconds", type="validat*", name="*"
        ),
        "tenantgate handler, /mutate": clock(
            before_hook, after_hook, "tenantgate_webhook_request_duration_seconds", endpoint="/mutate"
        ),
        "tenantgate handler, /validate": clock(
            before_hook, after_hook, "tenantgate_webhook_request_duration_seconds", endpoint="/validate"
        ),
    }
    return clocks


def progress(round_: int, phase: Phase) -> str:
    state = "with" if phase.webhooks else "without"
    return (
        f"round {round_ + 1}: {phase.kind} x{len(phase.latencies)} at concurrency {phase.concurrency}, {state} "
        f"webhooks: p50 {percentile(phase.latencies, 0.5) * 1e3:.1f} ms, p99 "
        f"{percentile(phase.latencies, 0.99) * 1e3:.1f} ms, {phase.throughput:.0f}/s, "
        f"{phase.connections} webhook connections opened, {phase.most_connections} open at most"
    )


# ---- report --------------------------------------------------------------------------------------------


def pooled(phases: Sequence[Phase], kind: str, concurrency: int, webhooks: bool) -> list[Phase]:
    return [p for p in phases if p.kind == kind and p.concurrency == concurrency and p.webhooks == webhooks]


def results_table(phases: Sequence[Phase], settings: Settings) -> Table:
    table = Table(
        [
            "kind",
            "conc.",
            "p50 without ms",
            "p50 with ms",
            "added p50 ms",
            "p99 without ms",
            "p99 with ms",
            "added p99 ms",
            "creates/s without",
            "creates/s with",
            "ratio",
        ],
        right=frozenset(range(1, 11)),
    )
    for kind in KINDS:
        for concurrency in settings.concurrencies:
            on, off = pooled(phases, kind, concurrency, True), pooled(phases, kind, concurrency, False)
            if not on or not off:
                continue
            lat_on = [x for p in on for x in p.latencies]
            lat_off = [x for p in off for x in p.latencies]
            rate_on = sum(len(p.latencies) for p in on) / sum(p.seconds for p in on)
            rate_off = sum(len(p.latencies) for p in off) / sum(p.seconds for p in off)
            p50_on, p50_off = percentile(lat_on, 0.5) * 1e3, percentile(lat_off, 0.5) * 1e3
            p99_on, p99_off = percentile(lat_on, 0.99) * 1e3, percentile(lat_off, 0.99) * 1e3
            table.rows.append(
                [
                    kind,
                    str(concurrency),
                    f"{p50_off:.1f}",
                    f"{p50_on:.1f}",
                    f"{p50_on - p50_off:+.1f}",
                    f"{p99_off:.1f}",
                    f"{p99_on:.1f}",
                    f"{p99_on - p99_off:+.1f}",
                    f"{rate_off:.0f}",
                    f"{rate_on:.0f}",
                    f"{rate_on / rate_off:.2f}x",
                ]
            )
    return table


def breakdown_table(phases: Sequence[Phase], settings: Settings) -> Table:
    """Mean milliseconds per create (API server) and per webhook call, with webhooks registered, pooled over rounds."""
    names = list(phases[0].clocks) if phases else []
    headers = ["kind", "conc.", *names, "webhook connections opened (open at most) per phase"]
    table = Table(headers, right=frozenset(range(1, len(headers))))
    for kind in KINDS:
        for concurrency in settings.concurrencies:
            on = pooled(phases, kind, concurrency, True)
            if not on:
                continue
            cells = []
            for name in names:
                total = Clock(sum(p.clocks[name].seconds for p in on), sum(p.clocks[name].calls for p in on))
                cells.append(f"{total.mean_ms:.2f} ({total.calls:.0f})" if total.calls else "-")
            connections = ", ".join(f"{p.connections} ({p.most_connections})" for p in on)
            table.rows.append([kind, str(concurrency), *cells, connections])
    return table


def cpu_table(phases: Sequence[Phase], settings: Settings) -> Table:
    """CPU milliseconds per create of each process on the write path, without and with the webhooks."""
    names = list(phases[0].cpu) if phases else []
    headers = ["kind", "conc.", *[f"{name} without / with" for name in names], "all without / with"]
    table = Table(headers, right=frozenset(range(1, len(headers))))
    for kind in KINDS:
        for concurrency in settings.concurrencies:
            on, off = pooled(phases, kind, concurrency, True), pooled(phases, kind, concurrency, False)
            if not on or not off:
                continue

            def per_create(group: list[Phase], name: str | None) -> float:
                creates = sum(len(p.latencies) for p in group)
                spent = sum(sum(p.cpu.values()) if name is None else p.cpu[name] for p in group)
                return spent / creates * 1e3

            cells = [f"{per_create(off, name):.2f} / {per_create(on, name):.2f}" for name in [*names, None]]
            table.rows.append([kind, str(concurrency), *cells])
    return table


def floor_line(floor: Sequence[float]) -> str:
    return (
        f"Direct floor (one keep-alive TLS connection from this process to the webhook's `/validate`, the Pod's "
        f"review, {len(floor)} calls one at a time): p50 {percentile(floor, 0.5) * 1e3:.2f} ms, p99 "
        f"{percentile(floor, 0.99) * 1e3:.2f} ms, mean {statistics.fmean(floor) * 1e3:.2f} ms."
    )


def run(quick: bool, write: bool, command: str, extra: argparse.Namespace) -> int:
    settings = settings_from(quick, extra)
    loads_before = extra.load_before if hasattr(extra, "load_before") else load_average()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="tenantgate-bench-") as scratch, local_platform() as platform:
        phases, facts = asyncio.run(measure(platform, settings, Path(scratch)))
    notes = "\n".join(
        [
            f"{settings.creates:,} creates per kind, concurrency and phase (after an untimed warm-up), "
            f"{settings.rounds} round(s) of with/without, interleaved; latencies pooled over rounds. The writer is "
            f"`{USER}`, an owner of tenant `{TENANT}`, by client certificate, in namespace `{NAMESPACE}`.",
            "",
            "Breakdown with webhooks registered: mean ms (calls) from each clock's histogram over the phase. "
            "`API server, whole create` is the API server's own request duration for the POST; the webhook call "
            "columns are the API server's view of each call (connection, TLS, HTTP and the answer); the "
            "tenantgate columns are the handler's own time, from its first line to the answer built. Connections: "
            "from the API server to the webhook, sampled from the kernel's TCP table every 50 ms during the phase; "
            "`opened` counts those not open when the phase began (each a TCP and TLS handshake).",
            "",
            "CPU: milliseconds of CPU time per create of each process on the write path (`client` is this "
            "benchmark's own writer), without / with the webhooks, from /proc over each timed phase.",
            "",
            f"The webhook agrees to ALPN `{facts['alpn']}` when offered `h2, http/1.1`; webhook `timeoutSeconds` "
            f"{', '.join(map(str, facts['timeoutSeconds']))}.",
            "",
            floor_line(facts["floor"]),
        ]
    )
    tables = [results_table(phases, settings), breakdown_table(phases, settings), cpu_table(phases, settings)]
    text = render(
        TITLE,
        command,
        tables,
        (loads_before, load_average()),
        kubernetes=True,
        notes=notes,
        elapsed=time.monotonic() - started,
    )
    print(text)
    if write:
        write_section(TITLE, text)
        print(f"wrote section '{TITLE}' of docs/performance.md")
    return 0
