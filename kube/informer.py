"""List + watch for one resource, feeding a `Store` and telling handlers what changed.

The informer lists once, then watches from the list's resourceVersion with bookmarks (so a reconnect resumes from
a recent version instead of relisting), and relists only when the server says the version is gone (410). A kind
that is not served (third-party CRD absent) is looked up again every `rediscovery_interval`; until then its
informer counts as synced-empty, so it never holds readiness hostage.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import json
import logging
import random
from collections.abc import Callable, Mapping
from typing import Any

import aiohttp

from kube.client import ApiError, Discovery, KubeClient, NotServed, ResourceType
from kube.objects import Obj, make_key, meta, object_key, resource_version_of
from kube.prometheus import ClientMetrics
from kube.store import Change, Store

log = logging.getLogger(__name__)

Handler = Callable[[Change], None]


class Outcome(enum.Enum):
    """What the informer loop should do after one watch event."""

    CONTINUE = "continue"
    RELIST = "relist"
    RESTART = "restart"


def without_managed_fields(obj: Obj) -> Obj:
    """`obj` without `metadata.managedFields`, in place: server-side apply's bookkeeping, which no reader here
    needs and which is often the larger part of a small object (memory, and every copy a reconcile makes)."""
    metadata = obj.get("metadata")
    if isinstance(metadata, dict):
        metadata.pop("managedFields", None)
    return obj


def apply_watch_event(store: Store, event: Obj) -> tuple[Outcome, str | None, Change | None]:
    """Apply one watch event to `store`: (what to do next, the resourceVersion to resume from, the change).

    Pure with respect to the network: the informer loop and the unit tests share it.
    """
    kind = event.get("type")
    obj = event.get("object")
    if not isinstance(obj, dict):
        return Outcome.RESTART, None, None
    if kind == "ERROR":
        code = obj.get("code")
        return (Outcome.RELIST if code == 410 else Outcome.RESTART), None, None
    resource_version = resource_version_of(obj) or None
    if kind == "BOOKMARK":
        return Outcome.CONTINUE, resource_version, None
    if kind in ("ADDED", "MODIFIED"):
        return Outcome.CONTINUE, resource_version, store.upsert(without_managed_fields(obj))
    if kind == "DELETED":
        return Outcome.CONTINUE, resource_version, store.delete(object_key(obj), resource_version or "")
    return Outcome.CONTINUE, resource_version, None


class Informer:
    def __init__(
        self,
        client: KubeClient,
        discovery: Discovery,
        api_version: str,
        kind: str,
        *,
        namespace: str = "",
        label_selector: str | None = None,
        inventory_label: str | None = None,
        field_selector: str | None = None,
        metrics: ClientMetrics | None = None,
        watch_timeout: int = 300,
        rediscovery_interval: float = 30.0,
        transform: Callable[[Obj], Obj] | None = None,
    ) -> None:
        self.client = client
        self.transform = transform
        """Applied to every object before it is cached: keeps only the fields a reader needs (memory)."""
        self.discovery = discovery
        self.api_version = api_version
        self.kind = kind
        self.namespace = namespace
        self.label_selector = label_selector
        self.field_selector = field_selector
        self.metrics = metrics or client.metrics
        self.watch_timeout = watch_timeout
        self.rediscovery_interval = rediscovery_interval
        self.store = Store(inventory_label)
        self.synced = asyncio.Event()
        self._ready = asyncio.Event()
        self.served: bool | None = None
        self.resource: ResourceType | None = discovery.cached(api_version, kind)
        self.resource_version = ""
        self._handlers: list[Handler] = []
        self._task: asyncio.Task[None] | None = None
        self._served_changed: list[Callable[[bool], None]] = []

    @property
    def name(self) -> str:
        """A stable label for metrics and logs: the plural when known, else the kind."""
        resource = self.resource.plural if self.resource else self.kind.lower()
        selector = ",".join(s for s in (self.label_selector, self.field_selector) if s)
        return f"{resource}[{selector}]" if selector else resource

    @property
    def ready(self) -> bool:
        """Synced, or known not to be served (nothing to wait for)."""
        return self.synced.is_set() or self.served is False

    async def wait_ready(self) -> None:
        """Until synced, or known not to be served."""
        await self._ready.wait()

    def add_handler(self, handler: Handler) -> None:
        self._handlers.append(handler)

    def on_served_changed(self, callback: Callable[[bool], None]) -> None:
        self._served_changed.append(callback)

    def get(self, namespace: str, name: str) -> Obj | None:
        return self.store.get(make_key(namespace, name))

    def write_through(self, obj: Obj) -> None:
        """Record the answer of our own write so the next reconcile sees it before the watch event arrives."""
        obj.setdefault("apiVersion", self.api_version)
        obj.setdefault("kind", self.kind)
        if self._accepts(obj):
            self.store.upsert(without_managed_fields(obj), replace_equal=True)

    def forget(self, obj: Obj) -> None:
        """Drop an object we deleted ourselves (its DELETED event would only confirm it)."""
        self.store.delete(object_key(obj), resource_version_of(obj))

    def _accepts(self, obj: Obj) -> bool:
        """Whether `obj` matches this informer's namespace and label selector (equality and existence only)."""
        if self.namespace and meta(obj).get("namespace") != self.namespace:
            return False
        for term in (self.field_selector or "").split(","):
            field, _, value = term.partition("=")
            attribute = {"metadata.name": "name", "metadata.namespace": "namespace"}.get(field.strip())
            if attribute and str(meta(obj).get(attribute, "")) != value.lstrip("=").strip():
                return False
        return selector_matches(self.label_selector, meta(obj).get("labels") or {})

    def start(self) -> asyncio.Task[None]:
        if self._task is None:
            self._task = asyncio.create_task(self.run(), name=f"informer:{self.name}")
        return self._task

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def _notify(self, changes: list[Change]) -> None:
        self.metrics.cache_objects.set(self.name, value=len(self.store))
        for change in changes:
            for handler in self._handlers:
                try:
                    handler(change)
                except Exception:
                    log.exception("informer handler failed", extra={"resource": self.name, "key": change.key})

    def _set_served(self, served: bool) -> None:
        if self.served is served:
            return
        self.served = served
        if not served:
            self._ready.set()
        for callback in self._served_changed:
            callback(served)

    async def run(self) -> None:
        """The informer loop; runs until cancelled."""
        need_list = True
        error_delay = 0.5
        while True:
            try:
                self.resource = await self.discovery.resolve(self.api_version, self.kind)
            except NotServed:
                if self.served is not False:
                    log.warning(
                        "kind not served; will look again",
                        extra={"kind": self.kind, "apiVersion": self.api_version},
                    )
                self._notify(self.store.replace([]))
                self._set_served(False)
                need_list = True
                await asyncio.sleep(self.rediscovery_interval)
                continue
            except (TimeoutError, ApiError, aiohttp.ClientError, OSError) as error:
                log.warning("discovery failed", extra={"kind": self.kind, "error": str(error)})
                await asyncio.sleep(error_delay)
                error_delay = min(error_delay * 2, 30.0)
                continue
            self._set_served(True)
            rt = self.resource
            try:
                if need_list:
                    items, self.resource_version = await self.client.list(
                        rt, self.namespace, self.label_selector, self.field_selector
                    )
                    self.metrics.relists.inc(self.name)
                    items = [without_managed_fields(item) for item in items]
                    if self.transform is not None:
                        items = [self.transform(item) for item in items]
                    self._notify(self.store.replace(items))
                    self.synced.set()
                    self._ready.set()
                    need_list = False
                outcome = await self._watch(rt)
                error_delay = 0.5
                if outcome is Outcome.RELIST:
                    self.metrics.watch_restarts.inc(self.name, "expired")
                    need_list = True
                elif outcome is Outcome.RESTART:
                    self.metrics.watch_restarts.inc(self.name, "error")
                    await asyncio.sleep(error_delay)
                else:
                    self.metrics.watch_restarts.inc(self.name, "closed")
            except ApiError as error:
                if error.gone:
                    self.metrics.watch_restarts.inc(self.name, "expired")
                    need_list = True
                    continue
                if error.not_found:
                    self.discovery.invalidate(self.api_version)
                self.metrics.watch_restarts.inc(self.name, "error")
                log.warning("list/watch failed", extra={"resource": self.name, "error": str(error)})
                await asyncio.sleep(error_delay * random.uniform(1.0, 1.5))
                error_delay = min(error_delay * 2, 30.0)
            except (TimeoutError, aiohttp.ClientError, OSError, json.JSONDecodeError) as error:
                self.metrics.watch_restarts.inc(self.name, "error")
                log.info("watch interrupted", extra={"resource": self.name, "error": repr(error)})
                await asyncio.sleep(error_delay * random.uniform(1.0, 1.5))
                error_delay = min(error_delay * 2, 30.0)

    async def _watch(self, rt: ResourceType) -> Outcome:
        # Spread the server-side timeouts so all watches do not reconnect in the same second.
        timeout = int(self.watch_timeout * random.uniform(1.0, 2.0))
        stream = self.client.watch(
            rt, self.resource_version, self.namespace, self.label_selector, self.field_selector, timeout
        )
        async for event in stream:
            typed = _with_type(event, rt)
            if self.transform is not None and event.get("type") != "ERROR" and isinstance(typed.get("object"), dict):
                typed = {**typed, "object": self.transform(typed["object"])}
            outcome, resource_version, change = apply_watch_event(self.store, typed)
            if outcome is not Outcome.CONTINUE:
                return outcome
            if resource_version:
                self.resource_version = resource_version
            if change is not None:
                self._notify([change])
        return Outcome.CONTINUE


def selector_matches(selector: str | None, labels: Mapping[str, str]) -> bool:
    """Equality-based label selector (`k=v`, `k==v`, `k!=v`, `k`, `!k`, comma-joined) against `labels`."""
    for raw in (selector or "").split(","):
        term = raw.strip()
        if not term:
            continue
        if "!=" in term:
            key, _, value = term.partition("!=")
            if labels.get(key.strip()) == value.strip():
                return False
        elif "=" in term:
            key, _, value = term.partition("=")
            if labels.get(key.strip()) != value.lstrip("=").strip():
                return False
        elif term.startswith("!"):
            if term[1:].strip() in labels:
                return False
        elif term not in labels:
            return False
    return True


def _with_type(event: Obj, rt: ResourceType) -> Obj:
    obj: Any = event.get("object")
    if isinstance(obj, dict) and event.get("type") != "ERROR":
        obj.setdefault("apiVersion", rt.api_version)
        obj.setdefault("kind", rt.kind)
    return event
