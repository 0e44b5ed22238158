"""Controller convergence (skeleton): seconds from the last App created until every child exists and every status
is written, against the limit of writing exactly those children by server-side apply.

    .venv/bin/python -m bench controller --quick [--apps N] [--concurrency C] [--no-write]

- One local control plane with the chart installed, the real webhook and the real controller
  (`LocalPlatform`), tenant `acme` with Projects `web` (for the Apps) and `limit` (for the limit's copies); the
  controller creates both namespaces.
- N `type: Image` Apps are created by the tenant owner with aiohttp at concurrency C. The clock starts when
  the last create is answered and stops when, for every App, Deployment, Service and Ingress `app-<name>` exist
  and the App's status carries its revision and a Ready condition (polled every 0.25 s by listing as the admin).
- The limit, in the same run: the children the controller wrote are read back, stripped to what an apply
  sends (no owner references, the limit namespace), and server-side applied under the controller's own
  ServiceAccount token with the same client library (aiohttp) and the same concurrency, timed from the first
  apply to the last answer. The limit does not write the Apps' statuses, so it is slightly optimistic.
- Only `--quick` is meant for now (N = 50 by default); larger N, restarts and idle-write counts are next.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import json
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import aiohttp

from bench.apiserver import USER, identity, prepare_tenancy
from bench.report import Table, load_average, render, write_section

TITLE = "Controller convergence"
NAMESPACE = "kubeop-acme-web"
LIMIT_PROJECT = "limit"
LIMIT_NAMESPACE = "kubeop-acme-limit"
APPS = "/apis/paas.kubeop.io/v1alpha1/namespaces/{ns}/apps"
CHILDREN = {
    "Deployment": "/apis/apps/v1/namespaces/{ns}/deployments",
    "Service": "/api/v1/namespaces/{ns}/services",
    "Ingress": "/apis/networking.k8s.io/v1/namespaces/{ns}/ingresses",
}
KEEP_METADATA = ("name", "labels", "annotations")


def app(index: int) -> dict[str, Any]:
    name = f"bench-{index}"
    return {
        "apiVersion": "paas.kubeop.io/v1alpha1",
        "kind": "App",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {"type": "Image", "image": "ghcr.io/acme/web:1.0", "host": f"{name}.acme.example", "port": 80},
    }


def converged(apps: Sequence[dict[str, Any]], children: dict[str, set[str]], expected: int) -> bool:
    """Every App has its three children and a status with a revision and a Ready condition. Pure."""
    if len(apps) < expected:
        return False
    for item in apps:
        child = f"app-{item['metadata']['name']}"
        status = item.get("status") or {}
        if not status.get("revision") or not any(c.get("type") == "Ready" for c in status.get("conditions", [])):
            return False
        if any(child not in names for names in children.values()):
            return False
    return True


def as_applied(obj: dict[str, Any], namespace: str) -> dict[str, Any]:
    """A child as the controller's apply would send it, into `namespace`: no server fields, no status. Pure."""
    metadata = {key: copy.deepcopy(obj["metadata"][key]) for key in KEEP_METADATA if key in obj["metadata"]}
    metadata["namespace"] = namespace
    metadata.get("annotations", {}).pop("deployment.kubernetes.io/revision", None)
    spec = dict(obj.get("spec", {}))
    if obj["kind"] == "Service":  # allocated by the API server: a copy must ask for its own
        for key in ("clusterIP", "clusterIPs"):
            spec.pop(key, None)
    return {"apiVersion": obj["apiVersion"], "kind": obj["kind"], "metadata": metadata, "spec": spec}


async def list_items(session: aiohttp.ClientSession, url: str) -> list[dict[str, Any]]:
    async with session.get(url) as response:
        response.raise_for_status()
        items: list[dict[str, Any]] = (await response.json())["items"]
        return items


