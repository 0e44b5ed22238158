"""Controller convergence at scale, steady state and restarts: the controller against the limit of its own writes.

    .venv/bin/python -m bench controller                       # sizes 300, 1000, 3000; Projects; mix; steady; restarts
    .venv/bin/python -m bench controller --quick               # a smoke run (sizes 40 and 80), under two minutes
    .venv/bin/python -m bench controller --sizes 300,1000 --parts apps,steady,restarts
    .venv/bin/python -m bench controller --parts mix --mix 150 # 150 Shops and 150 Djangos only

Each measurement runs on its own local control plane (etcd, kube-apiserver, kube-controller-manager) with the
chart installed, the real webhook and the real controller (`LocalPlatform`): tenant `acme`, owner
`alice@acme.example`, Project `web` for the Apps.

- **Convergence** (`apps`): N `type: Image` Apps (each with a host: Deployment, Service and Ingress) are created
  by the tenant owner with aiohttp at concurrency C. The clock starts when the last create is answered and stops
  when a watch on the Apps (as the admin) has seen every App's status carry its revision and a Ready condition;
  the controller writes that status only after applying the App's children, and every child is checked by one
  list at the end. Writes are counted by the API server itself (`apiserver_request_total`, by verb and resource).
- **The limit**, in the same run: the children the controller wrote are read back, stripped to what an apply
  sends (no owner references, no tenantgate labels, so the controller neither caches nor prunes them), put in a
  second project namespace and server-side applied under the controller's ServiceAccount token with the same
  client library (aiohttp) and the same concurrency, timed from the first apply to the last answer. The limit
  writes no statuses and no Events, so it is optimistic by one write per App.
- **Projects** (`projects`): the same for N Projects (Namespace, LimitRange, ResourceQuota, two
  NetworkPolicies, RoleBinding each); the limit applies the Namespaces first, then the rest.
- **Shops and Djangos** (`mix`, `--mix N`: N of each, default 150, quick 10): postgres Shops and thismatters
  Djangos (with one management command) created in turn by the tenant owner, on a platform that also has the
  tests' third-party CRDs (`tests/fixtures/crds`: CloudNativePG, prometheus-operator, ...). A Shop builds a CNPG
  `Cluster` and waits for the app Secret `<name>-app` CloudNativePG would publish, then builds its admin Secret,
  Deployment, Service, Ingress, dashboard ConfigMap and ServiceMonitor, and is `Available` once its Deployment's
  replicas are ready; a Django builds Redis (Deployment, Service), its web Service, Ingress and migration Job,
  and only after the Job succeeded web, worker and beat with their autoscalers, and is then `Ready`. The local
  control plane runs none of the operators, Job or Deployment controllers and kubelets that would answer, so the
  bench runs stand-ins (`StandIn`: list+watch as the admin, in the measured namespace, loopback only) that make
  exactly those writes, at once: the Secret, the Job's `Complete` status and the Shop Deployment's ready
  replicas; `standin_write` decides which, for one object. The clock stops when every Shop is `Available` and
  every Django `Ready`, then every child the controller's own builders name must exist. Their writes are counted
  by the API server with the rest and listed apart. The limit applies the same children as for Apps (CNPG
  Clusters and Jobs included) and none of the stand-ins' writes, so it is optimistic by the two rounds each kind
  waits for.
- **Steady state** (`steady`), at the size `--steady-apps`: with every App converged, `--idle` seconds of
  nothing; the writes the API server counts in that time (Leases excluded: the API server renews its own
  identity Lease every 10 s whoever else runs).
- **Restarts** (`restarts`), after the steady state: the controller is stopped (SIGTERM) and started again; the
  time from the process start until it logs `controllers caught up` (every queue drained after the initial
  lists), and the writes meanwhile. Then `--restart-apps` more Apps are created; once about half of them have a
  status, the controller is frozen (SIGSTOP), the API server's counters are read, kube-apiserver is killed
  (SIGKILL) and started again (etcd keeps running), the controller is thawed (SIGCONT), and the writes the new
  API server counts until convergence are compared with the writes that were still missing.
- Bounded: every wait has a deadline, every process started is stopped on exit; loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import json
import math
import os
import re
import secrets
import signal
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import aiohttp

from bench.apiserver import USER, Identity, cpu_seconds, identity, prepare_tenancy, processes
from bench.report import Table, load_average, publish
from controller.conditions import now_rfc3339
from controller.config import DEFAULT_WORKERS
from controller.reconcilers import django as django_reconciler
from controller.reconcilers import shop_builders
from controller.reconcilers.django_plan import plan_of
from controller.reconcilers.shop_dashboard import BEST_EFFORT_KINDS

TITLE = "Controller convergence"
TENANT = "acme"
NAMESPACE = "kubeop-acme-web"
LIMIT_PROJECT = "limit"
LIMIT_NAMESPACE = "kubeop-acme-limit"
APPS = "/apis/paas.kubeop.io/v1alpha1/namespaces/{ns}/apps"
PROJECTS = "/apis/paas.kubeop.io/v1alpha1/projects"
CHILDREN = {
    "Deployment": "/apis/apps/v1/namespaces/{ns}/deployments",
    "Service": "/api/v1/namespaces/{ns}/services",
    "Ingress": "/apis/networking.k8s.io/v1/namespaces/{ns}/ingresses",
}
PROJECT_CHILDREN = {
    "LimitRange": "/api/v1/namespaces/{ns}/limitranges",
    "ResourceQuota": "/api/v1/namespaces/{ns}/resourcequotas",
    "NetworkPolicy": "/apis/networking.k8s.io/v1/namespaces/{ns}/networkpolicies",
    "RoleBinding": "/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/rolebindings",
}
NAMESPACES = "/api/v1/namespaces"
SHOPS = "/apis/apps.shophub.local/v1/namespaces/{ns}/shops"
DJANGOS = "/apis/thismatters.github/v1alpha/namespaces/{ns}/djangos"
MIX = "Shops + Djangos"
MIX_CHILDREN = {
    "Cluster": "/apis/postgresql.cnpg.io/v1/namespaces/{ns}/clusters",
    "Secret": "/api/v1/namespaces/{ns}/secrets",
    "ConfigMap": "/api/v1/namespaces/{ns}/configmaps",
    "Deployment": "/apis/apps/v1/namespaces/{ns}/deployments",
    "Service": "/api/v1/namespaces/{ns}/services",
    "Ingress": "/apis/networking.k8s.io/v1/namespaces/{ns}/ingresses",
    "ServiceMonitor": "/apis/monitoring.coreos.com/v1/namespaces/{ns}/servicemonitors",
    "HorizontalPodAutoscaler": "/apis/autoscaling/v2/namespaces/{ns}/horizontalpodautoscalers",
    "Job": "/apis/batch/v1/namespaces/{ns}/jobs",
}
"""Every kind a Shop (postgres, no Discord webhook) or a thismatters Django builds, and where it is listed."""
MIX_OWNERS = frozenset({"Shop", "Django"})
STANDIN_WATCHES = {
    "Cluster": ("postgresql.cnpg.io/v1", MIX_CHILDREN["Cluster"]),
    "Job": ("batch/v1", MIX_CHILDREN["Job"]),
    "Deployment": ("apps/v1", MIX_CHILDREN["Deployment"]),
}
"""What the stand-in operators watch (in the measured namespace only): CNPG Clusters, Jobs and Deployments."""
FIXTURE_CRDS = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "crds"
JOB_GENERATED_LABELS = (
    "controller-uid",
    "batch.kubernetes.io/controller-uid",
    "job-name",
    "batch.kubernetes.io/job-name",
)
"""Pod template labels the API server adds to a Job (with `spec.selector`): an apply of a copy must not send them."""
KEEP_METADATA = ("name", "labels", "annotations")
OWN_LABELS = ("app.kubernetes.io/managed-by", "tenantgate.io/owner")
"""The labels that make a child the controller's (its owned caches select on the first, prune on the second)."""
CPU_COLUMNS = ("controller", "kube-apiserver", "etcd", "webhook")
WRITE_VERBS = frozenset({"POST", "PUT", "PATCH", "APPLY", "DELETE", "DELETECOLLECTION"})
CAUGHT_UP = "controllers caught up"
DEADLINE = 900.0
"""Seconds any single wait may take before the run fails (3,000 Apps on two busy cores stay well inside)."""


