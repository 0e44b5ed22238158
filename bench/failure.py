"""Admission under failure: a webhook replica stopped mid-load, and certificates rotated mid-load.

    .venv/bin/python -m bench failure [--quick] [--replica-creates N] [--outages N] [--rotation-seconds S]
        [--no-write]

How it is built:
- One local control plane with the chart installed (`bench.apiserver.local_platform`), the chart's webhook
  process (replica a) and a second one on its own port (replica b), both serving the same certificate files.
  The API server calls them through one URL, a readiness-aware TCP balancer (`bench.balancer`, what a
  Service with kube-proxy would be): the chart is upgraded with `webhook.url` at the balancer. The balancer
  is on the path in every scenario, the undisturbed one included, so the scenarios compare like with like.
- Replica stopped: the tenant owner creates Pods and Shops (alternating) at concurrency 16 through the API
  server while the replicas are stopped in turn, one at a time (SIGTERM: graceful; SIGKILL: abrupt), each
  started again (and ready) before the next stop (`--outages`, 3; quick 1). One SIGTERM row runs the
  replicas with `--drain-grace 0` (the shutdown before the drain grace), for comparison. Every answer but 201
  is a failed write, counted by its cause as the API server states it. A row without any stop is the reference.
- Rotation: for `--rotation-seconds` (60; quick 10), 32 connections post reviews straight to the balancer (16
  keep-alive, 16 opening a new TLS connection per review, so every rotation meets fresh handshakes) while
  the tenant creates through the API server at concurrency 8; meanwhile the serving certificate is
  replaced (new key, same CA) four times and the CA once. The CA rotation follows `tenantgate certs ensure`:
  the caBundle with the new CA first and the old one after it is injected into the webhook configurations
  (`certs.kube.inject_ca_bundle`, the code the command runs), the direct client trusts the same bundle, and
  only then, after a delay standing in for the kubelet's Secret sync, are the new files written. Every
  request must succeed; failures are counted by cause.
- Bounded: creates and seconds fixed, every process started is stopped on exit; loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import re
import signal
import ssl
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

from bench.apiserver import (
    Identity,
    Registration,
    collection_path,
    delete_all,
    identity,
    local_platform,
    make,
    percentile,
    pod_review,
    prepare_tenancy,
    wait_for_admission,
)
from bench.report import Table, load_average, publish

TITLE = "Admission under failure"
CONCURRENCY = 16
ROTATION_CONNECTIONS = 32
ROTATION_WRITERS = 8
KUBELET_DELAY = 2.0
"""Seconds between injecting a new caBundle and writing the new files (the kubelet's Secret sync, shortened)."""
REPO_ROOT = Path(__file__).resolve().parents[1]
RELOAD_INTERVAL = 1.0
"""How often the webhook looks for new certificate files (`ServerConfig.reload_interval`)."""


# ---- causes ----------------------------------------------------------------------------------------------

_WEBHOOK = re.compile(r'failed calling webhook "([^"]+)"')
_CAUSES = (
    ("connection refused", "connection refused"),
    ("connection reset by peer", "connection reset"),
    ("server closed idle connection", "idle connection closed as the review went out"),
    ("broken pipe", "connection closed (broken pipe)"),
    ("EOF", "connection closed (EOF)"),
    ("context deadline exceeded", "timeout"),
    ("Client.Timeout", "timeout"),
    ("x509", "certificate not trusted"),
    ("tls:", "TLS error"),
    ("no endpoints", "no endpoints"),
)


def cause_of(status: int, message: str) -> str:
    """A failed create's cause from the API server's answer: the status, the webhook, what broke in the call.

    The API server words a failed webhook call as `failed calling webhook "<name>": ... Post "<url>": <error>`;
    anything else (a denial, a conflict) is reported with its status and the message's first words.
    """
    hook = _WEBHOOK.search(message)
    if hook is None:
        return f"HTTP {status}: {' '.join(message.split()[:8])}"
    for needle, cause in _CAUSES:
        if needle in message:
            return f"HTTP {status}, webhook {hook.group(1)}: {cause}"
    tail = message.rsplit(": ", 1)[-1]
    return f"HTTP {status}, webhook {hook.group(1)}: {' '.join(tail.split()[:8])}"


def client_cause(exc: BaseException) -> str:
    """A failed direct review's cause from the client's exception."""
    text = str(exc)
    if "CERTIFICATE_VERIFY_FAILED" in text:
        return "certificate not trusted"
    return type(exc).__name__


def summarise(causes: Counter[str]) -> str:
    return "; ".join(f"{cause}: {count}" for cause, count in causes.most_common()) or "none"


# ---- replicas --------------------------------------------------------------------------------------------


@dataclass
class Replica:
    """One `tenantgate webhook` process: the chart's own (a) or a second one on another port (b)."""

    name: str
    service: Any
    port: int
    ca_file: Path

    def start(self, timeout: float = 60) -> float:
        """Start and wait for `/readyz`; seconds it took."""
        from tenantgate.devcluster.controlplane import http_ok

        started = time.monotonic()
        self.service.start()
        context = ssl.create_default_context(cafile=str(self.ca_file))
        while time.monotonic() - started < timeout:
            if not self.service.running():
                raise RuntimeError(f"webhook replica {self.name} exited:\n{self.service.tail()}")
            if http_ok(f"https://127.0.0.1:{self.port}/readyz", context):
                return time.monotonic() - started
            time.sleep(0.05)
        raise RuntimeError(f"webhook replica {self.name} not ready after {timeout:.0f} s:\n{self.service.tail()}")

    def stop(self, sig: int) -> float:
        started = time.monotonic()
        self.service.stop(sig)
        return time.monotonic() - started

    def restart_with(self, drain_grace: float | None) -> None:
        """Stop gracefully and start again with `--drain-grace` set (None: the webhook's default)."""
        argv = list(self.service.argv)
        if "--drain-grace" in argv:
            del argv[argv.index("--drain-grace") : argv.index("--drain-grace") + 2]
        if drain_grace is not None:
            argv += ["--drain-grace", f"{drain_grace:g}"]
        self.service.stop(signal.SIGTERM)
        self.service.argv = argv
        self.start()


def second_replica(platform: Any) -> Replica:
    from tenantgate.devcluster.controlplane import free_port
    from tenantgate.devcluster.platform import _Service

    port = free_port()
    argv = list(platform.webhook.argv)
    argv[argv.index("--port") + 1] = str(port)
    service = _Service("webhook-b", argv, platform.directory / "webhook-b.log", platform.webhook.env)
    return Replica("b", service, port, platform.cert_dir / "ca.crt")


class BalancerProcess:
    """`bench.balancer` in front of the replicas; its counters are read when it stops."""

    def __init__(self, port: int, backends: Sequence[int]) -> None:
        argv = [sys.executable, "-m", "bench.balancer", "--port", str(port)]
        for backend in backends:
            argv += ["--backend", f"127.0.0.1:{backend}"]
        from tenantgate.devcluster.controlplane import die_with_parent

        self.port = port
        self.counters: dict[str, int] = {}
        self.popen = subprocess.Popen(
            argv, cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True, preexec_fn=die_with_parent
        )
        assert self.popen.stdout is not None
        if not self.popen.stdout.readline().startswith('{"listening"'):
            self.popen.kill()
            raise RuntimeError(f"bench.balancer did not start (exit status {self.popen.wait()})")

    def stop(self) -> dict[str, int]:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            out, _ = self.popen.communicate(timeout=20)
            lines = [line for line in out.splitlines() if line.startswith("{")]
            self.counters = json.loads(lines[-1]) if lines else {}
        return self.counters


# ---- creates through the API server ----------------------------------------------------------------------


@dataclass
class Writes:
    latencies: list[float] = field(default_factory=list)
    failures: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    _waiting: list[tuple[int, asyncio.Event]] = field(default_factory=list)

    @property
    def attempts(self) -> int:
        return len(self.latencies)

    def record(self, seconds: float) -> None:
        self.latencies.append(seconds)
        self._notify()

    def reached(self, attempts: int) -> asyncio.Event:
        """An event set once `attempts` creates have been answered."""
        event = asyncio.Event()
        self._waiting.append((attempts, event))
        self._notify()
        return event

    def _notify(self) -> None:
        for wanted, event in self._waiting:
            if self.attempts >= wanted:
                event.set()


async def create(session: aiohttp.ClientSession, server: str, kind: str, name: str, writes: Writes) -> None:
    body = json.dumps(make(kind, name)).encode()
    started = time.perf_counter()
    try:
        async with session.post(
            server + collection_path(kind), data=body, headers={"Content-Type": "application/json"}
        ) as response:
            answer = await response.read()
            if response.status != 201:
                try:
                    message = str(json.loads(answer).get("message", ""))
                except ValueError:
                    message = answer[:300].decode(errors="replace")
                writes.failures[cause_of(response.status, message)] += 1
    except aiohttp.ClientError as exc:
        writes.failures[f"client: {type(exc).__name__}"] += 1
    writes.record(time.perf_counter() - started)


async def create_many(
    session: aiohttp.ClientSession, server: str, prefix: str, count: int, concurrency: int, writes: Writes
) -> None:
    """`count` creates, Pods and Shops alternating, `concurrency` at a time; failures counted, not raised."""
    queue = list(reversed(range(count)))

    async def writer() -> None:
        while queue:
            index = queue.pop()
            await create(session, server, ("Pod", "Shop")[index % 2], f"{prefix}-{index}", writes)

    started = time.perf_counter()
    await asyncio.gather(*(writer() for _ in range(concurrency)))
    writes.seconds = time.perf_counter() - started


async def clean(session: aiohttp.ClientSession, server: str) -> None:
    for kind in ("Pod", "Shop"):
        await delete_all(session, server, kind)


# ---- scenario: a replica stopped -------------------------------------------------------------------------


@dataclass
class Outage:
    replica: str
    stop_seconds: float
    down_seconds: float


@dataclass(frozen=True)
class Plan:
    """One row: the signal that stops the replicas (None: not stopped) and their `--drain-grace` (None: default)."""

    slug: str
    signal: int | None
    drain_grace: float | None = None

    @property
    def label(self) -> str:
        if self.signal is None:
            return "none"
        name = signal.Signals(self.signal).name
        return name if self.drain_grace is None else f"{name}, replicas run with `--drain-grace {self.drain_grace:g}`"

    @property
    def counts_against_target(self) -> bool:
        """Only what the shipped defaults do under a graceful stop (or none) is held to zero failed writes."""
        return self.signal in (None, signal.SIGTERM) and self.drain_grace is None


PLANS = (
    Plan("undisturbed", None),
    Plan("sigterm-nograce", signal.SIGTERM, drain_grace=0.0),
    Plan("sigterm", signal.SIGTERM),
    Plan("sigkill", signal.SIGKILL),
)


@dataclass
class Scenario:
    plan: Plan
    writes: Writes
    outages: list[Outage] = field(default_factory=list)


def outage_marks(creates: int, cycles: int) -> list[tuple[int, int]]:
    """(stop after, start after) in answered creates for each cycle: evenly spread, never overlapping."""
    step = creates / (2 * cycles + 1)
    return [(round((2 * k + 1) * step), round((2 * k + 2) * step)) for k in range(cycles)]


async def stopped_replicas(
    tenant: Identity, session: aiohttp.ClientSession, replicas: Sequence[Replica], plan: Plan, creates: int, cycles: int
) -> Scenario:
    """Creates while the replicas, in turn, are stopped with the plan's signal and started again, one at a time."""
    writes = Writes()
    scenario = Scenario(plan, writes)
    sig = plan.signal
    load = asyncio.create_task(create_many(session, tenant.server, plan.slug, creates, CONCURRENCY, writes))
    if sig is not None:
        for cycle, (stop_at, start_at) in enumerate(outage_marks(creates, cycles)):
            replica = replicas[cycle % len(replicas)]
            await writes.reached(stop_at).wait()
            down = time.monotonic()
            stop_seconds = await asyncio.to_thread(replica.stop, sig)
            await writes.reached(start_at).wait()
            await asyncio.to_thread(replica.start)
            scenario.outages.append(Outage(replica.name, stop_seconds, time.monotonic() - down))
    await load
    return scenario


# ---- scenario: certificates rotated ----------------------------------------------------------------------


@dataclass
class Rotation:
    seconds: float
    direct_ok: Counter[str] = field(default_factory=Counter)
    direct_failures: Counter[str] = field(default_factory=Counter)
    writes: Writes = field(default_factory=Writes)
    steps: list[str] = field(default_factory=list)
    reloads: dict[str, int] = field(default_factory=dict)


def rotate_serving(cert_dir: Path) -> None:
    """A new serving key and certificate under the current CA, written as `certs ensure` writes files."""
    from certs.bundle import CertBundle
    from certs.files import read_cert_dir, write_cert_dir
    from certs.issue import new_serving_cert

    bundle = read_cert_dir(cert_dir)
    assert bundle is not None
    serving = new_serving_cert(bundle.ca, dns_names=["localhost"], ip_addresses=["127.0.0.1"], now=datetime.now(UTC))
    write_cert_dir(cert_dir, CertBundle(bundle.ca, serving, bundle.previous_cas), include_ca_key=True)


def new_ca_bundle(cert_dir: Path) -> Any:
    """The bundle a CA rotation produces: a new CA and a serving certificate from it, the old CA kept trusted."""
    from certs.bundle import CertBundle
    from certs.files import read_cert_dir
    from certs.issue import new_ca, new_serving_cert
    from certs.rotation import CA_COMMON_NAME

    bundle = read_cert_dir(cert_dir)
    assert bundle is not None
    now = datetime.now(UTC)
    ca = new_ca(CA_COMMON_NAME, now=now)
    serving = new_serving_cert(ca, dns_names=["localhost"], ip_addresses=["127.0.0.1"], now=now)
    return CertBundle(ca, serving, (bundle.ca.cert_pem, *bundle.previous_cas))


def cas_carried(sizes: Sequence[int]) -> str:
    low, high = min(sizes, default=0), max(sizes, default=0)
    return f"{low} CAs" if low == high else f"{low} to {high} CAs"


def cas_per_webhook(admission: Any, configurations: Sequence[str]) -> list[int]:
    """How many CA certificates each webhook's `caBundle` carries, as the API server stores it."""
    sizes = []
    for name in configurations:
        for read in ("read_mutating_webhook_configuration", "read_validating_webhook_configuration"):
            try:
                configuration = getattr(admission, read)(name)
            except Exception as exc:
                if getattr(exc, "status", None) == 404:
                    continue
                raise
            for webhook in configuration.webhooks or []:
                sizes.append(base64.b64decode(webhook.client_config.ca_bundle or "").count(b"BEGIN CERTIFICATE"))
    return sizes


async def direct_load(url: str, context: ssl.SSLContext, rotation: Rotation, until: float) -> None:
    body = pod_review("rotation")
    half = ROTATION_CONNECTIONS // 2

    async def writer(session: aiohttp.ClientSession, label: str) -> None:
        while time.monotonic() < until:
            try:
                async with session.post(url, data=body, headers={"Content-Type": "application/json"}) as response:
                    answer = await response.read()
                if response.status == 200 and json.loads(answer)["response"]["allowed"]:
                    rotation.direct_ok[label] += 1
                else:
                    rotation.direct_failures[f"HTTP {response.status}"] += 1
            except (aiohttp.ClientError, OSError) as exc:
                rotation.direct_failures[client_cause(exc)] += 1
                await asyncio.sleep(0.01)

    async with (
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context, limit=half)) as kept,
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context, limit=half, force_close=True)) as fresh,
    ):
        await asyncio.gather(
            *(writer(kept, "keep-alive") for _ in range(half)),
            *(writer(fresh, "new connection each") for _ in range(half)),
        )