async def gather_limited(concurrency: int, jobs: Sequence[Any]) -> None:
    queue = list(reversed(jobs))

    async def worker() -> None:
        while queue:
            await queue.pop()()

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def measure(platform: Any, apps: int, concurrency: int, scratch: Path) -> dict[str, float]:
    plane = platform.plane
    tenant = identity(prepare_tenancy(platform), scratch)
    admin = identity(Path(plane.kubeconfig), scratch)
    controller = identity(Path(platform.controller_kubeconfig), scratch)
    limit_project = {
        "apiVersion": "paas.kubeop.io/v1alpha1",
        "kind": "Project",
        "metadata": {"name": f"acme-{LIMIT_PROJECT}"},
        "spec": {"tenantRef": "acme", "name": LIMIT_PROJECT},
    }
    plane.kubectl("apply", "-f", "-", stdin=json.dumps(limit_project))
    deadline = time.monotonic() + 60
    while plane.kubectl("get", "namespace", LIMIT_NAMESPACE, check=False).returncode != 0:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the controller did not create namespace {LIMIT_NAMESPACE} within 60 s")
        await asyncio.sleep(0.5)
    async with (
        tenant.session(concurrency) as session,
        admin.session(4) as admin_session,
        controller.session(concurrency) as controller_session,
    ):
        apps_url = tenant.server + APPS.format(ns=NAMESPACE)

        def create(index: int) -> Any:
            async def post() -> None:
                async with session.post(apps_url, json=app(index)) as response:
                    if response.status != 201:
                        raise RuntimeError(f"create App: {response.status} {await response.text()}")

            return post

        created = time.perf_counter()
        await gather_limited(concurrency, [create(i) for i in range(apps)])
        last_create = time.perf_counter()
        deadline = last_create + 300
        while True:
            listed = await list_items(admin_session, admin.server + APPS.format(ns=NAMESPACE))
            children = {
                kind: {
                    item["metadata"]["name"]
                    for item in await list_items(admin_session, admin.server + path.format(ns=NAMESPACE))
                }
                for kind, path in CHILDREN.items()
            }
            if converged(listed, children, apps):
                break
            if time.perf_counter() > deadline:
                raise RuntimeError("the controller did not converge within 300 s of the last create")
            await asyncio.sleep(0.25)
        convergence = time.perf_counter() - last_create
        copies = []
        for kind, path in CHILDREN.items():
            for item in await list_items(admin_session, admin.server + path.format(ns=NAMESPACE)):
                if item["metadata"]["name"].startswith("app-bench-"):
                    copies.append(
                        (path, as_applied({**item, "kind": kind, "apiVersion": api_version(path)}, LIMIT_NAMESPACE))
                    )

        def apply(path: str, obj: dict[str, Any]) -> Any:
            async def patch() -> None:
                url = f"{admin.server}{path.format(ns=LIMIT_NAMESPACE)}/{obj['metadata']['name']}"
                params = {"fieldManager": "bench-limit", "force": "true"}
                headers = {"Content-Type": "application/apply-patch+yaml"}
                async with controller_session.patch(
                    url, data=json.dumps(obj), params=params, headers=headers
                ) as answer:
                    if answer.status not in (200, 201):
                        raise RuntimeError(f"apply {obj['kind']}: {answer.status} {await answer.text()}")

            return patch

        limit_started = time.perf_counter()
        await gather_limited(concurrency, [apply(path, obj) for path, obj in copies])
        limit = time.perf_counter() - limit_started
    return {
        "creates": last_create - created,
        "convergence": convergence,
        "limit": limit,
        "children": float(len(copies)),
        "rss_mib": rss_mib(platform.controller.popen.pid) if platform.controller.popen else float("nan"),
    }


def api_version(path: str) -> str:
    return "v1" if path.startswith("/api/v1") else "/".join(path.split("/")[2:4])


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@contextlib.contextmanager
def platform_with_controller() -> Iterator[Any]:
    from tenantgate.devcluster import ControlPlane
    from tenantgate.devcluster.platform import LocalPlatform

    with ControlPlane() as plane:
        platform = LocalPlatform(plane, controller=True)
        platform.install()
        try:
            yield platform
        finally:
            platform.stop()


def run(quick: bool, write: bool, command: str, extra: argparse.Namespace) -> int:
    apps = extra.apps if extra.apps is not None else 50
    concurrency = extra.concurrency_apps
    loads_before = getattr(extra, "load_before", load_average())
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="tenantgate-bench-") as scratch, platform_with_controller() as platform:
        figures = asyncio.run(measure(platform, apps, concurrency, Path(scratch)))
    table = Table(
        ["Apps", "conc.", "creates s", "convergence s", "limit s", "vs limit", "children", "controller RSS MiB"],
        right=frozenset(range(8)),
    )
    table.rows.append(
        [
            str(apps),
            str(concurrency),
            f"{figures['creates']:.2f}",
            f"{figures['convergence']:.2f}",
            f"{figures['limit']:.2f}",
            f"{figures['convergence'] / figures['limit']:.2f}x",
            f"{figures['children']:.0f}",
            f"{figures['rss_mib']:.0f}",
        ]
    )
    notes = (
        f"`convergence s`: from the last of {apps} App creates (by `{USER}`, concurrency {concurrency}) until every "
        "App's Deployment, Service and Ingress exist and its status has a revision and a Ready condition. "
        "`limit s`: server-side apply of the same children (read back, into a second project namespace) under "
        "the controller's ServiceAccount with aiohttp at the same concurrency. A skeleton: one N, no fitted slope yet."
    )
    text = render(
        TITLE,
        command,
        [table],
        (loads_before, load_average()),
        kubernetes=True,
        notes=notes,
        elapsed=time.monotonic() - started,
    )
    print(text)
    if write:
        write_section(TITLE, text)
    return 0
