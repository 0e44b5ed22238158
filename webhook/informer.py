"""The production `ClusterView`: informer-style caches fed by list + watch, one thread per kind.

Admission answers from memory, so this module keeps memory current: for each watched kind it lists once
(the view is `synced` when every kind has been listed), then watches from the list's resourceVersion with
bookmarks, resuming from the last seen resourceVersion when a watch ends, and re-listing when the server
says that version is gone (HTTP 410 or an ERROR event with code 410).

The official `kubernetes` client is synchronous, so each kind runs in a daemon thread and writes into the
thread-safe `ClusterState`; the event loop only reads. Event handling is split into pure functions
(`parse_watch_line`, `apply_event`) so its rules are tested without a cluster, and the I/O is behind the
small `ListWatchSource` protocol.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol

from webhook.logfmt import kv
from webhook.view import (
    APP,
    CERTIFICATE,
    CONFIGMAP,
    DJANGO,
    DNS_RECORD,
    INGRESS,
    NAMESPACE,
    POLICY,
    POLICY_CONFIGMAP,
    PROJECT,
    TENANT,
    WATCHED,
    ClusterState,
    InMemoryClusterView,
    ResourceKey,
    own_namespace,
)

log = logging.getLogger("tenantgate.webhook.informer")

WATCH_TIMEOUT_SECONDS: Final = 300
LIST_PAGE_SIZE: Final = 500
GONE: Final = 410


# -- pure event handling ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WatchStep:
    """What to do after one watch event: continue from `resource_version`, or list again."""

    resource_version: str | None
    relist: bool = False
    error: str = ""


def parse_watch_line(line: str | bytes) -> dict[str, Any] | None:
    """One line of a watch stream as an event dict, or None for a blank or unreadable line."""
    text = line.decode("utf-8", errors="replace") if isinstance(line, bytes) else line
    if not text.strip():
        return None
    try:
        event = json.loads(text)
    except ValueError:
        return None
    return event if isinstance(event, dict) and isinstance(event.get("type"), str) else None


def _resource_version(obj: Mapping[str, Any]) -> str | None:
    value = (obj.get("metadata") or {}).get("resourceVersion")
    return str(value) if value else None


def apply_event(
    state: ClusterState, resource: ResourceKey, event: Mapping[str, Any], resource_version: str | None
) -> WatchStep:
    """Apply one watch event to the store and say where the watch continues from.

    ADDED/MODIFIED upsert, DELETED removes, BOOKMARK only moves the resourceVersion forward. An ERROR event
    asks for a re-list: code 410 means our resourceVersion is too old to resume from, and any other error
    leaves the cache's completeness unknown, which only a list restores.
    """
    kind = event.get("type")
    obj = event.get("object")
    if not isinstance(obj, dict):
        return WatchStep(resource_version)
    if kind == "ERROR":
        code = obj.get("code")
        message = str(obj.get("message") or obj.get("reason") or "watch error")
        return WatchStep(None, relist=True, error=f"{code}: {message}")
    if kind in ("ADDED", "MODIFIED"):
        state.upsert(resource, obj)
    elif kind == "DELETED":
        state.delete(resource, obj)
    elif kind != "BOOKMARK":
        return WatchStep(resource_version)
    return WatchStep(_resource_version(obj) or resource_version)


# -- I/O ---------------------------------------------------------------------------------------------------


class ListWatchSource(Protocol):
    """List and watch one kind, returning raw dicts."""

    def list(self) -> tuple[list[dict[str, Any]], str]:
        """All objects and the list's resourceVersion."""
        ...

    def watch(self, resource_version: str, timeout_seconds: int) -> Iterator[dict[str, Any]]:
        """Events after `resource_version` until the server ends the watch (raises on HTTP errors)."""
        ...

    def close(self) -> None:
        """Unblock a watch in progress from another thread (shutdown)."""
        ...


def _status_of(exc: BaseException) -> int | None:
    status = getattr(exc, "status", None)
    return status if isinstance(status, int) else None