async def api_load(tenant: Identity, session: aiohttp.ClientSession, rotation: Rotation, until: float) -> None:
    counter = 0

    async def writer(index: int) -> None:
        nonlocal counter
        while time.monotonic() < until:
            counter += 1
            await create(
                session, tenant.server, ("Pod", "Shop")[counter % 2], f"rot-{index}-{counter}", rotation.writes
            )

    started = time.perf_counter()
    await asyncio.gather(*(writer(index) for index in range(ROTATION_WRITERS)))
    rotation.writes.seconds = time.perf_counter() - started


async def rotations(platform: Any, configurations: list[str], context: ssl.SSLContext, rotation: Rotation) -> None:
    """Four serving rotations and one CA rotation, evenly spread over the run."""
    from kubernetes import client

    from certs.cli import api_client
    from certs.files import write_cert_dir
    from certs.kube import inject_ca_bundle

    admission = client.AdmissionregistrationV1Api(api_client(Path(platform.plane.kubeconfig)))
    plan = ("serving", "serving", "CA", "serving", "serving")
    gap = rotation.seconds / (len(plan) + 1)
    for step in plan:
        await asyncio.sleep(gap)
        if step == "serving":
            await asyncio.to_thread(rotate_serving, platform.cert_dir)
            rotation.steps.append("serving certificate (new key, same CA)")
            continue
        bundle = await asyncio.to_thread(new_ca_bundle, platform.cert_dir)
        injected = await asyncio.to_thread(inject_ca_bundle, admission, configurations, bundle.ca_bundle_pem)
        context.load_verify_locations(cadata=bundle.ca.cert_pem.decode())
        await asyncio.sleep(KUBELET_DELAY)
        await asyncio.to_thread(write_cert_dir, platform.cert_dir, bundle, include_ca_key=True)
        carried = await asyncio.to_thread(cas_per_webhook, admission, configurations)
        rotation.steps.append(
            f"CA (new CA first, old CA after it, injected into {len(injected.patched)} configurations: "
            f"{cas_carried(carried)} in each of their {len(carried)} webhooks' caBundle; "
            f"files {KUBELET_DELAY:.0f} s later)"
        )


