"""Controllers: a primary informer, secondary watches mapped to primary keys, a work queue and N workers.

Events only enqueue keys; a worker takes a key, reads the object from the cache and calls the reconciler with it.
The reconciler is level-based: it never learns which event woke it, only what the world looks like now, and it
returns a `Result` (done, or "look again after N seconds"). Errors are retried with per-key backoff; a missing
third-party CRD becomes a `Ready=False/DependencyMissing` condition and a slow retry instead of an error loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from controller.applier import ApplyError, DependencyMissing
from controller.conditions import Condition, now_rfc3339, set_conditions
from controller.context import Context
from controller.logs import fields
from controller.metrics import Metrics, controller_metrics
from controller.queue import Backoff, WorkQueue
from kube.client import ApiError
from kube.informer import Informer
from kube.objects import Obj, generation_of, labels_of, object_key, owner_references_of
from kube.store import BY_UID, Change
from tenancy.labels import INVENTORY_LABEL

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Result:
    """What a reconcile asks for next: nothing (`requeue_after=None`) or another look after N seconds."""

    requeue_after: float | None = None


DONE = Result()

ReconcileFunc = Callable[[Obj, Context], Awaitable[Result]]
Mapper = Callable[[Obj], Iterable[str]]


def owner_mapper(owners: Informer) -> Mapper:
    """Child -> owner keys, through ownerReferences and the owner-inventory label (uids looked up in `owners`)."""

    def mapper(obj: Obj) -> Iterable[str]:
        uids = {str(ref.get("uid")) for ref in owner_references_of(obj) if ref.get("uid")}
        inventory = labels_of(obj).get(INVENTORY_LABEL)
        if inventory:
            uids.add(inventory)
        keys: set[str] = set()
        for uid in uids:
            keys.update(owners.store.index_keys(BY_UID, uid))
        return keys

    return mapper


def mapped_keys(change: Change, mapper: Mapper) -> set[str]:
    """Keys for both sides of a change: an object that moved away from an owner must wake the old owner too."""
    keys: set[str] = set()
    for obj in (change.old, change.new):
        if obj is not None:
            keys.update(mapper(obj))
    return keys


class Controller:
    def __init__(
        self,
        name: str,
        primary: Informer,
        reconcile: ReconcileFunc,
        context: Context,
        *,
        workers: int = 4,
        backoff: Backoff | None = None,
        metrics: Metrics | None = None,
        dependency_requeue: float = 30.0,
        degraded_condition: bool = False,
    ) -> None:
        self.name = name
        self.primary = primary
        self._reconcile = reconcile
        self.context = context
        self.workers = max(1, workers)
        self.metrics = metrics or controller_metrics(primary.metrics)
        self.dependency_requeue = dependency_requeue
        self.degraded_condition = degraded_condition
        self.queue = WorkQueue(backoff, on_add=lambda _: self.metrics.queue_adds.inc(self.name))
        self.metrics.queue_depth.set_function(self.name, function=lambda: float(len(self.queue)))
        self._tasks: list[asyncio.Task[None]] = []
        primary.add_handler(self._on_primary)

    def _on_primary(self, change: Change) -> None:
        self.queue.add(change.key)

    def watch(
        self,
        informer: Informer,
        mapper: Mapper,
        predicate: Callable[[Change], bool] | None = None,
        *,
        coalesce: float = 0.0,
    ) -> None:
        """Wake the primary keys that `mapper` names for every change in `informer` (that `predicate` accepts).

        With `coalesce` seconds, a change wakes its key that much later and the changes in between ride along:
        for a status that sums many children (a Tenant over its Projects), a burst of a thousand child changes
        becomes one write per window instead of one per change. The primary's own changes still wake at once."""

        def handler(change: Change) -> None:
            if predicate is not None and not predicate(change):
                return
            for key in mapped_keys(change, mapper):
                if coalesce > 0:
                    self.queue.add_after(key, coalesce)
                else:
                    self.queue.add(key)

        informer.add_handler(handler)

    def enqueue(self, key: str) -> None:
        self.queue.add(key)

    @property
    def running(self) -> bool:
        return bool(self._tasks)

    def start(self) -> None:
        if not self._tasks:
            self._tasks = [
                asyncio.create_task(self._worker(), name=f"worker:{self.name}:{i}") for i in range(self.workers)
            ]

    async def shutdown(self, grace: float = 30.0) -> None:
        """Stop handing out keys, let in-flight reconciles finish (up to `grace` seconds), then stop the workers."""
        self.queue.shutdown()
        if not self._tasks:
            return
        _, pending = await asyncio.wait(self._tasks, timeout=grace)
        for task in pending:
            task.cancel()
        for task in pending:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    async def _worker(self) -> None:
        while True:
            key = await self.queue.get()
            if key is None:
                return
            try:
                await self.process(key)
            except Exception:  # a worker must outlive any bug in one reconcile's bookkeeping
                log.exception("reconcile bookkeeping failed", extra=fields(self.name, key))
                self.queue.add_rate_limited(key)
            finally:
                self.queue.done(key)

    async def process(self, key: str) -> None:
        """One reconcile of `key` with its retry bookkeeping (public so tests can drive it without workers)."""
        obj = self.primary.store.get(key)
        if obj is None:
            self.queue.forget(key)
            return
        started = time.perf_counter()
        result_label = "success"
        try:
            result = await self._reconcile(obj, self.context)
        except DependencyMissing as missing:
            result_label = "dependency_missing"
            await self._report_missing(obj, missing)
            self.queue.forget(key)
            self.queue.add_after(key, self.dependency_requeue)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            result_label = "error"
            self.metrics.reconcile_errors.inc(self.name)
            delay = self.queue.add_rate_limited(key)
            quiet = isinstance(error, ApiError) and error.conflict
            log.log(
                logging.INFO if quiet else logging.ERROR,
                "reconcile failed; retrying",
                exc_info=not quiet and not isinstance(error, ApiError | ApplyError),
                extra=fields(self.name, key, error=str(error), retry_in=round(delay, 3)),
            )
            if not quiet:
                await self.context.events.warning(obj, "ReconcileFailed", f"Reconcile failed: {error}")
        else:
            self.queue.forget(key)
            if result.requeue_after is not None:
                result_label = "requeue"
                self.queue.add_after(key, result.requeue_after)
        finally:
            elapsed = time.perf_counter() - started
            self.metrics.reconcile_total.inc(self.name, result_label)
            self.metrics.reconcile_duration.observe(self.name, value=elapsed)
            log.debug("reconciled", extra=fields(self.name, key, result=result_label, seconds=round(elapsed, 4)))

    async def _report_missing(self, obj: Obj, missing: DependencyMissing) -> None:
        message = str(missing)
        updates = [Condition("Ready", "False", "DependencyMissing", message)]
        if self.degraded_condition:
            updates.append(Condition("Degraded", "True", "DependencyMissing", message))
        status = obj.get("status")
        if not isinstance(status, dict):
            status = {}
        conditions = set_conditions(status.get("conditions"), updates, generation_of(obj), now_rfc3339())
        with contextlib.suppress(ApiError):
            await self.context.write_status(obj, {"conditions": conditions})
        await self.context.events.warning(obj, "DependencyMissing", message)
        log.warning("dependency missing", extra=fields(self.name, object_key(obj), crds=",".join(missing.crds)))
