"""Controller bookkeeping around a reconcile: backoff, requeue_after, DependencyMissing, mapping, shutdown."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import pytest

from controller.applier import DependencyMissing
from controller.metrics import Metrics
from controller.queue import Backoff
from controller.runtime import DONE, Controller, Result, mapped_keys, owner_mapper
from kube.client import Discovery, ResourceType
from kube.informer import Informer
from kube.store import Change
from tenancy.labels import INVENTORY_LABEL

pytestmark = pytest.mark.unit

RT = ResourceType("paas.kubeop.io", "v1alpha1", "Project", "projects", False)


class NullClient:
    metrics = Metrics()


@dataclass
class FakeEvents:
    sent: list[tuple[str, str]] = field(default_factory=list)

    async def warning(self, obj: Any, reason: str, note: str, action: str = "") -> None:
        self.sent.append((reason, note))


@dataclass
class FakeContext:
    events: FakeEvents = field(default_factory=FakeEvents)
    status_writes: list[dict[str, Any]] = field(default_factory=list)

    async def write_status(self, obj: Any, status: dict[str, Any]) -> bool:
        self.status_writes.append(status)
        return True


def project(name: str, uid: str = "") -> dict[str, Any]:
    return {
        "apiVersion": "paas.kubeop.io/v1alpha1",
        "kind": "Project",
        "metadata": {"name": name, "uid": uid or f"uid-{name}", "resourceVersion": "1", "generation": 1},
    }


def make_controller(reconcile: Any, **kwargs: Any) -> tuple[Controller, Informer, FakeContext]:
    client = NullClient()
    informer = Informer(client, Discovery(client), RT.api_version, RT.kind)  # type: ignore[arg-type]
    context = FakeContext()
    controller = Controller(
        "Project",
        informer,
        reconcile,
        context,
        metrics=Metrics(),  # type: ignore[arg-type]
        backoff=Backoff(base=0.01, jitter=0.0),
        **kwargs,
    )
    return controller, informer, context


async def test_primary_changes_enqueue_the_objects_key() -> None:
    controller, informer, _ = make_controller(lambda o, c: DONE)
    informer.store.upsert(project("web"))
    informer._notify([Change("web", None, project("web"))])
    assert len(controller.queue) == 1


async def test_success_resets_backoff_and_requeue_after_schedules_another_look() -> None:
    calls: list[str] = []

    async def reconcile(obj: dict[str, Any], ctx: Any) -> Result:
        calls.append(obj["metadata"]["name"])
        return Result(requeue_after=0.02)

    controller, informer, _ = make_controller(reconcile)
    informer.store.upsert(project("web"))
    controller.queue.backoff.next_delay("web")
    await controller.process("web")
    assert controller.queue.backoff.failures("web") == 0
    assert controller.queue.delayed == 1
    assert controller.metrics.reconcile_total.get("Project", "requeue") == 1


async def test_errors_retry_with_growing_backoff_and_a_warning_event() -> None:
    async def reconcile(obj: dict[str, Any], ctx: Any) -> Result:
        raise RuntimeError("boom")

    controller, informer, context = make_controller(reconcile)
    informer.store.upsert(project("web"))
    await controller.process("web")
    await controller.process("web")
    assert controller.queue.backoff.failures("web") == 2
    assert controller.metrics.reconcile_errors.get("Project") == 2
    assert context.events.sent[0] == ("ReconcileFailed", "Reconcile failed: boom")


async def test_missing_dependency_sets_ready_false_and_retries_slowly() -> None:
    async def reconcile(obj: dict[str, Any], ctx: Any) -> Result:
        raise DependencyMissing(["servicemonitors.monitoring.coreos.com"])

    controller, informer, context = make_controller(reconcile, dependency_requeue=30.0, degraded_condition=True)
    informer.store.upsert(project("web"))
    await controller.process("web")
    [written] = context.status_writes
    by_type = {c["type"]: c for c in written["conditions"]}
    assert by_type["Ready"]["status"] == "False"
    assert by_type["Ready"]["reason"] == "DependencyMissing"
    assert "servicemonitors.monitoring.coreos.com" in by_type["Ready"]["message"]
    assert by_type["Degraded"]["status"] == "True"
    assert controller.queue.delayed == 1
    assert controller.queue.backoff.failures("web") == 0
    assert context.events.sent[0][0] == "DependencyMissing"


async def test_deleted_object_is_not_reconciled() -> None:
    calls: list[str] = []

    async def reconcile(obj: dict[str, Any], ctx: Any) -> Result:
        calls.append("called")
        return DONE

    controller, _, _ = make_controller(reconcile)
    await controller.process("gone")
    assert calls == []


async def test_workers_finish_in_flight_reconciles_on_shutdown() -> None:
    finished: list[str] = []
    started = asyncio.Event()

    async def reconcile(obj: dict[str, Any], ctx: Any) -> Result:
        started.set()
        await asyncio.sleep(0.05)
        finished.append(obj["metadata"]["name"])
        return DONE

    controller, informer, _ = make_controller(reconcile, workers=2)
    informer.store.upsert(project("web"))
    controller.enqueue("web")
    controller.start()
    await started.wait()
    await controller.shutdown(grace=5)
    assert finished == ["web"]
    assert not controller.running


def test_owner_mapper_follows_owner_references_and_the_inventory_label() -> None:
    client = NullClient()
    owners = Informer(client, Discovery(client), RT.api_version, RT.kind)  # type: ignore[arg-type]
    owners.store.upsert(project("web", uid="u-web"))
    owners.store.upsert(project("api", uid="u-api"))
    mapper = owner_mapper(owners)
    by_ref = {"metadata": {"name": "q", "ownerReferences": [{"uid": "u-web"}]}}
    by_label = {"metadata": {"name": "ns", "labels": {INVENTORY_LABEL: "u-api"}}}
    orphan = {"metadata": {"name": "x", "labels": {INVENTORY_LABEL: "u-unknown"}}}
    assert set(mapper(by_ref)) == {"web"}
    assert set(mapper(by_label)) == {"api"}
    assert set(mapper(orphan)) == set()
    moved = Change("ns", by_label, by_ref)
    assert mapped_keys(moved, mapper) == {"web", "api"}, "the old owner hears about a child it lost"


async def test_a_coalescing_watch_wakes_its_key_once_per_window_and_the_primary_at_once() -> None:
    controller, informer, _ = make_controller(lambda o, c: DONE)
    client = NullClient()
    children = Informer(client, Discovery(client), "v1", "Namespace")  # type: ignore[arg-type]
    controller.watch(children, lambda child: ["acme"], coalesce=0.05)
    burst = [Change(f"ns-{i}", None, {"metadata": {"name": f"ns-{i}"}}) for i in range(50)]
    children._notify(burst)
    assert (len(controller.queue), controller.queue.delayed) == (0, 1), "fifty changes wait as one"
    await asyncio.sleep(0.1)
    assert (len(controller.queue), controller.queue.delayed) == (1, 0)
    assert await controller.queue.get() == "acme"
    controller.queue.done("acme")
    children._notify(burst[:1])
    assert controller.queue.delayed == 1, "a change after the window opens the next one"
    informer.store.upsert(project("web"))
    informer._notify([Change("web", None, project("web"))])
    assert len(controller.queue) == 1, "the primary's own change is not delayed"
    controller.queue.shutdown()