async def certificate_rotation(
    platform: Any,
    tenant: Identity,
    session: aiohttp.ClientSession,
    balancer: int,
    configurations: list[str],
    seconds: float,
) -> Rotation:
    rotation = Rotation(seconds)
    context = ssl.create_default_context(cafile=str(platform.cert_dir / "ca.crt"))
    until = time.monotonic() + seconds
    await asyncio.gather(
        direct_load(f"https://localhost:{balancer}/validate", context, rotation, until),
        api_load(tenant, session, rotation, until),
        rotations(platform, configurations, context, rotation),
    )
    return rotation


# ---- the run ---------------------------------------------------------------------------------------------


async def measure(
    platform: Any,
    replica_b: Replica,
    balancer: BalancerProcess,
    creates: int,
    cycles: int,
    seconds: float,
    scratch: Path,
) -> tuple[list[Scenario], Rotation]:
    tenant = identity(prepare_tenancy(platform), scratch)
    admin = identity(Path(platform.plane.kubeconfig), scratch)
    replica_a = Replica("a", platform.webhook, platform.webhook_port, platform.cert_dir / "ca.crt")
    async with tenant.session(CONCURRENCY) as session, admin.session(4) as admin_session:
        registration = Registration(admin_session, admin.server)
        await registration.load()
        configurations = sorted({item["metadata"]["name"] for items in registration.saved.values() for item in items})
        await wait_for_admission(session, tenant.server, True)
        warm = Writes()
        await create_many(session, tenant.server, "warm", 4 * CONCURRENCY, CONCURRENCY, warm)
        await clean(admin_session, admin.server)
        scenarios = []
        replicas = (replica_a, replica_b)
        grace: float | None = None
        for plan in PLANS:
            if plan.drain_grace != grace:
                for replica in replicas:  # one at a time: the other one serves whatever arrives meanwhile
                    await asyncio.to_thread(replica.restart_with, plan.drain_grace)
                grace = plan.drain_grace
            scenario = await stopped_replicas(tenant, session, replicas, plan, creates, cycles)
            print(progress(scenario), flush=True)
            scenarios.append(scenario)
            await clean(admin_session, admin.server)
        rotation = await certificate_rotation(platform, tenant, session, balancer.port, configurations, seconds)
        await asyncio.sleep(2 * RELOAD_INTERVAL)  # the last files written are picked up before the count
        for replica in (replica_a, replica_b):
            metrics = await scrape(f"https://127.0.0.1:{replica.port}/metrics", platform.cert_dir / "ca.crt")
            rotation.reloads[replica.name] = reloads_in(metrics)
        await clean(admin_session, admin.server)
    return scenarios, rotation