# ---- objects -------------------------------------------------------------------------------------------------


def app(name: str, namespace: str = NAMESPACE) -> dict[str, Any]:
    return {
        "apiVersion": "paas.kubeop.io/v1alpha1",
        "kind": "App",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"type": "Image", "image": "ghcr.io/acme/web:1.0", "host": f"{name}.acme.example", "port": 80},
    }


def project(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "paas.kubeop.io/v1alpha1",
        "kind": "Project",
        "metadata": {"name": f"{TENANT}-{name}"},
        "spec": {"tenantRef": TENANT, "name": name},
    }


def shop(name: str, namespace: str = NAMESPACE) -> dict[str, Any]:
    """A postgres Shop as the shophub backend sends it, with an image from the tenant's registry."""
    return {
        "apiVersion": "apps.shophub.local/v1",
        "kind": "Shop",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "title": name.title(),
            "walletAddress": "0x27b1fdb04752bbc536007a920d24acb045561c26",
            "image": "ghcr.io/acme/shop:1",
        },
    }


def django(name: str, namespace: str = NAMESPACE) -> dict[str, Any]:
    """A thismatters Django with one management command: Redis, web, worker and beat wait for its Job."""
    return {
        "apiVersion": "thismatters.github/v1alpha",
        "kind": "Django",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "host": f"{name}.{TENANT}.example",
            "image": "ghcr.io/acme/blog",
            "version": "1.0",
            "clusterIssuer": "letsencrypt",
            "commands": {
                "app": {"command": ["gunicorn"], "args": ["blog.wsgi"]},
                "worker": {"command": ["celery"], "args": ["-A", "blog", "worker"]},
                "beat": {"command": ["celery"], "args": ["-A", "blog", "beat"]},
            },
            "initManageCommands": [["migrate", "--noinput"]],
        },
    }


def conditions_of(obj: dict[str, Any]) -> dict[str, str]:
    return {str(c.get("type")): str(c.get("status")) for c in (obj.get("status") or {}).get("conditions") or []}


def mix_ready(obj: dict[str, Any]) -> bool:
    """Whether a Shop is `Available` (its Deployment's replicas ready) or a Django `Ready` (migrated, serving). Pure."""
    return conditions_of(obj).get("Available" if obj.get("kind") == "Shop" else "Ready") == "True"


def status_done(obj: dict[str, Any], *, revision: bool) -> bool:
    """Whether the controller has written this object's status: a Ready condition (and a revision). Pure."""
    status = obj.get("status") or {}
    if revision and not status.get("revision"):
        return False
    return any(c.get("type") == "Ready" for c in status.get("conditions") or [])


def missing_children(names: Iterable[str], children: dict[str, set[str]]) -> list[str]:
    """`Kind name` of every child `app-<name>` of the Apps `names` that no list showed. Pure."""
    return [
        f"{kind} app-{name}" for name in names for kind, found in sorted(children.items()) if f"app-{name}" not in found
    ]


def as_applied(obj: dict[str, Any], namespace: str) -> dict[str, Any]:
    """A child as the controller's apply would send it, into `namespace`: no server fields, no status, and its
    tenantgate labels renamed (same size) so the controller never takes the copy for its own. Pure."""
    metadata = {key: copy.deepcopy(obj["metadata"][key]) for key in KEEP_METADATA if key in obj["metadata"]}
    metadata["namespace"] = namespace
    metadata.get("annotations", {}).pop("deployment.kubernetes.io/revision", None)
    labels = metadata.get("labels", {})
    for key in OWN_LABELS:
        if key in labels:
            labels[f"{key.split('/')[0]}/copy-{key.split('/')[1]}"[: len(key) + 5]] = labels.pop(key)
    spec = copy.deepcopy(obj.get("spec", {}))
    if obj["kind"] == "Service":  # allocated by the API server: a copy must ask for its own
        for key in ("clusterIP", "clusterIPs"):
            spec.pop(key, None)
    if obj["kind"] == "Job":  # generated from the Job's uid: a copy gets its own
        spec.pop("selector", None)
        template_labels = spec.get("template", {}).get("metadata", {}).get("labels", {})
        for key in JOB_GENERATED_LABELS:
            template_labels.pop(key, None)
    applied = {"apiVersion": obj["apiVersion"], "kind": obj["kind"], "metadata": metadata}
    for key in ("spec", "subjects", "roleRef", "type", "data"):
        if key == "spec" and spec:
            applied["spec"] = spec
        elif key != "spec" and key in obj:
            applied[key] = copy.deepcopy(obj[key])
    return applied


def controller_owner(obj: dict[str, Any]) -> tuple[str, str] | None:
    """(kind, name) of the object's controlling owner, if it has one. Pure."""
    for reference in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if reference.get("controller"):
            return str(reference.get("kind")), str(reference.get("name"))
    return None


def mix_children(shops: Iterable[dict[str, Any]], djangos: Iterable[dict[str, Any]]) -> set[tuple[str, str]]:
    """`(kind, name)` of every child the controller's own builders give the converged (live) Shops and Djangos:
    a Shop's once its connection Secret exists (with the prometheus-operator kinds served), a Django's serving its
    target release, plus its migration Job. Pure."""
    wanted: set[tuple[str, str]] = set()
    shop_inputs = shop_builders.ShopInputs(connection_data={}, include_best_effort=frozenset(BEST_EFFORT_KINDS))
    for live in shops:
        children = shop_builders.desired_children(live, shop_inputs)
        wanted |= {(child["kind"], child["metadata"]["name"]) for child in children}
    for live in djangos:
        plan = plan_of(live)
        inputs = django_reconciler.DjangoInputs(serve=django_reconciler.Release(plan.image, plan.version))
        children = django_reconciler.desired_children(plan, inputs)
        job = django_reconciler.migration_job(plan)
        wanted |= {(child["kind"], child["metadata"]["name"]) for child in [*children, *([job] if job else [])]}
    return wanted


# ---- stand-in operators --------------------------------------------------------------------------------------
#
# The local control plane runs no kubelet, no Job or Deployment controller and no database operator, so what a
# Shop and a Django wait for never happens by itself. These decide, for one object the controller built, the
# single write the real operator would make that the controller waits for; `StandIn` watches and sends them.


@dataclass(frozen=True)
class StandInWrite:
    """One write of a stand-in operator: `what` as the API server counts it (`VERB resource`), and the request."""

    what: str
    method: str
    path: str
    body: dict[str, Any]

    @property
    def key(self) -> str:
        """The object written: one write of each in flight at a time."""
        return f"{self.path}/{self.body['metadata']['name']}" if self.method == "POST" else self.path

    @property
    def content_type(self) -> str:
        return "application/json" if self.method == "POST" else "application/merge-patch+json"