class KubernetesSource:
    """A `ListWatchSource` over one generated list function of the `kubernetes` client.

    Responses are read raw (`_preload_content=False`) and parsed as JSON: the cache keeps exactly what
    the API server sent, and deserializing into the client's models would only be thrown away.
    """

    def __init__(self, list_function: Callable[..., Any], *args: str, **selectors: str) -> None:
        self._list = list_function
        self._args = args
        self._selectors = selectors  # e.g. field_selector, passed to both list and watch
        self._response: Any = None

    def list(self) -> tuple[list[dict[str, Any]], str]:
        items: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            options: dict[str, Any] = {"limit": LIST_PAGE_SIZE, "_preload_content": False, **self._selectors}
            if token:
                options["_continue"] = token
            response = self._list(*self._args, **options)
            page = json.loads(response.data)
            items.extend(item for item in page.get("items") or [] if isinstance(item, dict))
            metadata = page.get("metadata") or {}
            token = metadata.get("continue")
            if not token:
                return items, str(metadata.get("resourceVersion") or "")

    def watch(self, resource_version: str, timeout_seconds: int) -> Iterator[dict[str, Any]]:
        response = self._list(
            *self._args,
            **self._selectors,
            watch=True,
            resource_version=resource_version,
            allow_watch_bookmarks=True,
            timeout_seconds=timeout_seconds,
            _preload_content=False,
            _request_timeout=timeout_seconds + 30,
        )
        self._response = response
        try:
            buffer = b""
            for chunk in response.stream(amt=None, decode_content=False):
                buffer += chunk if isinstance(chunk, bytes) else str(chunk).encode()
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    event = parse_watch_line(line)
                    if event is not None:
                        yield event
            event = parse_watch_line(buffer)
            if event is not None:
                yield event
        finally:
            self._response = None
            response.release_conn()

    def close(self) -> None:
        response = self._response
        if response is not None:
            response.shutdown()  # makes the blocked read in the watching thread return


class Informer:
    """Keeps one kind of `ClusterState` current: list, watch, resume, re-list on 410."""

    def __init__(
        self,
        resource: ResourceKey,
        source: ListWatchSource,
        state: ClusterState,
        *,
        stop: threading.Event | None = None,
        backoff: float = 1.0,
        max_backoff: float = 30.0,
        watch_timeout: int = WATCH_TIMEOUT_SECONDS,
    ) -> None:
        self.resource = resource
        self.source = source
        self.state = state
        self.stop_event = stop or threading.Event()
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.watch_timeout = watch_timeout
        self.resource_version: str | None = None
        self.lists = 0

    @property
    def name(self) -> str:
        group, kind = self.resource
        return f"{group}/{kind}" if group else kind

    def list_once(self) -> None:
        items, self.resource_version = self.source.list()
        self.state.replace(self.resource, items)
        self.lists += 1
        log.debug(kv("informer.listed", kind=self.name, items=len(items), resource_version=self.resource_version))

    def step(self) -> int:
        """One list (when needed) and one watch until it ends; returns the events seen, raises on I/O errors."""
        if self.resource_version is None:
            self.list_once()
        assert self.resource_version is not None
        seen = 0
        for event in self.source.watch(self.resource_version, self.watch_timeout):
            if self.stop_event.is_set():
                break
            seen += 1
            result = apply_event(self.state, self.resource, event, self.resource_version)
            if result.relist:
                log.info(kv("informer.relist", kind=self.name, reason=result.error))
                self.resource_version = None
                break
            self.resource_version = result.resource_version
        return seen

    def run(self) -> None:
        delay = self.backoff
        while not self.stop_event.is_set():
            try:
                started = time.monotonic()
                if self.step() == 0 and time.monotonic() - started < 1.0:
                    # A watch that ends at once with nothing in it (a proxy cutting streams, say) must
                    # not turn into a busy loop of requests.
                    self.stop_event.wait(self.backoff)
                delay = self.backoff
                continue
            except Exception as exc:
                if self.stop_event.is_set():
                    return  # the watch was cut by `stop()`
                status = _status_of(exc)
                if status == GONE:
                    log.info(kv("informer.relist", kind=self.name, reason="410 Gone"))
                    self.resource_version = None
                    continue
                if status == 404 and self.resource_version is None:
                    # The kind is not installed: nothing to know, so it must not hold readiness back.
                    self.state.replace(self.resource, [])
                    log.warning(kv("informer.kind_missing", kind=self.name, retry_in=self.max_backoff))
                    self.stop_event.wait(self.max_backoff)
                    continue
                log.warning(kv("informer.error", kind=self.name, status=status, error=exc, retry_in=delay),
                            exc_info=status is None)
            self.stop_event.wait(delay)
            delay = min(delay * 2, self.max_backoff)