async def scrape(url: str, ca_file: Path) -> str:
    context = ssl.create_default_context(cafile=str(ca_file))
    async with aiohttp.ClientSession() as session, session.get(url, ssl=context) as response:
        return await response.text()


def reloads_in(metrics: str) -> int:
    match = re.search(r"^tenantgate_webhook_certificate_reloads_total (\S+)", metrics, re.MULTILINE)
    return int(float(match.group(1))) if match else -1


def progress(scenario: Scenario) -> str:
    writes = scenario.writes
    return (
        f"{scenario.plan.label}: {writes.attempts} creates, {sum(writes.failures.values())} failed "
        f"({summarise(writes.failures)}), p99 {percentile(writes.latencies, 0.99) * 1e3:.0f} ms"
    )


def scenario_table(scenarios: Sequence[Scenario]) -> Table:
    table = Table(
        [
            "replicas stopped",
            "creates",
            "failed",
            "failed by",
            "p50 ms",
            "p99 ms",
            "max ms",
            "creates/s",
            "longest stop s",
            "mean down s",
        ],
        right=frozenset({1, 2, 4, 5, 6, 7, 8, 9}),
    )
    for scenario in scenarios:
        writes, outages = scenario.writes, scenario.outages
        stopped = "none" if not outages else f"{', '.join(o.replica for o in outages)} by {scenario.plan.label}"
        table.rows.append(
            [
                stopped,
                f"{writes.attempts:,}",
                str(sum(writes.failures.values())),
                summarise(writes.failures),
                f"{percentile(writes.latencies, 0.5) * 1e3:.1f}",
                f"{percentile(writes.latencies, 0.99) * 1e3:.1f}",
                f"{max(writes.latencies) * 1e3:.0f}",
                f"{writes.attempts / writes.seconds:.0f}",
                f"{max(o.stop_seconds for o in outages):.1f}" if outages else "-",
                f"{sum(o.down_seconds for o in outages) / len(outages):.1f}" if outages else "-",
            ]
        )
    return table


