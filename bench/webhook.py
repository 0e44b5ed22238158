# ruff: noqa: E402  (imports follow the import-path fix below)
"""Admission webhook benchmark: tenantgate beside its limit and beside kopf, in one bounded command.

    .venv/bin/python bench/webhook.py [--quick] [--profile] [--no-write]

Why it is built this way:
- The webhook sits on the API server's write path, so what matters is requests per second and tail latency
  for realistic reviews over keep-alive TLS connections (the API server keeps its connections to a webhook
  open). Three reviews: a `Shop` CREATE in tenant namespace `kubeop-acme-web` through `/mutate` and through
  `/validate` (the object as mutation leaves it, which is what the API server sends to validation), and a
  ~4 KB `Pod` CREATE with three containers through `/validate`, each from a tenant owner.
- Numbers only mean something next to references measured in the same run: the *limit*
  (`bench/limit_server.py`: the same aiohttp, TLS settings and certificate, doing nothing but parse the body
  and echo the uid) bounds what any aiohttp webhook can reach; *kopf* (`bench/kopf_operator.py`, the same
  decisions through kopf's admission server) is what a Python operator framework gives. Runs are interleaved
  (limit, tenantgate, kopf for each review and connection count), so drift in machine load hits all three.
- Before any load, each server answers each review once and the answer is checked (tenantgate: patched for
  `/mutate`, allowed for `/validate`; kopf: the same verdicts and a patch with the same effect; limit:
  allowed), so the benchmark measures the intended work; under load the wrk script counts every non-2xx
  answer and every answer that does not allow, and both must stay 0.
- Servers run on core 0 and wrk (one thread) on core 1, so the load generator never competes with the server
  it measures. Each run is preceded by a warm-up at the same connection count.
- kopf cannot serve webhooks without an operator run against an API server, so a local control plane
  (`tenantgate.devcluster.ControlPlane`, loopback only) runs for the whole benchmark, with the Shop CRD
  installed; it idles at about 2% of one core, equally for all three servers.
- Bounded: ~4 minutes by default (`--quick` ~2), every process it starts is stopped on exit, Ctrl-C or
  SIGTERM (children also get a parent-death signal), and the work directory is removed.

Results are printed and written to the `## Admission webhook` section of docs/performance.md (other sections
are kept). When a target is missed (or with `--profile`), tenantgate is profiled under load with pyinstrument
and the top frames are written there too.
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/webhook.py shares its name with the `webhook` package under test, and Python (or kopf, for an operator
# file) puts a script's directory first on the import path: take bench/ off it, so `webhook` is the package.
# The repository root goes first instead, so `bench.report` is found when this file runs as a script.
_BENCH = Path(__file__).resolve().parent
sys.path[:] = [str(_BENCH.parent)] + [
    entry for entry in sys.path if not entry or Path(entry).resolve() not in (_BENCH, _BENCH.parent)
]

import argparse
import contextlib
import ctypes
import datetime as dt
import http.client
import json
import os
import platform
import re
import resource
import shutil
import signal
import ssl
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import FrameType
from typing import Any, Final

import jsonpatch

from admission import dispatch
from admission.protocol import AdmissionRequest, decode_patch
from admission.registry import Registries
from admission.rules import build_registries
from admission.view import InMemoryClusterView
from bench import report
from certs.files import ensure_local_certs
from tenantgate.devcluster import ControlPlane
from tenantgate.devcluster.controlplane import free_port

BENCH_DIR: Final = Path(__file__).resolve().parent
REPO_ROOT: Final = BENCH_DIR.parent
SHOP_CRD: Final = REPO_ROOT / "deploy" / "chart" / "crds" / "shops.apps.shophub.local.yaml"
SECTION: Final = "## Admission webhook"
WRK_SCRIPT: Final = BENCH_DIR / "wrk_post.lua"
CONNECTIONS: Final = (16, 64)

TARGET_LIMIT_RATIO: Final = 0.7
TARGET_KOPF_RATIO: Final = 2.0
TARGET_P99_MS: Final = 10.0
TARGET_P99_CONNECTIONS: Final = 16

TENANT: Final = "acme"
PROJECT: Final = "web"
NAMESPACE: Final = "kubeop-acme-web"
OWNER: Final = {
    "username": "alice@acme.example",
    "uid": "6f1c2d0e-5b7a-4c39-9e51-2a8f3b9d7c10",
    "groups": ["acme-admins", "system:authenticated"],
}
CREATED_AT: Final = "2025-11-24T09:30:00Z"
SHOP_IMAGE: Final = "ghcr.io/acme/shop:2.3.1"


# ---- the cluster and the reviews ---------------------------------------------------------------------------


def cluster_objects() -> list[dict[str, Any]]:
    """What the cluster view holds: tenant acme (and a neighbour), its Project and its namespace."""
    acme = {
        "apiVersion": "paas.kubeop.io/v1alpha1",
        "kind": "Tenant",
        "metadata": {
            "name": TENANT,
            "uid": "0d9a3c1e-7a51-4f0c-8b8e-1f2a3b4c5d6e",
            "resourceVersion": "4711",
            "generation": 1,
            "creationTimestamp": "2025-10-01T08:00:00Z",
        },
        "spec": {
            "name": "Acme Corporation",
            "owners": [{"kind": "User", "name": "alice@acme.example"}, {"kind": "Group", "name": "acme-admins"}],
            "allowedRegistries": {"exact": ["ghcr.io/acme", "registry.acme.example"]},
            "allowedDomains": ["acme.example", "*.acme.example"],
            "quota": {
                "hard": {"requests.cpu": "16", "requests.memory": "32Gi", "pods": "100"},
                "projectDefaults": {"hard": {"requests.cpu": "4", "requests.memory": "8Gi", "pods": "30"}},
            },
            "maxProjects": 10,
        },
    }
    globex = {
        "apiVersion": "paas.kubeop.io/v1alpha1",
        "kind": "Tenant",
        "metadata": {"name": "globex", "resourceVersion": "4712", "creationTimestamp": "2025-10-02T08:00:00Z"},
        "spec": {
            "name": "Globex",
            "owners": [{"kind": "User", "name": "bob@globex.example"}],
            "allowedDomains": ["*.globex.example"],
        },
    }
    project = {
        "apiVersion": "paas.kubeop.io/v1alpha1",
        "kind": "Project",
        "metadata": {"name": PROJECT, "resourceVersion": "4720", "creationTimestamp": "2025-10-01T08:05:00Z"},
        "spec": {"tenantRef": TENANT, "name": PROJECT},
        "status": {"namespace": NAMESPACE, "ready": True},
    }
    namespaces = [
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": name,
                "resourceVersion": version,
                "labels": {
                    "kubernetes.io/metadata.name": name,
                    "app.kubeop.io/tenant": tenant,
                    "app.kubeop.io/project": project_name,
                },
            },
        }
        for name, tenant, project_name, version in (
            (NAMESPACE, TENANT, PROJECT, "4730"),
            ("kubeop-globex-shop", "globex", "shop", "4731"),
        )
    ]
    return [acme, globex, project, *namespaces]


def _managed_fields(api_version: str, fields: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "manager": "kubectl-client-side-apply",
            "operation": "Update",
            "apiVersion": api_version,
            "time": CREATED_AT,
            "fieldsType": "FieldsV1",
            "fieldsV1": fields,
        }
    ]


def shop_object() -> dict[str, Any]:
    """A Shop as `kubectl apply` sends it: last-applied annotation and managedFields included, no defaults."""
    manifest = {
        "apiVersion": "apps.shophub.local/v1",
        "kind": "Shop",
        "metadata": {"name": "corner", "namespace": NAMESPACE},
        "spec": {
            "title": "Corner Shop",
            "walletAddress": "0x52908400098527886E0F7030069857D2E4169EE7",
            "image": SHOP_IMAGE,
            "discordWebhookSecretRef": {"name": "corner-discord"},
        },
    }
    shop: dict[str, Any] = json.loads(json.dumps(manifest))
    shop["metadata"]["annotations"] = {
        "kubectl.kubernetes.io/last-applied-configuration": json.dumps(manifest, separators=(",", ":")) + "\n"
    }
    shop["metadata"]["managedFields"] = _managed_fields(
        "apps.shophub.local/v1",
        {
            "f:metadata": {"f:annotations": {".": {}, "f:kubectl.kubernetes.io/last-applied-configuration": {}}},
            "f:spec": {
                ".": {},
                "f:discordWebhookSecretRef": {".": {}, "f:name": {}},
                "f:image": {},
                "f:title": {},
                "f:walletAddress": {},
            },
        },
    )
    return shop


def _restricted() -> dict[str, Any]:
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
    }


def _container(name: str, image: str, **extra: Any) -> dict[str, Any]:
    """A container with the fields the API server defaults filled in, as admission sees them."""
    container = {
        "name": name,
        "image": image,
        **extra,
        "securityContext": _restricted(),
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
        "imagePullPolicy": "IfNotPresent",
    }
    mounts = container.setdefault("volumeMounts", [])
    mounts.append(
        {
            "name": "kube-api-access-x7k2q",
            "readOnly": True,
            "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
        }
    )
    return container


def _probe(path: str) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": "http", "scheme": "HTTP"},
        "initialDelaySeconds": 5,
        "timeoutSeconds": 1,
        "periodSeconds": 10,
        "successThreshold": 1,
        "failureThreshold": 3,
    }


def pod_object() -> dict[str, Any]:
    """A ~4 KB Pod of a Shop: shop, log shipper and metrics exporter, restricted, API server defaults filled in."""
    resources = {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}}
    small = {"requests": {"cpu": "20m", "memory": "32Mi"}, "limits": {"cpu": "100m", "memory": "64Mi"}}
    env = [
        {"name": "DATABASE_URL", "valueFrom": {"secretKeyRef": {"name": "corner-app", "key": "uri"}}},
        {"name": "OTEL_EXPORTER_OTLP_ENDPOINT", "value": "http://otel-collector.observability:4317"},
        {"name": "OTEL_SERVICE_NAME", "value": "corner"},
        {"name": "WALLET_ADDRESS", "value": "0x52908400098527886E0F7030069857D2E4169EE7"},
        {"name": "SHOP_DB_NAME", "value": "corner"},
        {"name": "ADMIN_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "corner-admin", "key": "password"}}},
    ]
    labels = {
        "app": "corner",
        "app.kubernetes.io/name": "shop",
        "app.kubernetes.io/instance": "corner",
        "app.kubernetes.io/component": "web",
        "app.kubernetes.io/part-of": "shophub",
        "app.kubeop.io/tenant": TENANT,
        "app.kubeop.io/project": PROJECT,
    }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "corner-web-0",
            "namespace": NAMESPACE,
            "labels": labels,
            "annotations": {
                "kubectl.kubernetes.io/default-container": "shop",
                "prometheus.io/scrape": "true",
                "prometheus.io/port": "9102",
            },
            "managedFields": _managed_fields(
                "v1", {"f:metadata": {"f:labels": {".": {}}}, "f:spec": {"f:containers": {}, "f:volumes": {}}}
            ),
        },
        "spec": {
            "containers": [
                _container(
                    "shop",
                    SHOP_IMAGE,
                    ports=[{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
                    env=env,
                    resources=resources,
                    livenessProbe=_probe("/probe/liveness"),
                    readinessProbe=_probe("/probe/readiness"),
                    volumeMounts=[
                        {"name": "tmp", "mountPath": "/tmp"},
                        {"name": "config", "mountPath": "/etc/shop", "readOnly": True},
                    ],
                ),
                _container(
                    "log-shipper",
                    "registry.acme.example/observability/fluent-bit:3.1.9",
                    args=["--config=/fluent-bit/etc/fluent-bit.yaml"],
                    resources=small,
                    volumeMounts=[{"name": "tmp", "mountPath": "/var/log/shop", "readOnly": True}],
                ),
                _container(
                    "metrics",
                    "ghcr.io/acme/shop-exporter:0.9.0",
                    ports=[{"name": "metrics", "containerPort": 9102, "protocol": "TCP"}],
                    resources=small,
                ),
            ],
            "volumes": [
                {"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}},
                {"name": "config", "configMap": {"name": "corner-config", "defaultMode": 420}},
                {
                    "name": "kube-api-access-x7k2q",
                    "projected": {
                        "defaultMode": 420,
                        "sources": [
                            {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                            {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                            {
                                "downwardAPI": {
                                    "items": [
                                        {
                                            "path": "namespace",
                                            "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"},
                                        }
                                    ]
                                }
                            },
                        ],
                    },
                },
            ],
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": 10001,
                "runAsGroup": 10001,
                "fsGroup": 10001,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 30,
            "dnsPolicy": "ClusterFirst",
            "serviceAccountName": "default",
            "serviceAccount": "default",
            "schedulerName": "default-scheduler",
            "enableServiceLinks": True,
            "preemptionPolicy": "PreemptLowerPriority",
            "priority": 0,
            "tolerations": [
                {
                    "key": "node.kubernetes.io/not-ready",
                    "operator": "Exists",
                    "effect": "NoExecute",
                    "tolerationSeconds": 300,
                },
                {
                    "key": "node.kubernetes.io/unreachable",
                    "operator": "Exists",
                    "effect": "NoExecute",
                    "tolerationSeconds": 300,
                },
            ],
        },
    }


def review(uid: str, group: str, kind: str, plural: str, obj: dict[str, Any]) -> dict[str, Any]:
    """An AdmissionReview v1 CREATE request for `obj`, as the API server sends it."""
    version = obj["apiVersion"].rpartition("/")[2]
    gvk = {"group": group, "version": version, "kind": kind}
    gvr = {"group": group, "version": version, "resource": plural}
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": gvk,
            "resource": gvr,
            "requestKind": gvk,
            "requestResource": gvr,
            "name": obj["metadata"]["name"],
            "namespace": NAMESPACE,
            "operation": "CREATE",
            "userInfo": OWNER,
            "object": obj,
            "oldObject": None,
            "dryRun": False,
            "options": {
                "kind": "CreateOptions",
                "apiVersion": "meta.k8s.io/v1",
                "fieldManager": "kubectl-client-side-apply",
                "fieldValidation": "Strict",
            },
        },
    }


@dataclass(frozen=True)
class Scenario:
    """One review, where each server takes it, and what a correct answer looks like."""

    name: str
    description: str
    review: dict[str, Any]
    tenantgate_path: str
    kopf_path: str
    patched: bool

    @property
    def body(self) -> bytes:
        return json.dumps(self.review, separators=(",", ":")).encode()

    @property
    def request(self) -> AdmissionRequest:
        return AdmissionRequest.model_validate(self.review["request"])


def scenarios(registries: Registries, view: InMemoryClusterView) -> list[Scenario]:
    """The reviews: the two routings' calls. The Shop's `/validate` object is what tenantgate's own `/mutate`
    makes of it; `/admit` (one call per write, the chart's default) takes the object as written."""
    shop_create = review("5c1f9a0e-0001-4d2b-9a8e-0c5d7e3f1a01", "apps.shophub.local", "Shop", "shops", shop_object())
    mutation = dispatch.mutate(AdmissionRequest.model_validate(shop_create["request"]), view, registries.mutating)
    mutated = json.loads(
        json.dumps(mutation.patched_object if mutation.patched_object is not None else shop_create["request"]["object"])
    )
    shop_validate = review("5c1f9a0e-0002-4d2b-9a8e-0c5d7e3f1a02", "apps.shophub.local", "Shop", "shops", mutated)
    pod_validate = review("5c1f9a0e-0003-4d2b-9a8e-0c5d7e3f1a03", "", "Pod", "pods", pod_object())
    return [
        Scenario("shop-mutate", "Shop CREATE, /mutate", shop_create, "/mutate", "/shop-mutate", True),
        Scenario(
            "shop-validate", "Shop CREATE (mutated), /validate", shop_validate, "/validate", "/shop-validate", False
        ),
        Scenario(
            "pod-validate", "Pod CREATE (3 containers), /validate", pod_validate, "/validate", "/pod-validate", False
        ),
        Scenario("shop-admit", "Shop CREATE, /admit", shop_create, "/admit", "/shop-admit", True),
        Scenario("pod-admit", "Pod CREATE (3 containers), /admit", pod_validate, "/admit", "/pod-admit", False),
    ]


def handler_names(registries: Registries, scenario: Scenario) -> list[str]:
    """The handlers tenantgate runs for a scenario, in order (what the benchmark actually measures)."""
    kind = scenario.review["request"]["kind"]
    chosen = {
        "/mutate": [registries.mutating],
        "/validate": [registries.validating],
        "/admit": [registries.mutating, registries.validating],
    }[scenario.tenantgate_path]
    return [
        dispatch.handler_name(h).removeprefix("webhook.")
        for registry in chosen
        for h in registry.handlers_for(kind["group"], kind["kind"], "CREATE")
    ]


# ---- processes ---------------------------------------------------------------------------------------------


def _pinned(core: int | None) -> Callable[[], None]:
    """Runs in the child before exec: pin it to `core` and have the kernel SIGTERM it if we die."""

    def prepare() -> None:
        if core is not None:
            os.sched_setaffinity(0, {core})
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG

    return prepare


@dataclass
class Server:
    """One server process under test, started by us, pinned to the server core."""

    name: str
    argv: list[str]
    port: int
    log: Path
    env: dict[str, str] | None = None
    popen: subprocess.Popen[bytes] | None = None

    def start(self, core: int | None) -> None:
        with self.log.open("ab") as out:
            self.popen = subprocess.Popen(
                self.argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env,
                cwd=REPO_ROOT,
                start_new_session=True,
                preexec_fn=_pinned(core),
            )

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def signal(self, signum: int) -> None:
        if self.alive():
            os.kill(self.pid, signum)

    def stop(self) -> None:
        """SIGTERM our process group, then SIGKILL what is left after 15 s."""
        if self.popen is None:
            return
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout=5)

    def tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        return ""