def kubernetes_sources(api_client: Any) -> dict[ResourceKey, ListWatchSource]:
    """List/watch sources for every kind in `webhook.view.WATCHED`."""
    from kubernetes import client

    custom = client.CustomObjectsApi(api_client)
    core = client.CoreV1Api(api_client)
    networking = client.NetworkingV1Api(api_client)
    kubeop = ("paas.kubeop.io", "v1alpha1")
    sources: dict[ResourceKey, ListWatchSource] = {
        TENANT: KubernetesSource(custom.list_cluster_custom_object, *kubeop, "tenants"),
        PROJECT: KubernetesSource(custom.list_cluster_custom_object, *kubeop, "projects"),
        APP: KubernetesSource(custom.list_cluster_custom_object, *kubeop, "apps"),
        DNS_RECORD: KubernetesSource(custom.list_cluster_custom_object, *kubeop, "dnsrecords"),
        CERTIFICATE: KubernetesSource(custom.list_cluster_custom_object, *kubeop, "certificates"),
        DJANGO: KubernetesSource(custom.list_cluster_custom_object, "thismatters.github", "v1alpha", "djangos"),
        NAMESPACE: KubernetesSource(core.list_namespace),
        POLICY: KubernetesSource(custom.list_cluster_custom_object, *kubeop, "policies"),
        CONFIGMAP: KubernetesSource(
            core.list_namespaced_config_map, own_namespace(), field_selector=f"metadata.name={POLICY_CONFIGMAP}"
        ),
        INGRESS: KubernetesSource(networking.list_ingress_for_all_namespaces),
    }
    assert set(sources) == set(WATCHED)
    return sources


class WatchedClusterView(ClusterState):
    """A `ClusterView` kept current by one `Informer` thread per watched kind."""

    def __init__(self, sources: Mapping[ResourceKey, ListWatchSource]) -> None:
        super().__init__(sources.keys())
        self._stop = threading.Event()
        self.informers = [Informer(kind, source, self, stop=self._stop) for kind, source in sources.items()]
        self._threads: list[threading.Thread] = []

    @classmethod
    def from_api_client(cls, api_client: Any) -> WatchedClusterView:
        return cls(kubernetes_sources(api_client))

    def start(self) -> None:
        for informer in self.informers:
            thread = threading.Thread(target=informer.run, name=f"informer-{informer.name}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 2.0) -> None:
        """Stop every informer: cut their watches and wait (briefly; the threads are daemons anyway)."""
        self._stop.set()
        for informer in self.informers:
            informer.source.close()
        for thread in self._threads:
            thread.join(timeout)


def snapshot_view(sources: Mapping[ResourceKey, ListWatchSource]) -> InMemoryClusterView:
    """List every kind once into an in-memory view (the informers' list step, without watching)."""
    view = InMemoryClusterView(sources.keys())
    for kind, source in sources.items():
        try:
            Informer(kind, source, view).list_once()
        except Exception as exc:
            if _status_of(exc) != 404:
                raise
            view.replace(kind, [])  # the kind is not installed: there is nothing of it to know
    return view