def cnpg_app_secret(cluster: dict[str, Any], password: str) -> dict[str, Any]:
    """The Secret `<cluster>-app` CloudNativePG publishes for the application user of its `initdb` database. Pure."""
    name, namespace = cluster["metadata"]["name"], cluster["metadata"]["namespace"]
    initdb = (((cluster.get("spec") or {}).get("bootstrap") or {}).get("initdb")) or {}
    owner, database = str(initdb.get("owner") or "app"), str(initdb.get("database") or "app")
    host = f"{name}-rw.{namespace}"
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": shop_builders.connection_secret_name(name),
            "namespace": namespace,
            "labels": {"cnpg.io/cluster": name, "cnpg.io/reload": "true", "cnpg.io/userType": "app"},
            "ownerReferences": [
                {
                    "apiVersion": cluster["apiVersion"],
                    "kind": "Cluster",
                    "name": name,
                    "uid": cluster["metadata"].get("uid", ""),
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "type": "kubernetes.io/basic-auth",
        "stringData": {
            "username": owner,
            "user": owner,
            "password": password,
            "dbname": database,
            "host": f"{name}-rw",
            "port": "5432",
            "uri": f"postgresql://{owner}:{password}@{host}:5432/{database}",
            "jdbc-uri": f"jdbc:postgresql://{host}:5432/{database}?password={password}&user={owner}",
            "pgpass": f"{name}-rw:5432:{database}:{owner}:{password}\n",
        },
    }


def job_complete_status(now: str) -> dict[str, Any]:
    """What the Job controller writes once a one-pod Job's pod succeeded (1.34's validation wants the interim
    `SuccessCriteriaMet` beside `Complete`, and the times; the same as the Django e2e tests write). Pure."""
    conditions = [
        {
            "type": kind,
            "status": "True",
            "reason": "CompletionsReached",
            "message": "Reached expected number of succeeded pods",
            "lastProbeTime": now,
            "lastTransitionTime": now,
        }
        for kind in ("SuccessCriteriaMet", "Complete")
    ]
    return {
        "succeeded": 1,
        "active": 0,
        "ready": 0,
        "terminating": 0,
        "startTime": now,
        "completionTime": now,
        "conditions": conditions,
    }


def deployment_ready_status(deployment: dict[str, Any]) -> dict[str, Any]:
    """What the Deployment controller writes once every replica of the current generation is ready. Pure."""
    replicas = (deployment.get("spec") or {}).get("replicas", 1)
    return {
        "observedGeneration": deployment["metadata"].get("generation", 1),
        "replicas": replicas,
        "updatedReplicas": replicas,
        "readyReplicas": replicas,
        "availableReplicas": replicas,
    }


def standin_write(obj: dict[str, Any], now: str, password: str) -> StandInWrite | None:
    """The write a real operator would make for `obj` that the controller waits for, if it is still due. Pure.

    - a CNPG `Cluster`: its app Secret `<name>-app` (the Shop waits for it before building anything else);
    - a `Job` without a final condition: succeeded (a Django serves its release only after its Job);
    - a `Deployment` a Shop controls, not ready at its generation: ready (the Shop is Available only then).
    Djangos' Deployments are left alone: a Django is Ready without them, as the controller decides.
    """
    metadata = obj.get("metadata") or {}
    if metadata.get("deletionTimestamp"):
        return None
    name, namespace, kind = metadata.get("name"), metadata.get("namespace"), obj.get("kind")
    if (obj.get("apiVersion"), kind) == shop_builders.CNPG_CLUSTER:
        secrets_path = MIX_CHILDREN["Secret"].format(ns=namespace)
        return StandInWrite("POST secrets", "POST", secrets_path, cnpg_app_secret(obj, password))
    if kind == "Job":
        state, _ = django_reconciler.job_state(obj)
        if state in (django_reconciler.JobState.SUCCEEDED, django_reconciler.JobState.FAILED):
            return None
        path = f"{MIX_CHILDREN['Job'].format(ns=namespace)}/{name}/status"
        return StandInWrite("PATCH jobs/status", "PATCH", path, {"status": job_complete_status(now)})
    if kind == "Deployment" and (controller_owner(obj) or ("", ""))[0] == "Shop":
        wanted = deployment_ready_status(obj)
        status = obj.get("status") or {}
        if all(status.get(key) == value for key, value in wanted.items()):
            return None
        path = f"{MIX_CHILDREN['Deployment'].format(ns=namespace)}/{name}/status"
        return StandInWrite("PATCH deployments/status", "PATCH", path, {"status": wanted})
    return None


# ---- counting and fitting ------------------------------------------------------------------------------------

_SAMPLE = re.compile(r"^apiserver_request_total\{(.*)\}\s+(\S+)$")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def request_counts(text: str) -> Counter[tuple[str, str]]:
    """`apiserver_request_total` summed by (verb, resource[/subresource]) from a /metrics page. Pure."""
    counts: Counter[tuple[str, str]] = Counter()
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match is None:
            continue
        labels = dict(_LABEL.findall(match.group(1)))
        resource = labels.get("resource", "")
        if labels.get("subresource"):
            resource = f"{resource}/{labels['subresource']}"
        counts[(labels.get("verb", ""), resource)] += int(float(match.group(2)))
    return counts


_RECONCILE = re.compile(r'^tenantgate_controller_reconcile_duration_seconds_(sum|count)\{kind="([^"]*)"\}\s+(\S+)$')


def reconcile_totals(text: str) -> dict[str, tuple[int, float]]:
    """(reconciles, seconds spent in them) by controller kind, from the controller's /metrics page. Pure."""
    found: dict[str, tuple[int, float]] = {}
    for line in text.splitlines():
        match = _RECONCILE.match(line)
        if match is None:
            continue
        which, kind, value = match.groups()
        count, seconds = found.get(kind, (0, 0.0))
        found[kind] = (int(float(value)), seconds) if which == "count" else (count, float(value))
    return found


def reconciles_between(
    before: dict[str, tuple[int, float]], after: dict[str, tuple[int, float]]
) -> dict[str, tuple[int, float]]:
    """The reconciles (and their seconds) of each kind between two readings, kinds without any left out. Pure."""
    spent_by_kind = {
        kind: (count - before.get(kind, (0, 0.0))[0], seconds - before.get(kind, (0, 0.0))[1])
        for kind, (count, seconds) in after.items()
    }
    return {kind: value for kind, value in spent_by_kind.items() if value[0] > 0}


def writes(
    before: Counter[tuple[str, str]], after: Counter[tuple[str, str]], exclude: Iterable[str] = ("leases",)
) -> Counter[str]:
    """Writes between two counts, by `VERB resource`, without the `exclude`d resources. Pure."""
    excluded = set(exclude)
    found: Counter[str] = Counter()
    for (verb, resource), count in after.items():
        if verb in WRITE_VERBS and resource.split("/")[0] not in excluded:
            delta = count - before.get((verb, resource), 0)
            if delta:
                found[f"{verb} {resource}"] += delta
    return found


def describe_writes(found: Counter[str]) -> str:
    return ", ".join(f"{what} {count:,}" for what, count in sorted(found.items())) or "none"


@dataclass(frozen=True)
class Fit:
    """Least squares `y = intercept + slope * x`, and how much of the variance the line explains."""

    slope: float
    intercept: float
    r2: float


def fit_line(xs: Sequence[float], ys: Sequence[float]) -> Fit:
    """Ordinary least squares over at least two distinct x. Pure."""
    if len(xs) != len(ys) or len(set(xs)) < 2:
        raise ValueError("a line needs at least two distinct x values")
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    sxx = sum((x - mean_x) ** 2 for x in xs)
    sxy = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True))
    slope = sxy / sxx
    intercept = mean_y - slope * mean_x
    total = sum((y - mean_y) ** 2 for y in ys)
    residual = sum((y - intercept - slope * x) ** 2 for x, y in zip(xs, ys, strict=True))
    return Fit(slope, intercept, 1.0 - residual / total if total else 1.0)


def caught_up_after(log_text: str) -> float | None:
    """The `seconds` of the first `controllers caught up` line in a JSON log, if any. Pure."""
    for line in log_text.splitlines():
        if CAUGHT_UP in line:
            with contextlib.suppress(ValueError, KeyError, TypeError):
                return float(json.loads(line)["seconds"])
    return None


# ---- processes -----------------------------------------------------------------------------------------------


def proc_status_mib(pid: int, field_name: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field_name}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def controller_pid(platform: Any) -> int:
    popen = platform.controller.popen
    if popen is None:
        raise RuntimeError("the controller is not running")
    return int(popen.pid)


@contextlib.contextmanager
def platform_with_controller(profile: Path | None = None, third_party_crds: bool = False) -> Iterator[Any]:
    """The platform; with `profile`, the controller runs under pyinstrument, which writes its pstats file there
    when the controller stops; with `third_party_crds`, the CRDs of the tests' fixtures (CloudNativePG, the
    prometheus-operator kinds, ...) are installed before the controller starts, as the Shop e2e tests do."""
    from tenantgate.devcluster import ControlPlane
    from tenantgate.devcluster.platform import LocalPlatform

    with ControlPlane() as plane:
        if third_party_crds:
            plane.kubectl("apply", "-f", str(FIXTURE_CRDS))
            plane.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
        platform = LocalPlatform(plane, controller=True)
        if profile is not None:
            argv = platform.controller.argv
            module = argv.index("-m")
            platform.controller.argv = [
                *argv[:module],
                *("-m", "pyinstrument", "--interval", "0.002", "-r", "pstats", "-o", str(profile)),
                *argv[module:],
            ]
        platform.install()
        try:
            yield platform
        finally:
            platform.stop()


# ---- the API -------------------------------------------------------------------------------------------------


