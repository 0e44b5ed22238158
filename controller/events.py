"""Kubernetes Events (`events.k8s.io/v1`) for every change the controller makes and every failure it meets.

Events are best effort: a failure to record one is logged and never fails a reconcile. The same
(object, type, reason, note) is not recorded again within `dedupe_seconds`, so a reconcile that retries in a loop
does not flood the namespace.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal

import aiohttp

from controller.metrics import controller_metrics
from kube.client import EVENTS, ApiError, KubeClient
from kube.objects import Obj, name_of, namespace_of, resource_version_of, uid_of

log = logging.getLogger(__name__)

REPORTING_CONTROLLER = "tenantgate.io/controller"
EventType = Literal["Normal", "Warning"]


def default_instance() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def micro_time(now: datetime | None = None) -> str:
    """`metav1.MicroTime`: RFC 3339 with microseconds."""
    return (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def build_event(
    regarding: Obj,
    event_type: EventType,
    reason: str,
    note: str,
    action: str,
    instance: str,
    now: datetime | None = None,
    suffix: str | None = None,
) -> Obj:
    """An `events.k8s.io/v1` Event about `regarding` (cluster-scoped objects' Events live in `default`)."""
    namespace = namespace_of(regarding) or "default"
    reference: dict[str, Any] = {
        "apiVersion": regarding.get("apiVersion", ""),
        "kind": regarding.get("kind", ""),
        "name": name_of(regarding),
        "uid": uid_of(regarding),
        "resourceVersion": resource_version_of(regarding),
    }
    if namespace_of(regarding):
        reference["namespace"] = namespace_of(regarding)
    name = f"{name_of(regarding)[:200]}.{suffix or secrets.token_hex(8)}"
    return {
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": {"name": name, "namespace": namespace},
        "eventTime": micro_time(now),
        "reportingController": REPORTING_CONTROLLER,
        "reportingInstance": instance[:128],
        "action": action[:128],
        "reason": reason[:128],
        "regarding": reference,
        "note": note[:1024],
        "type": event_type,
    }


class EventRecorder:
    def __init__(
        self,
        client: KubeClient,
        instance: str | None = None,
        dedupe_seconds: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._instance = instance or default_instance()
        self._dedupe_seconds = dedupe_seconds
        self._clock = clock
        self._recent: dict[tuple[str, str, str, str], float] = {}

    def should_emit(self, regarding: Obj, event_type: str, reason: str, note: str) -> bool:
        """Dedupe within the window (pure apart from the clock; unit-tested)."""
        now = self._clock()
        key = (uid_of(regarding) or name_of(regarding), event_type, reason, note)
        last = self._recent.get(key)
        if last is not None and now - last < self._dedupe_seconds:
            return False
        self._recent[key] = now
        if len(self._recent) > 10_000:
            cutoff = now - self._dedupe_seconds
            self._recent = {k: t for k, t in self._recent.items() if t >= cutoff}
        return True

    async def emit(self, regarding: Obj, event_type: EventType, reason: str, note: str, action: str = "") -> None:
        if not self.should_emit(regarding, event_type, reason, note):
            return
        event = build_event(regarding, event_type, reason, note, action or reason, self._instance)
        controller_metrics(self._client.metrics).events_emitted.inc(event_type, reason)
        try:
            await self._client.create(EVENTS, event)
        except ApiError as error:
            log.warning("could not record event", extra={"reason": reason, "error": str(error)})
        except (TimeoutError, aiohttp.ClientError, OSError, ValueError) as error:  # never fail a reconcile
            log.warning("could not record event", extra={"reason": reason, "error": repr(error)})

    async def normal(self, regarding: Obj, reason: str, note: str, action: str = "") -> None:
        await self.emit(regarding, "Normal", reason, note, action)

    async def warning(self, regarding: Obj, reason: str, note: str, action: str = "") -> None:
        await self.emit(regarding, "Warning", reason, note, action)