def rotation_table(rotation: Rotation) -> Table:
    table = Table(["measure", "value"])
    writes = rotation.writes
    table.rows += [
        ["rotations, in order", "; ".join(rotation.steps)],
        ["certificate reloads counted by replica a / b", f"{rotation.reloads.get('a')} / {rotation.reloads.get('b')}"],
        [
            "direct reviews answered (keep-alive / new connection each)",
            f"{rotation.direct_ok['keep-alive']:,} / {rotation.direct_ok['new connection each']:,}",
        ],
        ["direct reviews failed", f"{sum(rotation.direct_failures.values())} ({summarise(rotation.direct_failures)})"],
        ["creates through the API server", f"{writes.attempts:,}"],
        ["creates failed", f"{sum(writes.failures.values())} ({summarise(writes.failures)})"],
        [
            "create p50 / p99 ms",
            f"{percentile(writes.latencies, 0.5) * 1e3:.1f} / {percentile(writes.latencies, 0.99) * 1e3:.1f}",
        ],
    ]
    return table


def run(quick: bool, write: bool, command: str, extra: argparse.Namespace) -> int:
    creates = extra.replica_creates if extra.replica_creates is not None else (200 if quick else 3000)
    seconds = extra.rotation_seconds if extra.rotation_seconds is not None else (10.0 if quick else 60.0)
    cycles = extra.outages if extra.outages is not None else (1 if quick else 3)
    loads_before = extra.load_before if hasattr(extra, "load_before") else load_average()
    started = time.monotonic()
    from tenantgate.devcluster.controlplane import free_port

    with tempfile.TemporaryDirectory(prefix="tenantgate-failure-") as scratch, local_platform() as platform:
        replica_b = second_replica(platform)
        balancer: BalancerProcess | None = None
        try:
            replica_b.start()
            balancer = BalancerProcess(free_port(), [platform.webhook_port, replica_b.port])
            ca_bundle = (platform.cert_dir / "ca.crt").read_bytes()
            platform.install_chart(ca_bundle, f"webhook.url=https://localhost:{balancer.port}")
            scenarios, rotation = asyncio.run(
                measure(platform, replica_b, balancer, creates, cycles, seconds, Path(scratch))
            )
            stops = [
                stop
                for log in (platform.webhook.log, replica_b.service.log)
                for stop in graceful_stops(log.read_text(errors="replace"))
            ]
        finally:
            counters = balancer.stop() if balancer is not None else {}
            replica_b.service.stop()
    failed = sum(sum(s.writes.failures.values()) for s in scenarios if s.plan.counts_against_target)
    failed += sum(rotation.direct_failures.values()) + sum(rotation.writes.failures.values())
    names = {f"127.0.0.1:{platform.webhook_port}": "replica a", f"127.0.0.1:{replica_b.port}": "replica b"}
    counters = {replica_names(key, names): value for key, value in counters.items()}
    notes = explanation(scenarios, rotation, counters, creates, cycles, stops)
    tables = [scenario_table(scenarios), rotation_table(rotation)]
    publish(
        TITLE,
        command,
        tables,
        (loads_before, load_average()),
        write=write,
        kubernetes=True,
        notes=notes,
        elapsed=time.monotonic() - started,
    )
    return 0 if failed == 0 else 1


