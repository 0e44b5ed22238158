"""The engine against a real control plane: leader election takeover and release, and a child kind whose CRD is
missing (DependencyMissing, then recovery once the CRD is installed) with the Manager run in-process."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from controller.conditions import Condition, now_rfc3339, set_condition
from controller.config import ManagerConfig
from controller.context import Context
from controller.manager import Manager
from controller.runtime import DONE, Result
from kube.objects import Obj, generation_of, name_of
from tenantgate.chart import CHART_DIR
from tenantgate.devcluster import ControlPlane
from tests.conftest import unique
from tests.e2e.test_controller_support import (
    REPO,
    ControllerProcess,
    adoptable_by_the_chart,
    apply,
    eventually,
    get_json,
    install_platform,
    project,
    tenant,
)
from tests.e2e.test_django_e2e import finish_job, one_job

pytestmark = pytest.mark.e2e


def chart_cluster_role(name: str) -> dict[str, Any]:
    """ClusterRole `name` exactly as the chart's generated RBAC holds it (what `helm install` creates)."""
    text = (CHART_DIR / "templates" / "generated-rbac.yaml").read_text().replace("{{ .Release.Namespace }}", "ns")
    [role] = [d for d in yaml.safe_load_all(text) if d and d["kind"] == "ClusterRole" and d["metadata"]["name"] == name]
    return dict(role)


LEASE_SECONDS = 6.0


@pytest.fixture(scope="module")
def platform(cluster: ControlPlane) -> ControlPlane:
    install_platform(cluster, "tenantgate-system")
    return cluster


@pytest.fixture
def lease_namespace(platform: ControlPlane) -> Iterator[str]:
    name = unique("lease")
    platform.kubectl("create", "namespace", name)
    yield name
    platform.kubectl("delete", "namespace", name, "--wait=false", check=False)


def holder(cluster: ControlPlane, namespace: str) -> str:
    lease = get_json(cluster, "lease", "tenantgate-controller", "-n", namespace)
    return str(((lease or {}).get("spec") or {}).get("holderIdentity") or "")


def test_standby_takes_over_within_the_lease_duration_after_the_leader_dies(
    platform: ControlPlane, lease_namespace: str, tmp_path: Path
) -> None:
    first = ControllerProcess(platform, lease_namespace, unique("first"), tmp_path, lease_duration=LEASE_SECONDS)
    second = ControllerProcess(platform, lease_namespace, unique("second"), tmp_path, lease_duration=LEASE_SECONDS)
    try:
        first.start()
        eventually(first.is_leader, what="first replica leads")
        second.start()
        time.sleep(LEASE_SECONDS / 2)
        assert not second.is_leader(), "only one leader while the first renews"
        assert holder(platform, lease_namespace) == first.identity

        first.kill()
        died = time.monotonic()
        eventually(second.is_leader, timeout=LEASE_SECONDS * 3, interval=0.2, what="second replica takes over")
        took = time.monotonic() - died
        assert took <= LEASE_SECONDS + 3, f"takeover took {took:.1f}s for a {LEASE_SECONDS}s lease"
        assert holder(platform, lease_namespace) == second.identity

        name = unique("ha")
        apply(platform, tenant(name), project(name, name, "app"))
        eventually(
            lambda: ((get_json(platform, "project", name) or {}).get("status") or {}).get("ready") is True,
            what="the new leader reconciles",
        )
        platform.kubectl("delete", "project", name, "--wait=false")
        platform.kubectl("delete", "tenant", name, "--wait=false")
    finally:
        first.kill()
        assert second.stop() == 0, second.log_tail()
    assert holder(platform, lease_namespace) == "", "graceful shutdown releases the Lease"


def test_released_lease_is_taken_at_once(platform: ControlPlane, lease_namespace: str, tmp_path: Path) -> None:
    first = ControllerProcess(platform, lease_namespace, unique("first"), tmp_path, lease_duration=30)
    first.start()
    eventually(first.is_leader, what="first replica leads")
    assert first.stop() == 0
    second = ControllerProcess(platform, lease_namespace, unique("second"), tmp_path, lease_duration=30)
    try:
        started = time.monotonic()
        second.start()
        eventually(second.is_leader, timeout=20, interval=0.2, what="second replica leads")
        assert time.monotonic() - started < 15, "no need to wait out a released 30 s lease"
    finally:
        second.stop()