def proc_status_kib(pid: int, key: str) -> int:
    """A `kB` field of /proc/<pid>/status (VmRSS, VmHWM), 0 when unreadable."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{key}:"):
                return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads) from /proc/<pid>/stat."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return 0.0


# ---- talking to the servers --------------------------------------------------------------------------------


def post(port: int, path: str, body: bytes, ca_file: Path, timeout: float = 10.0) -> tuple[int, dict[str, Any]]:
    """One verified-TLS POST; returns the status and the JSON answer (or {"text": ...})."""
    context = ssl.create_default_context(cafile=str(ca_file))
    connection = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=timeout)
    try:
        connection.request("POST", path, body=body, headers={"Content-Type": "application/json"})
        answer = connection.getresponse()
        raw = answer.read()
    finally:
        connection.close()
    try:
        payload: dict[str, Any] = json.loads(raw)
    except ValueError:
        payload = {"text": raw.decode(errors="replace")[:500]}
    return answer.status, payload


def wait_until_serving(server: Server, scenario: Scenario, path: str, ca_file: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if not server.alive():
            raise RuntimeError(f"{server.name} exited during start-up:\n{server.tail()}")
        try:
            status, _ = post(server.port, path, scenario.body, ca_file, timeout=5)
            if status == 200:
                return
            last = f"HTTP {status}"
        except (OSError, http.client.HTTPException) as exc:
            last = str(exc)
        time.sleep(0.25)
    raise RuntimeError(f"{server.name} did not serve {path} within {timeout:g}s ({last}):\n{server.tail()}")


def _apply(obj: dict[str, Any], operations: list[dict[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = jsonpatch.apply_patch(obj, operations)
    return result


def check_verdicts(
    servers: Mapping[str, Server],
    paths: Mapping[str, Callable[[Scenario], str]],
    cases: Sequence[Scenario],
    ca_file: Path,
) -> list[str]:
    """Each server answers each review once; print the answers and return every mismatch found."""
    problems: list[str] = []
    for scenario in cases:
        print(f"\n--- {scenario.name}: {scenario.description}, {len(scenario.body)} bytes")
        original = scenario.review["request"]["object"]
        effects: dict[str, dict[str, Any]] = {}
        for name, server in servers.items():
            status, payload = post(server.port, paths[name](scenario), scenario.body, ca_file)
            answer = payload.get("response", {})
            operations = decode_patch(answer)
            print(f"{name:>10}: HTTP {status} {json.dumps(payload, separators=(',', ':'))}")
            if operations:
                print(f"{'':>10}  patch: {json.dumps(operations, separators=(',', ':'))}")
            if status != 200 or answer.get("uid") != scenario.review["request"]["uid"]:
                problems.append(f"{name} {scenario.name}: HTTP {status}, uid {answer.get('uid')!r}")
            if answer.get("allowed") is not True:
                problems.append(f"{name} {scenario.name}: not allowed: {answer.get('status')}")
            if name == "limit":
                continue
            if scenario.patched and not operations:
                problems.append(f"{name} {scenario.name}: expected a patch, got none")
            if not scenario.patched and operations:
                problems.append(f"{name} {scenario.name}: expected no patch, got {operations}")
            effects[name] = _apply(original, operations) if operations else original
        if "kopf" in effects and "tenantgate" in effects and effects["kopf"] != effects["tenantgate"]:
            problems.append(f"kopf {scenario.name}: its patch does not have the same effect as tenantgate's")
    return problems


# ---- load ----------------------------------------------------------------------------------------------------


@dataclass
class Run:
    """One measured wrk run against one server."""

    scenario: str
    connections: int
    server: str
    requests: int
    seconds: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    p999_ms: float
    max_ms: float
    socket_errors: int
    non_2xx: int
    not_allowed: int
    rss_mib: float
    server_cpu: float
    server_cpu_us: float
    wrk_cpu: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def failures(self) -> int:
        return self.socket_errors + self.non_2xx + self.not_allowed


@dataclass
class Load:
    """wrk on the load core: one thread, keep-alive, the body from a file, latency from its histogram."""

    wrk: str
    core: int | None
    timeout_seconds: float = 5.0
    children: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def run(self, url: str, body_file: Path, connections: int, seconds: float) -> dict[str, Any]:
        argv = [
            self.wrk,
            "-t1",
            f"-c{connections}",
            f"-d{seconds:g}s",
            f"--timeout={self.timeout_seconds:g}s",
            "-s",
            str(WRK_SCRIPT),
            url,
        ]
        env = {**os.environ, "WRK_BODY_FILE": str(body_file)}
        popen = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            start_new_session=True,
            preexec_fn=_pinned(self.core),
        )
        self.children.append(popen)
        try:
            out, err = popen.communicate(timeout=seconds + 30)
        finally:
            if popen.poll() is None:
                popen.kill()
                popen.wait()
            self.children.remove(popen)
        text = out.decode(errors="replace")
        match = re.search(r"^WRK_RESULT (\{.*\})$", text, re.MULTILINE)
        if popen.returncode != 0 or match is None:
            raise RuntimeError(f"wrk failed ({popen.returncode}): {text}\n{err.decode(errors='replace')}")
        result: dict[str, Any] = json.loads(match.group(1))
        return result

    def stop(self) -> None:
        for popen in list(self.children):
            with contextlib.suppress(ProcessLookupError):
                popen.kill()
            popen.wait()


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(
    load: Load,
    server: Server,
    url: str,
    scenario: Scenario,
    body_file: Path,
    connections: int,
    seconds: float,
    warmup: float,
) -> Run:
    load.run(url, body_file, connections, warmup)
    cpu_before, wrk_before = cpu_seconds(server.pid), children_cpu()
    data = load.run(url, body_file, connections, seconds)
    cpu_after, wrk_after = cpu_seconds(server.pid), children_cpu()
    elapsed = data["duration_us"] / 1e6
    return Run(
        scenario=scenario.name,
        connections=connections,
        server=server.name,
        requests=data["requests"],
        seconds=elapsed,
        p50_ms=data["p50_us"] / 1000,
        p90_ms=data["p90_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        p999_ms=data["p999_us"] / 1000,
        max_ms=data["max_us"] / 1000,
        socket_errors=data["connect_errors"] + data["read_errors"] + data["write_errors"] + data["timeouts"],
        non_2xx=data["non_2xx"],
        not_allowed=data["not_allowed"],
        rss_mib=proc_status_kib(server.pid, "VmRSS") / 1024,
        server_cpu=(cpu_after - cpu_before) / elapsed if elapsed else 0.0,
        server_cpu_us=(cpu_after - cpu_before) / data["requests"] * 1e6 if data["requests"] else 0.0,
        wrk_cpu=(wrk_after - wrk_before) / elapsed if elapsed else 0.0,
    )


# ---- profile -----------------------------------------------------------------------------------------------


def profile_tenantgate(
    server: Server,
    load: Load,
    cases: Sequence[Scenario],
    bodies: Mapping[str, Path],
    out: Path,
    seconds: float,
    connections: int = TARGET_P99_CONNECTIONS,
) -> dict[str, Any]:
    """Sample a (second) tenantgate server under load, one review at a time; the summaries by scenario."""
    summaries: dict[str, Any] = {}
    for scenario in cases:
        url = f"https://127.0.0.1:{server.port}{scenario.tenantgate_path}"
        load.run(url, bodies[scenario.name], connections, 1)
        out.unlink(missing_ok=True)
        server.signal(signal.SIGUSR1)
        data = load.run(url, bodies[scenario.name], connections, seconds)
        server.signal(signal.SIGUSR2)
        deadline = time.monotonic() + 30
        while not out.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        if not out.exists():
            raise RuntimeError(f"the profiled server wrote no profile:\n{server.tail()}")
        summary = json.loads(out.read_text())
        summary["rps_under_profiler"] = round(data["requests"] / (data["duration_us"] / 1e6))
        summaries[scenario.name] = summary
    return summaries


# ---- report ------------------------------------------------------------------------------------------------


def versions(wrk: str, kubernetes: str) -> dict[str, str]:
    package = report.package_version
    wrk_words = subprocess.run([wrk, "-v"], capture_output=True, text=True, check=False).stdout.split()
    return {
        "tenantgate": f"{package('tenantgate')} (commit {report.commit()})",
        "Python": platform.python_version(),
        "aiohttp": package("aiohttp"),
        "pydantic": package("pydantic"),
        "kopf": package("kopf"),
        "OpenSSL": ssl.OPENSSL_VERSION.removeprefix("OpenSSL "),
        "wrk": wrk_words[1] if len(wrk_words) > 1 else "unknown",
        "Kubernetes (kopf's control plane)": kubernetes,
    }


def _cell(run: Run | None, attribute: str, digits: int = 2) -> str:
    if run is None:
        return "-"
    value = getattr(run, attribute)
    return f"{value:,.0f}" if attribute == "rps" else f"{value:.{digits}f}"


def results_table(runs: Sequence[Run], cases: Sequence[Scenario]) -> str:
    lines = [
        "| review | conns | server | req/s | p50 ms | p99 ms | p99.9 ms | max ms | server CPU | CPU µs/req "
        "| wrk CPU | RSS MiB | errors / non-2xx / not allowed |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for run in runs:
        description = next(s.description for s in cases if s.name == run.scenario)
        lines.append(
            f"| {description} | {run.connections} | {run.server} | {run.rps:,.0f} | {run.p50_ms:.2f} "
            f"| {run.p99_ms:.2f} | {run.p999_ms:.2f} | {run.max_ms:.1f} | {run.server_cpu:.0%} "
            f"| {run.server_cpu_us:.0f} | {run.wrk_cpu:.0%} "
            f"| {run.rss_mib:.0f} | {run.socket_errors} / {run.non_2xx} / {run.not_allowed} |"
        )
    return "\n".join(lines)


@dataclass(frozen=True)
class Verdict:
    """A target, checked for one review and connection count."""

    scenario: str
    connections: int
    limit_ratio: float
    kopf_ratio: float
    p99_ms: float

    @property
    def limit_met(self) -> bool:
        return self.limit_ratio >= TARGET_LIMIT_RATIO

    @property
    def kopf_met(self) -> bool:
        return self.kopf_ratio >= TARGET_KOPF_RATIO

    @property
    def p99_met(self) -> bool:
        return self.connections != TARGET_P99_CONNECTIONS or self.p99_ms <= TARGET_P99_MS


def verdicts(runs: Sequence[Run]) -> list[Verdict]:
    by_key = {(r.scenario, r.connections, r.server): r for r in runs}
    result = []
    for scenario, connections, server in by_key:
        if server != "tenantgate":
            continue
        ours = by_key[(scenario, connections, "tenantgate")]
        limit = by_key.get((scenario, connections, "limit"))
        kopf = by_key.get((scenario, connections, "kopf"))
        result.append(
            Verdict(
                scenario,
                connections,
                ours.rps / limit.rps if limit and limit.rps else 0.0,
                ours.rps / kopf.rps if kopf and kopf.rps else 0.0,
                ours.p99_ms,
            )
        )
    return result


def targets_table(checks: Sequence[Verdict], cases: Sequence[Scenario]) -> str:
    def mark(ok: bool) -> str:
        return "met" if ok else "**missed**"

    lines = [
        f"| review | conns | tenantgate / limit (≥ {TARGET_LIMIT_RATIO}) | tenantgate / kopf (≥ {TARGET_KOPF_RATIO:g}) "
        f"| tenantgate p99 (≤ {TARGET_P99_MS:g} ms at {TARGET_P99_CONNECTIONS}) |",
        "|---|---:|---|---|---|",
    ]
    for check in checks:
        description = next(s.description for s in cases if s.name == check.scenario)
        p99 = (
            f"{check.p99_ms:.2f} ms, {mark(check.p99_met)}"
            if check.connections == TARGET_P99_CONNECTIONS
            else f"{check.p99_ms:.2f} ms (no target)"
        )
        lines.append(
            f"| {description} | {check.connections} | {check.limit_ratio:.2f}x, {mark(check.limit_met)} "
            f"| {check.kopf_ratio:.2f}x, {mark(check.kopf_met)} | {p99} |"
        )
    return "\n".join(lines)


def missed_summary(checks: Sequence[Verdict]) -> list[str]:
    notes = []
    for check in checks:
        where = f"{check.scenario} at {check.connections} connections"
        if not check.limit_met:
            notes.append(
                f"tenantgate / limit is {check.limit_ratio:.2f}x for {where}: "
                f"{(TARGET_LIMIT_RATIO - check.limit_ratio) / TARGET_LIMIT_RATIO:.0%} short of "
                f"{TARGET_LIMIT_RATIO}x"
            )
        if not check.kopf_met:
            notes.append(
                f"tenantgate / kopf is {check.kopf_ratio:.2f}x for {where}: "
                f"{(TARGET_KOPF_RATIO - check.kopf_ratio) / TARGET_KOPF_RATIO:.0%} short of "
                f"{TARGET_KOPF_RATIO:g}x"
            )
        if not check.p99_met:
            notes.append(
                f"tenantgate p99 is {check.p99_ms:.2f} ms for {where}: "
                f"{check.p99_ms - TARGET_P99_MS:.2f} ms over {TARGET_P99_MS:g} ms"
            )
    return notes


def profile_markdown(profiles: Mapping[str, Any], cases: Sequence[Scenario], seconds: float) -> str:
    lines = [
        f"tenantgate under {TARGET_P99_CONNECTIONS} connections, sampled with pyinstrument (0.5 ms interval, "
        f"wall clock of the event-loop thread, {seconds:g} s per review; sampling itself slows the server, so the "
        "shares matter, not the absolute rate). Self time by area, then the top functions by self time:",
        "",
    ]
    for scenario in cases:
        summary = profiles.get(scenario.name)
        if summary is None:
            continue
        areas = ", ".join(f"{a['area']} {a['share']:.0%}" for a in summary["areas"] if a["share"] >= 0.01)
        lines.append(f"- **{scenario.description}** ({summary['rps_under_profiler']:,} req/s while sampled): {areas}.")
        for entry in summary["functions"][:8]:
            file = str(entry["file"]).removeprefix(f"{REPO_ROOT}/")
            where = f"{file}:{entry['line']}" if file and not file.startswith("<") else file or "built-in"
            lines.append(f"  - {entry['share']:.1%} `{entry['function']}` ({where})")
    return "\n".join(lines)


# ---- main ----------------------------------------------------------------------------------------------------


@dataclass
class Options:
    quick: bool
    seconds: float
    warmup: float
    profile: bool
    profile_seconds: float
    write: bool
    command: str


def parse_args(argv: Sequence[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="3 s runs instead of 10 s (a smoke test, ~2 min)")
    parser.add_argument(
        "--profile", action="store_true", help="profile tenantgate under load even when every target is met"
    )
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/performance.md alone")
    args = parser.parse_args(argv)
    command = " ".join([".venv/bin/python", "bench/webhook.py", *(argv if argv is not None else sys.argv[1:])])
    return Options(
        quick=args.quick,
        seconds=3.0 if args.quick else 10.0,
        warmup=2.0,
        profile=args.profile,
        profile_seconds=3.0 if args.quick else 5.0,
        write=not args.no_write,
        command=command,
    )


def cores() -> tuple[int | None, int | None]:
    """(server core, load core): the first two CPUs we may run on, or no pinning on a one-CPU machine."""
    allowed = sorted(os.sched_getaffinity(0))
    if len(allowed) < 2:
        return None, None
    return allowed[0], allowed[1]


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@contextlib.contextmanager
def stopping(servers: list[Server], load: Load) -> Iterator[None]:
    """Stop every process we started, whatever happens (the control plane stops itself)."""
    try:
        yield
    finally:
        load.stop()
        for server in reversed(servers):
            server.stop()


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_args(argv)
    wrk = shutil.which("wrk")
    if wrk is None:
        print("wrk is not installed: apt-get install -y wrk", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _interrupt)
    started = time.monotonic()
    load_before = os.getloadavg()
    server_core, load_core = cores()
    registries = build_registries()
    view = InMemoryClusterView.from_objects(cluster_objects())
    cases = scenarios(registries, view)
    load = Load(wrk, load_core)
    servers: list[Server] = []
    print(
        f"load average before: {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}; "
        f"servers on core {server_core}, wrk on core {load_core}"
    )
    for scenario in cases:
        names = ", ".join(handler_names(registries, scenario)) or "none"
        print(f"{scenario.name}: {len(scenario.body)} bytes; tenantgate handlers: {names}")

    with tempfile.TemporaryDirectory(prefix="tenantgate-bench-") as work_dir, stopping(servers, load):
        work = Path(work_dir)
        ensure_local_certs(work / "certs", ("localhost", "127.0.0.1"))
        ca_file = work / "certs" / "ca.crt"
        (work / "view.json").write_text(json.dumps(cluster_objects()))
        bodies = {}
        for scenario in cases:
            bodies[scenario.name] = work / f"{scenario.name}.json"
            bodies[scenario.name].write_bytes(scenario.body)
        python = sys.executable
        common = ["--cert-dir", str(work / "certs"), "--host", "127.0.0.1"]
        limit_port = free_port()
        limit = Server(
            "limit",
            [python, str(BENCH_DIR / "limit_server.py"), *common, "--port", str(limit_port)],
            limit_port,
            work / "limit.log",
        )
        ours_port = free_port()
        tenantgate = Server(
            "tenantgate",
            [
                python,
                str(BENCH_DIR / "tenantgate_server.py"),
                *common,
                "--port",
                str(ours_port),
                "--view",
                str(work / "view.json"),
            ],
            ours_port,
            work / "tenantgate.log",
        )
        for server in (limit, tenantgate):
            servers.append(server)
            server.start(server_core)

        print("\nstarting a local control plane for kopf ...", flush=True)
        with ControlPlane() as plane:
            plane.kubectl("apply", "-f", str(SHOP_CRD))
            plane.kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd/shops.apps.shophub.local")
            kopf_port = free_port()
            kopf_env = {
                **os.environ,
                "KUBECONFIG": str(plane.kubeconfig),
                "TENANTGATE_BENCH_DIR": str(work),
                "TENANTGATE_BENCH_KOPF_PORT": str(kopf_port),
            }
            kopf = Server(
                "kopf",
                [
                    str(Path(python).with_name("kopf")),
                    "run",
                    "--standalone",
                    "--all-namespaces",
                    "--quiet",
                    str(BENCH_DIR / "kopf_operator.py"),
                ],
                kopf_port,
                work / "kopf.log",
                env=kopf_env,
            )
            servers.append(kopf)
            kopf.start(server_core)
            paths: dict[str, Callable[[Scenario], str]] = {
                "limit": lambda s: s.tenantgate_path,
                "tenantgate": lambda s: s.tenantgate_path,
                "kopf": lambda s: s.kopf_path,
            }
            by_name = {"limit": limit, "tenantgate": tenantgate, "kopf": kopf}
            for name, server in by_name.items():
                wait_until_serving(
                    server, cases[-1], paths[name](cases[-1]), ca_file, timeout=120 if name == "kopf" else 30
                )
            print(f"all three servers answer ({time.monotonic() - started:.0f}s in); checking verdicts once:")
            problems = check_verdicts(by_name, paths, cases, ca_file)
            if problems:
                print("\nthe servers do not give the intended verdicts; not measuring:", *problems, sep="\n  ")
                return 1

            runs: list[Run] = []
            print(f"\nload: {options.warmup:g}s warm-up + {options.seconds:g}s per run")
            for scenario in cases:
                for connections in CONNECTIONS:
                    for name, server in by_name.items():
                        url = f"https://127.0.0.1:{server.port}{paths[name](scenario)}"
                        run = measure(
                            load,
                            server,
                            url,
                            scenario,
                            bodies[scenario.name],
                            connections,
                            options.seconds,
                            options.warmup,
                        )
                        runs.append(run)
                        print(
                            f"{scenario.name:>14} c={connections:<3} {name:>10}: {run.rps:8,.0f} req/s  "
                            f"p50 {run.p50_ms:6.2f} ms  p99 {run.p99_ms:6.2f} ms  CPU {run.server_cpu:4.0%}  "
                            f"RSS {run.rss_mib:4.0f} MiB  failures {run.failures}",
                            flush=True,
                        )
            peaks = {name: proc_status_kib(server.pid, "VmHWM") / 1024 for name, server in by_name.items()}
            kubernetes = plane.binaries.directory.name
            kopf.stop()  # before its API server goes away, so it shuts down cleanly

        checks = verdicts(runs)
        missed = missed_summary(checks)
        failures = sum(run.failures for run in runs)
        profiles: dict[str, Any] = {}
        if (missed or options.profile) and tenantgate.alive():
            print("\nprofiling tenantgate under load ...", flush=True)
            profiled_port = free_port()
            profiled = Server(
                "tenantgate-profiled",
                [
                    python,
                    str(BENCH_DIR / "tenantgate_server.py"),
                    *common,
                    "--port",
                    str(profiled_port),
                    "--view",
                    str(work / "view.json"),
                    "--profile",
                    str(work / "profile.json"),
                ],
                profiled_port,
                work / "profiled.log",
            )
            servers.append(profiled)
            profiled.start(server_core)
            wait_until_serving(profiled, cases[-1], cases[-1].tenantgate_path, ca_file, timeout=30)
            profiles = profile_tenantgate(profiled, load, cases, bodies, work / "profile.json", options.profile_seconds)
            profiled.stop()
        load_after = os.getloadavg()

    elapsed = time.monotonic() - started
    table = results_table(runs, cases)
    targets = targets_table(checks, cases)
    print("\n" + table + "\n\n" + targets)
    if missed:
        print("\ntargets missed:", *missed, sep="\n  ")
    if profiles:
        print("\n" + profile_markdown(profiles, cases, options.profile_seconds))
    print(
        f"\nfailures under load: {failures}; load average {load_before[0]:.2f} before, {load_after[0]:.2f} after; "
        f"{elapsed:.0f}s in all"
    )
    if options.write:
        report.write_section(
            SECTION.removeprefix("## "),
            render_section(
                options,
                cases,
                registries,
                runs,
                checks,
                missed,
                profiles,
                peaks,
                versions(wrk, kubernetes),
                (load_before, load_after),
                elapsed,
                failures,
            ),
        )
        print(f"wrote {report.DOC.relative_to(REPO_ROOT)}")
    return 1 if failures else 0


def render_section(
    options: Options,
    cases: Sequence[Scenario],
    registries: Registries,
    runs: Sequence[Run],
    checks: Sequence[Verdict],
    missed: Sequence[str],
    profiles: Mapping[str, Any],
    peaks: Mapping[str, float],
    tools: Mapping[str, str],
    loads: tuple[tuple[float, float, float], tuple[float, float, float]],
    elapsed: float,
    failures: int,
) -> str:
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    before, after = loads
    handler_lines = "\n".join(
        f"- {s.description} ({len(s.body):,} bytes): "
        + (", ".join(f"`{name}`" for name in handler_names(registries, s)) or "no handlers")
        for s in cases
    )
    tool_lines = ", ".join(f"{name} {version}" for name, version in tools.items())
    verdict = "All targets met." if not missed else "Targets missed:\n\n" + "\n".join(f"- {m}" for m in missed)
    sections = [
        SECTION,
        "",
        f"Measured {now}{' (quick run: 3 s per run)' if options.quick else ''} with:",
        "",
        "```sh",
        options.command,
        "```",
        "",
        f"Machine: {report.machine_line()}. Load average (1 min) {before[0]:.2f} "
        f"when the run started and {after[0]:.2f} when it ended (the latter includes the benchmark's own server "
        "and wrk; other work shares this machine, so numbers move by several percent between runs). "
        f"Versions: {tool_lines}.",
        "",
        "How: every server is a separate process pinned to core 0 and serves TLS on loopback with the same "
        "certificate and TLS settings (`webhook.tls.make_server_context`); wrk runs pinned to core 1 with one "
        f"thread and keep-alive connections, {options.warmup:g} s warm-up then {options.seconds:g} s per run, runs "
        "interleaved (limit, tenantgate, kopf for each review and connection count). Latency is wrk's, per "
        "request, from writing the request to the last byte of the answer. The wrk script checks every answer: "
        "`errors` counts socket errors and timeouts, `non-2xx` and `not allowed` (an answer without "
        '`"allowed": true`); all must be 0. `server CPU` is the server\'s CPU time over the run (100% = core 0 '
        "fully used) and `CPU µs/req` that time per answered request (less sensitive than req/s to other work on "
        "the machine); `RSS` is the server's VmRSS after the run. A local control plane (etcd + kube-apiserver, "
        "idle at ~2% of a core) runs throughout, because kopf cannot serve without one.",
        "",
        "- **limit**: `bench/limit_server.py`, a bare aiohttp handler that parses the JSON body and echoes the "
        "uid with `allowed: true` (no envelope checks, handlers, metrics or logging).",
        "- **tenantgate**: `bench/tenantgate_server.py`, the production server (`webhook.cli.serve`, "
        "`build_registries()` as it is at run time, INFO logging) over an in-memory view holding Tenant `acme` "
        "(owners, allowedRegistries, allowedDomains, quota), Project `web` and namespace `kubeop-acme-web`.",
        "- **kopf**: `bench/kopf_operator.py` under `kopf run --standalone --all-namespaces --quiet`, "
        "`@kopf.on.mutate`/`@kopf.on.validate` async handlers calling the same `admission.dispatch.mutate` / "
        "`validate` with the same registries and view, translating the result into `kopf.AdmissionError`, "
        "kopf's `warnings` and kopf's `patch` (which kopf renders to JSONPatch itself), posted at `/{handler id}`.",
        "",
        "Reviews (userInfo `alice@acme.example`, groups `acme-admins`, an owner of tenant `acme`), with the "
        "tenantgate handlers that ran for each:",
        "",
        handler_lines,
        "",
        "Before the load, each server answered each review once and the answer was checked: tenantgate and kopf "
        "patched the Shop on `/mutate` and `/admit` (kopf's patch has the same effect as tenantgate's) and "
        "allowed on `/validate` and the Pod's `/admit`; the limit allowed everything.",
        "",
        table_or_note(runs, cases),
        "",
        "Peak RSS (VmHWM): " + ", ".join(f"{name} {mib:.0f} MiB" for name, mib in peaks.items()) + ".",
        "",
        "### Targets",
        "",
        targets_table(checks, cases),
        "",
        verdict,
        "",
        f"Failures under load (socket errors, non-2xx, not allowed): {failures}. Whole run: {elapsed:.0f} s.",
    ]
    if profiles:
        sections += ["", "### Profile", "", profile_markdown(profiles, cases, options.profile_seconds)]
    return "\n".join(sections) + "\n"


def table_or_note(runs: Sequence[Run], cases: Sequence[Scenario]) -> str:
    return results_table(runs, cases) if runs else "_No runs._"


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("\ninterrupted; every started process was stopped", file=sys.stderr)
        sys.exit(130)