def graceful_stops(log: str) -> list[tuple[int, int]]:
    """(reviews abandoned, connections still open when the drain grace ended) of each graceful stop logged."""
    found = re.findall(r"server\.stopped\b.*?abandoned=(\d+)\s+left_open=(\d+)", log)
    return [(int(abandoned), int(idle)) for abandoned, idle in found]


def stops_line(stops: Sequence[tuple[int, int]]) -> str:
    abandoned = sum(count for count, _ in stops)
    return f"{len(stops)} graceful stops logged by the replicas over the run, {abandoned} reviews abandoned in all"


def failed_writes(count: int) -> str:
    return f"{count} failed write{'' if count == 1 else 's'}"


def graceful_target(failed: int, creates: int) -> str:
    """Nothing when the target (no failed write under SIGTERM) is met; otherwise by how much, and what to try."""
    if failed == 0:
        return ""
    return (
        f" The target (no failed write) is missed by {failed} of {creates:,} creates: see the causes in the table; "
        "an idle connection closed under a review would call for a longer `--drain-grace`, a refusal for the "
        "listener to stay open until the endpoint is gone."
    )


def killed(failed: int, creates: int, cycles: int) -> str:
    """What a SIGKILL costs, why, and what would close the gap."""
    mechanism = (
        "A killed process answers nothing more: the kernel closes its connections, and every review the API "
        "server had sent on them, or sends before it sees them closed, fails its write (EOF, broken pipe, "
        "`server closed idle connection`). The balancer's hop lengthens that window a little: it passes the close "
        "on only after it has seen it, where kube-proxy's address translation lets the kernel's close reach the "
        "API server directly. New connections go to the other replica at once."
    )
    if failed == 0:
        return f"{mechanism} In this run no review was caught that way."
    return (
        f"{mechanism} The target (no failed write) is missed by {failed} of {creates:,} creates, about "
        f"{failed / cycles:.0f} per kill. Nothing on the webhook's side closes it: the reviews die with the "
        "process, and the API server does not resend a POST. What keeps it rare: no SIGKILL in normal operation "
        "(a termination grace period longer than the drain, memory limits with headroom against the OOM killer), "
        "two or more replicas with a PodDisruptionBudget; and writers that retry a 500 (controllers do on their "
        "next reconcile)."
    )