async def list_items(session: aiohttp.ClientSession, url: str, **params: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    query = {"limit": "500", **params}
    while True:
        async with session.get(url, params=query) as response:
            response.raise_for_status()
            page = await response.json()
        items += page["items"]
        token = (page.get("metadata") or {}).get("continue")
        if not token:
            return items
        query["continue"] = token


async def gather_limited(concurrency: int, jobs: Sequence[Callable[[], Awaitable[None]]]) -> None:
    queue = list(reversed(jobs))

    async def worker() -> None:
        while queue:
            await queue.pop()()

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def apiserver_counts(session: aiohttp.ClientSession, admin: Identity) -> Counter[tuple[str, str]]:
    async with session.get(f"{admin.server}/metrics") as response:
        response.raise_for_status()
        return request_counts(await response.text())


class StatusWatch:
    """Watches a collection as the admin and records which objects have their status written, and when."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        url: str,
        *,
        revision: bool = False,
        finished: Callable[[dict[str, Any]], bool] | None = None,
    ) -> None:
        """An object is done when `finished` says so; by default when `status_done` does (with `revision`)."""
        self.session = session
        self.url = url
        self.revision = revision
        self.finished = finished or (lambda obj: status_done(obj, revision=revision))
        self.done: dict[str, float] = {}
        self.changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Self:
        items = await list_items(self.session, self.url)
        self._record(items)
        version = await self._version()
        self._task = asyncio.create_task(self._run(version))
        return self

    async def _version(self) -> str:
        async with self.session.get(self.url, params={"limit": "1"}) as response:
            response.raise_for_status()
            return str((await response.json())["metadata"]["resourceVersion"])

    def _record(self, items: Iterable[dict[str, Any]]) -> None:
        for item in items:
            name = item["metadata"]["name"]
            if name not in self.done and self.finished(item):
                self.done[name] = time.perf_counter()
                self.changed.set()

    async def _run(self, version: str) -> None:
        while True:  # the stream ends at the server's timeout or when the API server restarts: resume
            try:
                params = {"watch": "1", "resourceVersion": version, "allowWatchBookmarks": "true"}
                timeout = aiohttp.ClientTimeout(total=None, sock_read=120)
                async with self.session.get(self.url, params=params, timeout=timeout) as response:
                    if response.status == 410:
                        self._record(await list_items(self.session, self.url))
                        version = await self._version()
                        continue
                    response.raise_for_status()
                    async for line in response.content:
                        if not line.strip():
                            continue
                        event = json.loads(line)
                        obj = event.get("object") or {}
                        version = (obj.get("metadata") or {}).get("resourceVersion") or version
                        if event.get("type") in ("ADDED", "MODIFIED"):
                            self._record([obj])
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - a broken stream (API server restart) is resumed, whatever broke it
                await asyncio.sleep(0.2)

    async def until(self, names: Iterable[str], deadline: float, what: str) -> float:
        """Wait until every name is done; the perf_counter time the last one was seen."""
        wanted = set(names)
        while not wanted <= self.done.keys():
            if self._task is not None and self._task.done():
                self._task.result()  # re-raises what stopped the watch
                raise RuntimeError(f"{what}: the watch ended")
            if time.perf_counter() > deadline:
                missing = len(wanted - self.done.keys())
                raise RuntimeError(f"{what}: {missing} of {len(wanted)} without a status at the deadline")
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), 1.0)
        return max(self.done[name] for name in wanted)

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


class StandIn(StatusWatch):
    """The stand-in operators of one watched kind: every object listed or changed is put to `standin_write`, and a
    write that is due is sent as the admin (at most `limit` at once over all kinds, one per object at a time).

    A POSTed object is written once (a 409 means it exists); a status is patched again only if a later event of
    its object still shows it due. `writes` counts what was answered 2xx, by `VERB resource`."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        server: str,
        kind: str,
        namespace: str,
        writes: Counter[str],
        limit: asyncio.Semaphore,
    ) -> None:
        api_version, path = STANDIN_WATCHES[kind]
        super().__init__(session, server + path.format(ns=namespace))
        self.server = server
        self.typed = {"apiVersion": api_version, "kind": kind}
        self.writes = writes
        self.limit = limit
        self.busy: set[str] = set()
        self.created: set[str] = set()
        self.tasks: set[asyncio.Task[None]] = set()
        self.failures: list[str] = []

    def _record(self, items: Iterable[dict[str, Any]]) -> None:
        for item in items:
            write = standin_write({**self.typed, **item}, now_rfc3339(), secrets.token_hex(16))
            if write is None or write.key in self.busy or write.key in self.created:
                continue
            self.busy.add(write.key)
            task = asyncio.create_task(self._send(write))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def _send(self, write: StandInWrite) -> None:
        try:
            async with (
                self.limit,
                self.session.request(
                    write.method,
                    self.server + write.path,
                    data=json.dumps(write.body),
                    headers={"Content-Type": write.content_type},
                ) as answer,
            ):
                if answer.status < 300:
                    self.writes[write.what] += 1
                if write.method == "POST" and answer.status in (201, 409):
                    self.created.add(write.key)
                elif answer.status >= 300 and answer.status != 404:  # 404: deleted meanwhile
                    self.failures.append(f"{write.what} {write.key}: {answer.status} {await answer.text()}")
        finally:
            self.busy.discard(write.key)

    async def __aexit__(self, *exc: object) -> None:
        await super().__aexit__(*exc)
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


@contextlib.asynccontextmanager
async def stand_ins(
    session: aiohttp.ClientSession, server: str, namespace: str, concurrency: int
) -> AsyncIterator[Counter[str]]:
    """CloudNativePG, the Job controller and the Deployment controller (with its kubelets), for `namespace`: yields
    the Counter of their writes."""
    found: Counter[str] = Counter()
    limit = asyncio.Semaphore(concurrency)
    async with contextlib.AsyncExitStack() as stack:
        operators = [
            await stack.enter_async_context(StandIn(session, server, kind, namespace, found, limit))
            for kind in STANDIN_WATCHES
        ]
        yield found
        failures = [failure for operator in operators for failure in operator.failures]
        if failures:
            raise RuntimeError(f"{len(failures)} stand-in writes failed: {'; '.join(failures[:3])}")


# ---- measurements --------------------------------------------------------------------------------------------


@dataclass
class Convergence:
    what: str
    count: int
    concurrency: int
    creates: float
    convergence: float
    limit: float
    children: int
    rss_mib: float
    peak_rss_mib: float
    writes: Counter[str]
    cpu: dict[str, float] = field(default_factory=dict)
    """CPU seconds per process from the first create to convergence."""
    limit_cpu: dict[str, float] = field(default_factory=dict)
    limit_writes: Counter[str] = field(default_factory=Counter)
    """What the API server counted while the limit applied."""
    standin_writes: Counter[str] = field(default_factory=Counter)
    """The part of `writes` the stand-in operators made (the mix only)."""
    ready_after: dict[str, float] = field(default_factory=dict)
    """Seconds from the last create until the last object of each kind was done (the mix only)."""
    reconciles: dict[str, tuple[int, float]] = field(default_factory=dict)
    """Reconciles and the seconds spent in them, by controller, from the first create to convergence."""

    @property
    def ratio(self) -> float:
        return self.convergence / self.limit


@dataclass
class Steady:
    apps: int
    idle: float
    idle_writes: Counter[str]
    restart_seconds: float
    caught_up_seconds: float
    restart_writes: Counter[str]
    relists: float
    restart_apps: int = 0
    done_before: int = 0
    missing_writes: int = 0
    apiserver_down: float = 0.0
    after_writes: Counter[str] = field(default_factory=Counter)
    resumed_convergence: float = 0.0
    controller_relists: float = 0.0