def test_controller_works_with_only_its_own_cluster_role(
    platform: ControlPlane, lease_namespace: str, tmp_path: Path
) -> None:
    """The chart's generated controller ClusterRole is enough: run the controller as a user bound to nothing else."""
    user = unique("tenantgate-controller")
    role = adoptable_by_the_chart(chart_cluster_role("tenantgate-controller"))
    platform.kubectl("apply", "-f", "-", stdin=json.dumps(role))
    platform.kubectl("create", "clusterrolebinding", user, "--clusterrole=tenantgate-controller", f"--user={user}")
    process = ControllerProcess(
        platform, lease_namespace, unique("rbac"), tmp_path, kubeconfig=platform.mint_user(user)
    )
    name = unique("rbac")
    password = unique("pw")
    namespace = f"kubeop-{name}-app"
    try:
        process.start()
        eventually(process.is_leader, what="leadership with the controller's own role")
        registry = {
            "apiVersion": "paas.kubeop.io/v1alpha1",
            "kind": "Registry",
            "metadata": {"name": name, "labels": {"app.kubeop.io/tenant": name}},
            "spec": {"host": "ghcr.io", "username": "bot", "passwordRef": f"{namespace}/{name}"},
        }
        apply(platform, tenant(name, owners=[{"kind": "User", "name": "alice"}]), project(name, name, "app"))
        eventually(
            lambda: ((get_json(platform, "project", name) or {}).get("status") or {}).get("ready") is True,
            what="Project Ready",
        )
        platform.kubectl("create", "secret", "generic", name, "-n", namespace, f"--from-literal=password={password}")
        apply(platform, registry)
        eventually(lambda: get_json(platform, "rolebinding", "tenantgate-owners", "-n", namespace), what="binding")
        eventually(lambda: get_json(platform, "secret", f"kubeop-registry-{name}", "-n", namespace), what="secret")
        platform.kubectl("delete", "registry", name, "--wait=false")
        platform.kubectl("delete", "project", name, "--wait=false")
        eventually(lambda: get_json(platform, "namespace", namespace) is None, timeout=90, what="namespace gone")
        eventually(lambda: get_json(platform, "registry", name) is None, what="Registry gone")
        assert process.errors() == [], process.log_tail()
        assert "forbidden" not in process.log_path.read_text().lower(), process.log_tail()
    finally:
        assert process.stop() == 0, process.log_tail()
        platform.kubectl("delete", "tenant", name, "--wait=false", check=False)


def example(name: str, namespace: str) -> dict[str, Any]:
    [document] = [d for d in yaml.safe_load_all((REPO / "deploy" / "examples" / name).read_text()) if d]
    document["metadata"]["namespace"] = namespace
    return dict(document)


def test_controller_converges_an_app_and_a_django_with_only_its_own_cluster_role(
    platform: ControlPlane, lease_namespace: str, tmp_path: Path
) -> None:
    """Every reconciler runs under the chart's controller ClusterRole alone: the Image App and the blindage
    Django examples converge (Deployments, Service, Ingress, the migration Job) without a forbidden answer."""
    user = unique("tenantgate-controller")
    role = adoptable_by_the_chart(chart_cluster_role("tenantgate-controller"))
    platform.kubectl("apply", "-f", "-", stdin=json.dumps(role))
    platform.kubectl("create", "clusterrolebinding", user, "--clusterrole=tenantgate-controller", f"--user={user}")
    process = ControllerProcess(
        platform, lease_namespace, unique("rbac"), tmp_path, kubeconfig=platform.mint_user(user)
    )
    name = unique("rbac")
    namespace = f"kubeop-{name}-web"
    try:
        process.start()
        eventually(process.is_leader, what="leadership with the controller's own role")
        apply(platform, tenant(name), project(name, name, "web"))
        eventually(lambda: get_json(platform, "namespace", namespace), what="project namespace")
        apply(platform, example("40-app-image.yaml", namespace), example("50-django-blindage.yaml", namespace))
        for kind in ("deployment", "service", "ingress"):
            eventually(lambda k=kind: get_json(platform, k, "app-web", "-n", namespace), what=f"App {kind}")
        finish_job(platform, namespace, one_job(platform, namespace, "acme-site"), succeeded=True)
        eventually(lambda: get_json(platform, "deployment", "acme-site-web", "-n", namespace), what="Django web")
        eventually(
            lambda: (
                (get_json(platform, "djangos.blindage.org", "acme-site", "-n", namespace) or {})
                .get("status", {})
                .get("condition")
                == "running"
            ),
            what="Django running",
        )
        assert process.errors() == [], process.log_tail()
        assert "forbidden" not in process.log_path.read_text().lower(), process.log_tail()
    finally:
        assert process.stop() == 0, process.log_tail()
        platform.kubectl("delete", "project", name, "--wait=false", check=False)
        platform.kubectl("delete", "tenant", name, "--wait=false", check=False)