def refused_line(counters: dict[str, int]) -> str:
    refused = sum(count for name, count in counters.items() if name.startswith("refused "))
    return (
        f"{refused} new connection(s) reached a replica whose listener had just closed and were skipped to the "
        "other replica; behind kube-proxy each would have been a failed write unless the endpoint was removed "
        "before the listener closed."
    )


def replica_names(text: str, names: dict[str, str]) -> str:
    """A balancer counter's name with each backend's address replaced by the replica's name."""
    for address, name in names.items():
        text = text.replace(address, name)
    return text


def explanation(
    scenarios: Sequence[Scenario],
    rotation: Rotation,
    counters: dict[str, int],
    creates: int,
    cycles: int,
    stops: Sequence[tuple[int, int]],
) -> str:
    by_plan = {s.plan.slug: sum(s.writes.failures.values()) for s in scenarios}
    lines = [
        f"Setup: the chart's webhook (replica a) and a second `tenantgate webhook` process (replica b) on the same "
        f"certificate files, behind `bench.balancer` (a readiness-aware TCP balancer standing in for the Service; "
        f"on the path in every row) at `https://localhost:<port>`, the URL the chart was upgraded to. "
        f"{creates:,} creates per row (Pods and Shops alternating) by the tenant owner at concurrency "
        f"{CONCURRENCY}; in the rows with a signal, the replicas are stopped in turn ({cycles} stop(s), evenly "
        "spread over the creates, one replica down at a time) and each is started again once as many creates "
        "again have been answered (`longest stop s`: from the signal until the process exited; `mean down s`: "
        "from the signal until it was ready again). Failed writes are every answer but 201, by the cause the "
        "API server gives. A replica that refuses a new connection (its listener closed before the balancer's "
        "next readiness probe) is skipped for the other one, as Go's dialer skips to a name's next address; "
        "kube-proxy would pass the refusal on until the endpoint is removed (see docs/admission.md, Stopping a "
        f"replica). {refused_line(counters)} Balancer counters over the whole run: "
        f"{', '.join(f'{k} {v}' for k, v in counters.items()) or 'none'}.",
        "",
        "What the API server retries: a webhook call is a POST through its REST client, which retries only an "
        "answer carrying `Retry-After` (429 or 5xx); a connection that breaks after the review was sent (reset, "
        "EOF) fails the call at once, and with `failurePolicy: Fail` the write. Go's transport itself resends a "
        "POST only when nothing of it was written. So every review the webhook drops is a failed write.",
        "",
        "SIGTERM with `--drain-grace 0`, the shutdown before the drain grace: "
        f"{failed_writes(by_plan.get('sigterm-nograce', 0))}. The replica closed its listener, waited only until "
        "no review was inside it, and closed "
        "its idle keep-alive connections at once: the API server, which had just sent a review on some of them, "
        "got EOF or `server closed idle connection` back and failed the write.",
        "",
        f"SIGTERM with the defaults: {failed_writes(by_plan.get('sigterm', 0))}. The stopping replica turns "
        "`/readyz` to 503 (the balancer sends it no new connection), closes its listener, answers every review "
        "still arriving on its keep-alive connections with `Connection: close` until the API server has retired "
        "them (up to 5 s), finishes what is in flight, and only then closes what is left idle; "
        f"{stops_line(stops)}.{graceful_target(by_plan.get('sigterm', 0), creates)}",
        "",
        f"SIGKILL: {failed_writes(by_plan.get('sigkill', 0))}. {killed(by_plan.get('sigkill', 0), creates, cycles)}",
        "",
        f"Rotation: {rotation.seconds:.0f} s of load, {ROTATION_CONNECTIONS} connections straight to the balancer "
        f"(half keep-alive, half a new TLS connection per review, so handshakes meet every certificate) and "
        f"{ROTATION_WRITERS} writers creating through the API server. Each replica reloads the files within a "
        "second and keeps serving the previous certificate until the new pair loads. The CA rotation keeps the old "
        "CA in the bundle after the new one (`certs.policy`), and the bundle reaches the webhook configurations "
        "before the files change (`certs.kube.ensure_in_cluster` injects, then writes the Secret), so every "
        "certificate the replicas serve is trusted at the moment it is served.",
    ]
    return "\n".join(lines)