class Bench:
    """One platform's clients: the tenant owner, the admin and the controller's own ServiceAccount."""

    def __init__(self, platform: Any, scratch: Path, concurrency: int) -> None:
        self.platform = platform
        self.plane = platform.plane
        self.tenant = identity(prepare_tenancy(platform), scratch)
        self.admin = identity(Path(self.plane.kubeconfig), scratch)
        self.controller = identity(Path(platform.controller_kubeconfig), scratch)
        self.concurrency = concurrency

    async def __aenter__(self) -> Bench:
        self.tenant_session = self.tenant.session(self.concurrency)
        self.admin_session = self.admin.session(8)
        self.controller_session = self.controller.session(self.concurrency)
        self.standin_session = self.admin.session(self.concurrency + len(STANDIN_WATCHES))
        # Both projects settled before anything is counted: their bootstrap writes are not the measurement's.
        await self.ensure_project(LIMIT_PROJECT)
        await self.project_ready(f"{TENANT}-web")
        await self.project_ready(f"{TENANT}-{LIMIT_PROJECT}")
        await asyncio.sleep(2)
        return self

    async def project_ready(self, name: str) -> None:
        deadline = time.monotonic() + 120
        while True:
            async with self.admin_session.get(f"{self.admin.server}{PROJECTS}/{name}") as response:
                if response.status == 200 and status_done(await response.json(), revision=False):
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(f"Project {name} has no Ready condition after 120 s")
            await asyncio.sleep(0.5)

    async def __aexit__(self, *exc: object) -> None:
        for session in (self.tenant_session, self.admin_session, self.controller_session, self.standin_session):
            await session.close()

    async def counts(self) -> Counter[tuple[str, str]]:
        for attempt in range(3):  # a pooled connection to a restarted API server fails once
            try:
                return await apiserver_counts(self.admin_session, self.admin)
            except aiohttp.ClientError:
                if attempt == 2:
                    raise
                await asyncio.sleep(0.2)
        raise AssertionError("unreachable")

    async def wait_namespace(self, namespace: str) -> None:
        deadline = time.monotonic() + 120
        while True:
            async with self.admin_session.get(f"{self.admin.server}{NAMESPACES}/{namespace}") as response:
                if response.status == 200:
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(f"the controller did not create namespace {namespace} within 120 s")
            await asyncio.sleep(0.5)

    async def create_all(self, url: str, bodies: Sequence[dict[str, Any]], session: aiohttp.ClientSession) -> None:
        await self.create_each([(url, body) for body in bodies], session)

    async def create_each(self, posts: Sequence[tuple[str, dict[str, Any]]], session: aiohttp.ClientSession) -> None:
        """POST every (collection URL, object), at the bench's concurrency."""

        def create(url: str, body: dict[str, Any]) -> Callable[[], Awaitable[None]]:
            async def post() -> None:
                async with session.post(url, json=body) as response:
                    if response.status != 201:
                        raise RuntimeError(f"create {body['kind']}: {response.status} {await response.text()}")

            return post

        await gather_limited(self.concurrency, [create(url, body) for url, body in posts])

    async def apply_all(self, copies: Sequence[tuple[str, dict[str, Any]]]) -> float:
        """Server-side apply every (collection URL, object) under the controller's identity; seconds taken."""

        def apply(url: str, obj: dict[str, Any]) -> Callable[[], Awaitable[None]]:
            async def patch() -> None:
                params = {"fieldManager": "bench-limit", "force": "true"}
                headers = {"Content-Type": "application/apply-patch+yaml"}
                async with self.controller_session.patch(
                    f"{url}/{obj['metadata']['name']}", data=json.dumps(obj), params=params, headers=headers
                ) as answer:
                    if answer.status not in (200, 201):
                        raise RuntimeError(f"apply {obj['kind']}: {answer.status} {await answer.text()}")

            return patch

        started = time.perf_counter()
        await gather_limited(self.concurrency, [apply(url, obj) for url, obj in copies])
        return time.perf_counter() - started

    def cpu(self) -> dict[str, float]:
        """CPU seconds so far of each process on the write path, and of this one (`bench`: creates, watches and,
        for the mix, the stand-ins), which shares the machine's cores with them."""
        pids = {**processes(self.platform), "controller": controller_pid(self.platform)}
        pids["bench"] = pids.pop("client")
        return {name: cpu_seconds(pid) for name, pid in pids.items()}

    def rss(self) -> tuple[float, float]:
        pid = controller_pid(self.platform)
        return proc_status_mib(pid, "VmRSS"), proc_status_mib(pid, "VmHWM")

    # ---- Apps ----

    async def apps(self, count: int, prefix: str = "bench") -> Convergence:
        names = [f"{prefix}-{index}" for index in range(count)]
        apps_url = self.admin.server + APPS.format(ns=NAMESPACE)
        before, reconciled_before = await self.counts(), await self.reconciled()
        cpu_before = self.cpu()
        async with StatusWatch(self.admin_session, apps_url, revision=True) as watch:
            started = time.perf_counter()
            await self.create_all(
                self.tenant.server + APPS.format(ns=NAMESPACE), [app(n) for n in names], self.tenant_session
            )
            last_create = time.perf_counter()
            done = await watch.until(names, last_create + DEADLINE, f"{count} Apps")
        cpu = spent(cpu_before, self.cpu())
        after, reconciled = await self.counts(), reconciles_between(reconciled_before, await self.reconciled())
        rss, peak = self.rss()
        children: dict[str, set[str]] = {}
        copies: list[tuple[str, dict[str, Any]]] = []
        for kind, path in CHILDREN.items():
            items = await list_items(self.admin_session, self.admin.server + path.format(ns=NAMESPACE))
            children[kind] = {item["metadata"]["name"] for item in items}
            for item in items:
                if item["metadata"]["name"].removeprefix("app-") in names:
                    obj = as_applied({**item, "kind": kind, "apiVersion": api_version(path)}, LIMIT_NAMESPACE)
                    copies.append((self.admin.server + path.format(ns=LIMIT_NAMESPACE), obj))
        missing = missing_children(names, children)
        if missing:
            raise RuntimeError(f"status written but children missing: {', '.join(missing[:5])}")
        cpu_before, limit_before = self.cpu(), await self.counts()
        limit = await self.apply_all(copies)
        limit_cpu, limit_writes = spent(cpu_before, self.cpu()), writes(limit_before, await self.counts())
        return Convergence(
            "Apps",
            count,
            self.concurrency,
            last_create - started,
            max(done - last_create, 0.0),
            limit,
            len(copies),
            rss,
            peak,
            writes(before, after),
            cpu,
            limit_cpu,
            limit_writes,
            reconciles=reconciled,
        )

    async def ensure_project(self, name: str) -> None:
        namespace = f"kubeop-{TENANT}-{name}"
        async with self.admin_session.get(f"{self.admin.server}{NAMESPACES}/{namespace}") as response:
            if response.status == 200:
                return
        await self.create_all(self.admin.server + PROJECTS, [project(name)], self.admin_session)
        await self.wait_namespace(namespace)

    # ---- Projects ----

    async def projects(self, count: int) -> Convergence:
        names = [f"p{index}" for index in range(count)]
        before, reconciled_before = await self.counts(), await self.reconciled()
        cpu_before = self.cpu()
        async with StatusWatch(self.admin_session, self.admin.server + PROJECTS, revision=False) as watch:
            started = time.perf_counter()
            await self.create_all(self.tenant.server + PROJECTS, [project(n) for n in names], self.tenant_session)
            last_create = time.perf_counter()
            wanted = [f"{TENANT}-{n}" for n in names]
            done = await watch.until(wanted, last_create + DEADLINE, f"{count} Projects")
        cpu = spent(cpu_before, self.cpu())
        after, reconciled = await self.counts(), reconciles_between(reconciled_before, await self.reconciled())
        rss, peak = self.rss()
        selector = {"labelSelector": f"{OWN_LABELS[0]}=tenantgate"}
        namespaces = [
            item
            for item in await list_items(self.admin_session, self.admin.server + NAMESPACES, **selector)
            if item["metadata"]["name"].removeprefix(f"kubeop-{TENANT}-") in names
        ]
        if len(namespaces) != count:
            raise RuntimeError(f"{count} Projects have status but {len(namespaces)} namespaces exist")
        first: list[tuple[str, dict[str, Any]]] = []
        rest: list[tuple[str, dict[str, Any]]] = []
        for item in namespaces:
            copy_name = f"copy-{item['metadata']['name']}"
            obj = as_applied({**item, "kind": "Namespace", "apiVersion": "v1"}, "")
            obj["metadata"] = {**obj["metadata"], "name": copy_name}
            obj["metadata"].pop("namespace")
            obj.pop("spec", None)  # finalizers only
            first.append((self.admin.server + NAMESPACES, obj))
        for kind, path in PROJECT_CHILDREN.items():
            url = self.admin.server + path.replace("namespaces/{ns}/", "")
            for item in await list_items(self.admin_session, url, **selector):
                namespace = item["metadata"]["namespace"]
                if namespace.removeprefix(f"kubeop-{TENANT}-") not in names:
                    continue
                obj = as_applied({**item, "kind": kind, "apiVersion": api_version(path)}, f"copy-{namespace}")
                rest.append((self.admin.server + path.format(ns=f"copy-{namespace}"), obj))
        cpu_before, limit_before = self.cpu(), await self.counts()
        limit = await self.apply_all(first) + await self.apply_all(rest)
        limit_cpu, limit_writes = spent(cpu_before, self.cpu()), writes(limit_before, await self.counts())
        return Convergence(
            "Projects",
            count,
            self.concurrency,
            last_create - started,
            max(done - last_create, 0.0),
            limit,
            len(first) + len(rest),
            rss,
            peak,
            writes(before, after),
            cpu,
            limit_cpu,
            limit_writes,
            reconciles=reconciled,
        )

    # ---- Shops and Djangos ----

    async def mix(self, count: int) -> Convergence:
        """`count` Shops and `count` Djangos, created in turn, with the stand-in operators running."""
        shops, djangos = [f"shop-{index}" for index in range(count)], [f"django-{index}" for index in range(count)]
        shops_url, djangos_url = (self.admin.server + path.format(ns=NAMESPACE) for path in (SHOPS, DJANGOS))
        posts = [
            post
            for shop_name, django_name in zip(shops, djangos, strict=True)
            for post in (
                (self.tenant.server + SHOPS.format(ns=NAMESPACE), shop(shop_name)),
                (self.tenant.server + DJANGOS.format(ns=NAMESPACE), django(django_name)),
            )
        ]
        before, reconciled_before = await self.counts(), await self.reconciled()
        cpu_before = self.cpu()
        async with (
            StatusWatch(self.admin_session, shops_url, finished=mix_ready) as shop_watch,
            StatusWatch(self.admin_session, djangos_url, finished=mix_ready) as django_watch,
            stand_ins(self.standin_session, self.admin.server, NAMESPACE, self.concurrency) as standin_writes,
        ):
            started = time.perf_counter()
            await self.create_each(posts, self.tenant_session)
            last_create = time.perf_counter()
            shops_done = await shop_watch.until(shops, last_create + DEADLINE, f"{count} Shops")
            djangos_done = await django_watch.until(djangos, last_create + DEADLINE, f"{count} Djangos")
            done = max(shops_done, djangos_done)
        cpu = spent(cpu_before, self.cpu())
        after, reconciled = await self.counts(), reconciles_between(reconciled_before, await self.reconciled())
        rss, peak = self.rss()
        ours = {("Shop", name) for name in shops} | {("Django", name) for name in djangos}
        live_shops = [
            item for item in await list_items(self.admin_session, shops_url) if item["metadata"]["name"] in shops
        ]
        live_djangos = [
            item for item in await list_items(self.admin_session, djangos_url) if item["metadata"]["name"] in djangos
        ]
        found: set[tuple[str, str]] = set()
        copies: list[tuple[str, dict[str, Any]]] = []
        for kind, path in MIX_CHILDREN.items():
            for item in await list_items(self.admin_session, self.admin.server + path.format(ns=NAMESPACE)):
                if controller_owner(item) not in ours:
                    continue
                found.add((kind, item["metadata"]["name"]))
                obj = as_applied({**item, "kind": kind, "apiVersion": api_version(path)}, LIMIT_NAMESPACE)
                copies.append((self.admin.server + path.format(ns=LIMIT_NAMESPACE), obj))
        missing = sorted(mix_children(live_shops, live_djangos) - found)
        if missing:
            raise RuntimeError(f"status Ready but children missing: {', '.join(f'{k} {n}' for k, n in missing[:5])}")
        cpu_before, limit_before = self.cpu(), await self.counts()
        limit = await self.apply_all(copies)
        limit_cpu, limit_writes = spent(cpu_before, self.cpu()), writes(limit_before, await self.counts())
        return Convergence(
            MIX,
            2 * count,
            self.concurrency,
            last_create - started,
            max(done - last_create, 0.0),
            limit,
            len(copies),
            rss,
            peak,
            writes(before, after),
            cpu,
            limit_cpu,
            limit_writes,
            Counter(standin_writes),
            {"Shops": shops_done - last_create, "Djangos": djangos_done - last_create},
            reconciled,
        )

    # ---- steady state and restarts ----

    async def steady(self, apps: int, idle: float, restart_apps: int) -> Steady:
        before = await self.counts()
        await asyncio.sleep(idle)
        idle_writes = writes(before, await self.counts())
        print(f"idle {idle:.0f} s: writes {describe_writes(idle_writes)}", flush=True)

        platform = self.platform
        log = Path(platform.controller.log)
        platform.controller.stop()
        offset = len(await asyncio.to_thread(log.read_bytes))
        before = await self.counts()
        started = time.perf_counter()
        platform.controller.start()
        deadline = started + 120
        caught_up: float | None = None
        while caught_up is None:
            if time.perf_counter() > deadline or not platform.controller.running():
                raise RuntimeError(f"the restarted controller did not catch up:\n{platform.controller.tail()}")
            await asyncio.sleep(0.05)
            caught_up = caught_up_after((await asyncio.to_thread(log.read_bytes))[offset:].decode(errors="replace"))
        restart_seconds = time.perf_counter() - started
        await asyncio.sleep(5)  # anything the initial pass set off lands by now
        restart_writes = writes(before, await self.counts())
        relists = await self.controller_metric("tenantgate_controller_relists_total")
        print(f"restart: caught up after {restart_seconds:.2f} s, writes {describe_writes(restart_writes)}", flush=True)
        result = Steady(apps, idle, idle_writes, restart_seconds, caught_up, restart_writes, relists)
        if restart_apps:
            await self.restart_apiserver_midway(result, restart_apps)
        return result

    async def controller_metrics(self) -> str:
        url = f"http://127.0.0.1:{self.platform.health_port}/metrics"
        async with aiohttp.ClientSession() as session, session.get(url) as response:
            return await response.text()

    async def controller_metric(self, name: str) -> float:
        text = await self.controller_metrics()
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name))

    async def reconciled(self) -> dict[str, tuple[int, float]]:
        return reconcile_totals(await self.controller_metrics())

    async def statuses(self, names: Iterable[str]) -> set[str]:
        """The Apps among `names` whose status the controller has written (one list; robust to restarts)."""
        wanted = set(names)
        url = self.admin.server + APPS.format(ns=NAMESPACE)
        for attempt in range(20):  # the API server may be (re)starting
            try:
                items = await list_items(self.admin_session, url)
                break
            except (aiohttp.ClientError, OSError):
                if attempt == 19:
                    raise
                await asyncio.sleep(0.5)
        return {
            item["metadata"]["name"]
            for item in items
            if item["metadata"]["name"] in wanted and status_done(item, revision=True)
        }

    async def restart_apiserver_midway(self, result: Steady, count: int) -> None:
        names = [f"restart-{index}" for index in range(count)]
        relists_before = await self.controller_metric("tenantgate_controller_relists_total")
        before = await self.counts()
        pid = controller_pid(self.platform)
        await self.create_all(
            self.tenant.server + APPS.format(ns=NAMESPACE), [app(n) for n in names], self.tenant_session
        )
        deadline = time.perf_counter() + DEADLINE
        while len(await self.statuses(names)) < count // 2:
            if time.perf_counter() > deadline:
                raise RuntimeError("half of the Apps created before the API server restart never converged")
            await asyncio.sleep(0.1)
        os.kill(pid, signal.SIGSTOP)  # the controller holds still while the books are read
        try:
            await asyncio.sleep(0.5)
            at_restart = await self.counts()
            result.done_before = len(await self.statuses(names))
            result.apiserver_down = await asyncio.to_thread(self.plane.restart_apiserver, signal.SIGKILL)
        finally:
            os.kill(pid, signal.SIGCONT)
        resumed = time.perf_counter()
        while len(await self.statuses(names)) < count:
            if time.perf_counter() > resumed + DEADLINE:
                raise RuntimeError("the Apps did not converge after the API server restart")
            await asyncio.sleep(0.25)
        result.resumed_convergence = time.perf_counter() - resumed
        await asyncio.sleep(2)
        result.after_writes = writes(Counter(), await self.counts())
        written = writes(before, at_restart)
        result.restart_apps = count
        result.missing_writes = 4 * count - useful_writes(written)
        result.controller_relists = await self.controller_metric("tenantgate_controller_relists_total") - relists_before