WIDGETS_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.e2e.tenantgate.io"},
    "spec": {
        "group": "e2e.tenantgate.io",
        "scope": "Cluster",
        "names": {"kind": "Widget", "plural": "widgets", "singular": "widget", "listKind": "WidgetList"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {"spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
                    }
                },
            }
        ],
    },
}


def widget_for(owner: Obj) -> Obj:
    return {
        "apiVersion": "e2e.tenantgate.io/v1",
        "kind": "Widget",
        "metadata": {"name": f"widget-{name_of(owner)}"},
        "spec": {"size": 3},
    }


async def kubectl(cluster: ControlPlane, *args: str, **kwargs: Any) -> Any:
    return await asyncio.to_thread(cluster.kubectl, *args, **kwargs)


async def test_missing_crd_degrades_the_owner_and_recovers_when_installed(platform: ControlPlane) -> None:
    label = unique("dep")
    name = unique("needs-widget")
    config = ManagerConfig(
        kubeconfig=platform.kubeconfig,
        leader_elect=False,
        health_port=None,
        rediscovery_interval=2.0,
        reconcilers=[],
    )
    manager = Manager(config)
    projects = manager.informer("paas.kubeop.io/v1alpha1", "Project", label_selector=f"e2e.tenantgate.io/dep={label}")
    manager.owned("e2e.tenantgate.io/v1", "Widget")

    async def reconcile(obj: Obj, ctx: Context) -> Result:
        rt = await ctx.primary_resource()
        await ctx.applier.apply(obj, rt, [widget_for(obj)], prune=[("e2e.tenantgate.io/v1", "Widget")])
        condition = Condition("Ready", "True", "Reconciled", "widget in place")
        conditions = set_condition(
            (obj.get("status") or {}).get("conditions"), condition, generation_of(obj), now_rfc3339()
        )
        await ctx.write_status(obj, {"conditions": conditions})
        return DONE

    manager.add_controller("WidgetOwner", projects, reconcile)
    owner = project(name, "nobody", "x")
    owner["metadata"]["labels"] = {"e2e.tenantgate.io/dep": label}
    await kubectl(platform, "delete", "crd", "widgets.e2e.tenantgate.io", "--ignore-not-found")
    await manager.start()
    try:
        await asyncio.to_thread(apply, platform, owner)

        def ready_condition() -> dict[str, Any] | None:
            obj = get_json(platform, "project", name) or {}
            return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == "Ready"), None)

        async def wait_for(predicate: Any, seconds: float) -> Any:
            return await asyncio.to_thread(eventually, predicate, seconds)

        missing = await wait_for(lambda: (c := ready_condition()) and c["reason"] == "DependencyMissing" and c, 30)
        assert missing["status"] == "False"
        assert "widgets.e2e.tenantgate.io" in missing["message"]
        events = await kubectl(platform, "get", "events.events.k8s.io", "-n", "default", "-o", "json")
        reasons = [e["reason"] for e in json.loads(events.stdout)["items"] if e["regarding"].get("name") == name]
        assert "DependencyMissing" in reasons

        await asyncio.to_thread(apply, platform, WIDGETS_CRD)
        await kubectl(platform, "wait", "--for=condition=Established", "crd/widgets.e2e.tenantgate.io")
        recovered = await wait_for(lambda: (c := ready_condition()) and c["status"] == "True" and c, 60)
        assert recovered["reason"] == "Reconciled"
        widget = await asyncio.to_thread(get_json, platform, "widget", f"widget-{name}")
        assert widget is not None
        assert widget["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "tenantgate"
        assert manager.metrics.reconcile_total.get("WidgetOwner", "dependency_missing") >= 1
    finally:
        await manager.shutdown()
        await kubectl(platform, "delete", "project", name, "--wait=false", "--ignore-not-found")
        await kubectl(platform, "delete", "crd", "widgets.e2e.tenantgate.io", "--wait=false", "--ignore-not-found")