def spent(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {name: after[name] - before.get(name, 0.0) for name in after}


def api_version(path: str) -> str:
    return "v1" if path.startswith("/api/v1") else "/".join(path.split("/")[2:4])


# ---- the run -------------------------------------------------------------------------------------------------


@dataclass
class Settings:
    sizes: list[int]
    concurrency: int
    projects: int
    steady_apps: int
    idle: float
    restart_apps: int
    parts: frozenset[str]
    mix: int = 0
    """Shops and as many Djangos (each) for the `mix` part."""
    profile: Path | None = None


PARTS = ("apps", "projects", "mix", "steady", "restarts")


def settings_from(quick: bool, extra: argparse.Namespace) -> Settings:
    sizes = (
        [int(size) for size in extra.sizes.split(",")] if extra.sizes else ([40, 80] if quick else [300, 1000, 3000])
    )
    parts = frozenset(extra.parts.split(",")) if extra.parts else frozenset(PARTS)
    unknown = parts - set(PARTS)
    if unknown:
        raise SystemExit(f"unknown part(s) {', '.join(sorted(unknown))}; known: {', '.join(PARTS)}")
    steady_apps = extra.steady_apps or (sizes[-1] if quick else 1000)
    return Settings(
        sizes=sizes,
        concurrency=extra.concurrency_apps,
        projects=extra.projects if extra.projects is not None else (20 if quick else 300),
        steady_apps=steady_apps,
        idle=extra.idle if extra.idle is not None else (10.0 if quick else 120.0),
        restart_apps=extra.restart_apps if extra.restart_apps is not None else (40 if quick else 300),
        parts=parts,
        mix=extra.mix if getattr(extra, "mix", None) is not None else (10 if quick else 150),
        profile=Path(extra.profile) if extra.profile else None,
    )


@dataclass(frozen=True)
class Plan:
    """What one platform measures: Apps, Projects, the mix (each a count, or None), and whether steady state."""

    apps: int | None = None
    projects: int | None = None
    mix: int | None = None
    steady: bool = False

    def profile(self, base: Path) -> Path:
        what = f"mix-{self.mix}" if self.mix else f"{self.apps or 0}-{self.projects or 0}"
        return base.with_name(f"{base.stem}-{what}.pstats")


def plans_for(settings: Settings) -> list[Plan]:
    """One platform per App size (the steady state on the one of `steady_apps`), then Projects, then the mix. Pure."""
    wants_steady = bool({"steady", "restarts"} & settings.parts)
    plans: list[Plan] = []
    if "apps" in settings.parts:
        plans += [Plan(apps=size, steady=wants_steady and size == settings.steady_apps) for size in settings.sizes]
    if wants_steady and not any(plan.steady for plan in plans):
        plans.append(Plan(steady=True))
    if "projects" in settings.parts and settings.projects:
        plans.append(Plan(projects=settings.projects))
    if "mix" in settings.parts and settings.mix:
        plans.append(Plan(mix=settings.mix))
    return plans


async def measure_platform(
    platform: Any, scratch: Path, settings: Settings, plan: Plan
) -> tuple[list[Convergence], Steady | None]:
    found: list[Convergence] = []
    steady_result = None
    apps, projects, steady = plan.apps, plan.projects, plan.steady
    async with Bench(platform, scratch, settings.concurrency) as bench:
        if apps:
            found.append(await bench.apps(apps))
            print(progress(found[-1]), flush=True)
        if projects:
            found.append(await bench.projects(projects))
            print(progress(found[-1]), flush=True)
        if plan.mix:
            found.append(await bench.mix(plan.mix))
            print(progress(found[-1]), flush=True)
        if steady:
            if not apps:
                found.append(await bench.apps(settings.steady_apps))
            restart_apps = settings.restart_apps if "restarts" in settings.parts else 0
            if "restarts" in settings.parts or "steady" in settings.parts:
                steady_result = await bench.steady(settings.steady_apps, settings.idle, restart_apps)
    return found, steady_result


def progress(result: Convergence) -> str:
    return (
        f"{result.count} {result.what}: convergence {result.convergence:.2f} s, limit {result.limit:.2f} s "
        f"({result.ratio:.2f}x), RSS {result.rss_mib:.0f} MiB, writes {describe_all_writes(result)}; "
        f"CPU s {describe_cpu(result.cpu)}; limit CPU s {describe_cpu(result.limit_cpu)}"
    )


def describe_all_writes(result: Convergence) -> str:
    """The writes the API server counted, and which of them the stand-in operators made (if any). Pure."""
    counted = describe_writes(result.writes)
    if not result.standin_writes:
        return counted
    return f"{counted} (of which stand-ins: {describe_writes(result.standin_writes)})"


def describe_cpu(cpu: dict[str, float]) -> str:
    return ", ".join(f"{name} {seconds:.1f}" for name, seconds in sorted(cpu.items(), key=lambda kv: -kv[1]))


def measure(settings: Settings) -> tuple[list[Convergence], Steady | None]:
    results: list[Convergence] = []
    steady: Steady | None = None
    for plan in plans_for(settings):
        # A restart would cut the profile short, so only a platform without one is profiled.
        profile = plan.profile(settings.profile) if settings.profile is not None and not plan.steady else None
        with (
            tempfile.TemporaryDirectory(prefix="tenantgate-bench-") as scratch,
            platform_with_controller(profile, third_party_crds=bool(plan.mix)) as platform,
        ):
            found, steady_found = asyncio.run(measure_platform(platform, Path(scratch), settings, plan))
        results += found
        steady = steady_found or steady
    return results, steady


def convergence_table(results: Sequence[Convergence]) -> Table:
    table = Table(
        [
            "objects",
            "N",
            "creates s",
            "convergence s",
            "limit s",
            "vs limit",
            "children",
            "controller writes",
            "RSS / peak MiB",
            "CPU s: controller / API server / etcd / webhook",
            "limit CPU s: API server / etcd / webhook",
        ],
        right=frozenset({1, 2, 3, 4, 5, 6}),
    )
    for result in results:
        table.rows.append(
            [
                result.what,
                f"{result.count:,}",
                f"{result.creates:.2f}",
                f"{result.convergence:.2f}",
                f"{result.limit:.2f}",
                f"{result.ratio:.2f}x",
                f"{result.children:,}",
                describe_all_writes(result),
                f"{result.rss_mib:.0f} / {result.peak_rss_mib:.0f}",
                " / ".join(f"{result.cpu.get(name, math.nan):.1f}" for name in CPU_COLUMNS),
                " / ".join(f"{result.limit_cpu.get(name, math.nan):.1f}" for name in CPU_COLUMNS[1:]),
            ]
        )
    return table


def fit_lines(results: Sequence[Convergence]) -> list[str]:
    apps = [result for result in results if result.what == "Apps"]
    if not apps:
        return []
    if len({result.count for result in apps}) < 2:
        return ["Too few sizes for a fitted line (give at least two with `--sizes`)."]
    xs = [float(result.count) for result in apps]
    lines = []
    for label, ys in (
        ("controller", [result.convergence for result in apps]),
        ("limit", [result.limit for result in apps]),
    ):
        fit = fit_line(xs, ys)
        lines.append(
            f"{label}: {fit.slope * 1000:.2f} s per 1,000 Apps (intercept {fit.intercept:.2f} s, R² {fit.r2:.3f})"
        )
    return [f"Fitted over N = {', '.join(f'{int(x):,}' for x in xs)}: " + "; ".join(lines) + "."]


def targets(results: Sequence[Convergence]) -> list[str]:
    lines = []
    for result in results:
        verdict = "met" if result.ratio <= 1.5 else "**missed**"
        lines.append(f"- {result.count:,} {result.what}: {result.ratio:.2f}x the limit (≤ 1.5x) {verdict}")
        budget = {1000: 150.0, 3000: 300.0}.get(result.count) if result.what == "Apps" else None
        if budget is not None:
            verdict = "met" if result.peak_rss_mib <= budget else "**missed**"
            lines.append(f"- {result.count:,} Apps: peak RSS {result.peak_rss_mib:.0f} MiB (≤ {budget:.0f}) {verdict}")
    return lines


def steady_table(steady: Steady) -> Table:
    table = Table(["measure", "value"], right=frozenset({1}))
    table.rows += [
        [
            f"writes in {steady.idle:.0f} s idle with {steady.apps:,} converged Apps",
            describe_writes(steady.idle_writes),
        ],
        ["controller restart: process start to `controllers caught up`", f"{steady.restart_seconds:.2f} s"],
        ["of which the initial pass (workers start to queues drained)", f"{steady.caught_up_seconds:.2f} s"],
        ["writes from the restart until 5 s after catching up", describe_writes(steady.restart_writes)],
        ["informer relists of the restarted controller (one per informer)", f"{steady.relists:.0f}"],
    ]
    if steady.restart_apps:
        table.rows += [
            [
                f"API server restart after {steady.done_before} of {steady.restart_apps} new Apps had a status",
                f"down and back in {steady.apiserver_down:.2f} s",
            ],
            ["child applies + status writes still missing at the restart", f"{steady.missing_writes:,}"],
            ["writes after the restart until convergence (+2 s)", describe_writes(steady.after_writes)],
            ["of which child applies + status writes", f"{useful_writes(steady.after_writes):,}"],
            ["from the API server's return to convergence", f"{steady.resumed_convergence:.2f} s"],
            ["informer relists caused by the API server restart", f"{steady.controller_relists:.0f}"],
        ]
    return table


def useful_writes(found: Counter[str]) -> int:
    wanted = {"APPLY deployments", "APPLY services", "APPLY ingresses", "PATCH apps/status"}
    return sum(count for what, count in found.items() if what in wanted)


def run(quick: bool, write: bool, command: str, extra: argparse.Namespace) -> int:
    settings = settings_from(quick, extra)
    loads_before = getattr(extra, "load_before", load_average())
    started = time.monotonic()
    results, steady = measure(settings)
    tables = [convergence_table(results)]
    if steady is not None:
        tables.append(steady_table(steady))
    notes = [
        *fit_lines(results),
        "",
        "Targets:",
        *targets(results),
        "",
        "Where the time goes (CPU seconds by process, from the first create to convergence):",
        *where_time_goes(results),
        "",
        method_notes(settings),
        *(["", mix_notes(settings)] if any(result.what == MIX for result in results) else []),
        *([] if steady is None else ["", STEADY_NOTES]),
    ]
    publish(
        TITLE,
        command,
        tables,
        (loads_before, load_average()),
        write=write,
        kubernetes=True,
        notes="\n".join(notes),
        elapsed=time.monotonic() - started,
    )
    return 0


STEADY_NOTES = " ".join(
    [
        "Steady state and restarts, on the platform of the size named: writes are what the API server counted",
        "(`apiserver_request_total`, every write verb), Leases excluded because the API server renews its own",
        "identity Lease every 10 s whatever else runs (the controller runs without leader election here). Events",
        "are counted: an Event the controller records is a write like any other. The restart is SIGTERM, then a",
        "new process; its time runs from the process start (imports, first lists) to the `controllers caught up`",
        "log line. For the API server restart the controller is frozen (SIGSTOP) while the old server's counters",
        "are read and kube-apiserver is killed (SIGKILL, as a crash would) and started again on the same port",
        "and etcd; the new server's counters start at zero, so what it counts is what the restart cost. Its watch",
        "cache starts empty, so every watch resumed at an older version is answered 410 Gone and relisted",
        "(client-go does the same); relists are reads, not writes.",
    ]
)


def method_notes(settings: Settings) -> str:
    return " ".join(
        [
            "Method: each N on a fresh local control plane with the chart, the webhook and the controller",
            f"({DEFAULT_WORKERS} workers per controller). `convergence s`: from the last of N creates (by `{USER}`,",
            f"concurrency {settings.concurrency}) until a watch has seen every App's status with its revision and a",
            "Ready condition (for Projects: a Ready condition), which the controller writes after applying the",
            "children; the children are then listed and checked. `limit s`: server-side apply of the same children",
            "(read back, stripped to what an apply sends, tenantgate's labels renamed, into another namespace; for",
            "Projects the Namespaces first) under the controller's ServiceAccount with aiohttp at the same",
            "concurrency; no statuses, no Events. `controller writes`: what the API server counted",
            "(`apiserver_request_total`) from the first create to convergence, Leases excluded; it includes the",
            "bench's own creates (`POST apps`/`POST projects`), the Service IPs the API server allocates (`POST",
            "ipaddresses`) and, for Projects, what kube-controller-manager writes into a new namespace (its",
            "ServiceAccount, the root CA ConfigMap, quota status). RSS is the controller's VmRSS at convergence and",
            "its peak (VmHWM). CPU seconds are each process's user + system time over the same interval, read from",
            "/proc.",
        ]
    )


def mix_notes(settings: Settings) -> str:
    return " ".join(
        [
            f"Shops + Djangos: N is the total, {settings.mix:,} postgres Shops and {settings.mix:,} thismatters",
            "Djangos (one management command each), created in turn by the tenant owner. The clock stops when",
            "watches have seen every Shop `Available=True` and every Django `Ready=True`. Neither gets there on a",
            "control plane without operators or kubelets, so stand-ins in the bench process (watches as the admin,",
            "loopback only) do the one thing the controller waits for: CloudNativePG's app Secret `<cluster>-app`",
            "for each Cluster (`POST secrets`), the Job controller's `Complete` status for each migration Job",
            "(`PATCH jobs/status`), and the Deployment controller's ready replicas for each Shop's Deployment",
            "(`PATCH deployments/status`). They answer at once, where the real operators take seconds to minutes,",
            "so the time measured is the controller's. Their writes are in the API server's count and listed apart.",
            "`limit s` applies the same children (CNPG Clusters, Secrets, ConfigMaps, Deployments, Services,",
            "Ingresses, ServiceMonitors, autoscalers and Jobs, read back and stripped as for Apps) and none of the",
            "stand-ins' writes, which the controller has to wait for in turn: a Shop is two rounds (its Cluster;",
            "the rest once the Secret exists), a Django two (its Job and Redis; web, worker and beat once the Job",
            "succeeded), each followed by a status write. The limit is therefore optimistic by those round trips.",
        ]
    )


def where_time_goes(results: Sequence[Convergence]) -> list[str]:
    """One line per measurement: how the work divides between the processes, against the limit's."""
    lines = []
    for result in results:
        if not result.cpu or not result.limit_cpu:
            continue
        api, limit_api = result.cpu.get("kube-apiserver", 0.0), result.limit_cpu.get("kube-apiserver", 0.0)
        busy = sum(v for k, v in result.cpu.items() if k != "bench") / max(result.creates + result.convergence, 1e-9)
        lines.append(
            f"- {result.count:,} {result.what}: the API server spent {api:.1f} CPU s (the limit's "
            f"{limit_api:.1f} s for the children alone), the controller {result.cpu.get('controller', 0.0):.1f} s, "
            f"etcd {result.cpu.get('etcd', 0.0):.1f} s, the webhook {result.cpu.get('webhook', 0.0):.1f} s; "
            f"together {busy:.2f} of the machine's {os.cpu_count()} cores from the first create to convergence"
            + (f" (the bench process itself {result.cpu['bench']:.1f} s more)." if "bench" in result.cpu else ".")
            + write_rates(result)
            + describe_reconciles(result.reconciles)
            + "".join(
                f" The last of the {what} was done {seconds:.2f} s after the last create."
                for what, seconds in result.ready_after.items()
            )
        )
    return lines


def describe_reconciles(reconciles: dict[str, tuple[int, float]]) -> str:
    """` Reconciles: Shop 600 (3.1 s in them), ...`, busiest first. Pure."""
    if not reconciles:
        return ""
    ordered = sorted(reconciles.items(), key=lambda item: -item[1][1])
    found = ", ".join(f"{kind} {count:,} ({seconds:.1f} s in them)" for kind, (count, seconds) in ordered)
    return f" Reconciles: {found}."


def write_rates(result: Convergence) -> str:
    """The writes the API server took per second, from the first create to convergence and in the limit. Pure."""
    if not result.limit_writes:
        return ""
    window = result.creates + result.convergence
    taken, limit_taken = sum(result.writes.values()), sum(result.limit_writes.values())
    return (
        f" The API server took {taken:,} writes in {window:.2f} s ({taken / max(window, 1e-9):.0f}/s), the limit"
        f" {limit_taken:,} in {result.limit:.2f} s ({limit_taken / max(result.limit, 1e-9):.0f}/s)."
    )


def fmt(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.2f}"
