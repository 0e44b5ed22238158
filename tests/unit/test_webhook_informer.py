"""The watch-fed view's event handling, as pure functions and against fake list/watch sources."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from webhook.informer import (
    Informer,
    KubernetesSource,
    WatchedClusterView,
    apply_event,
    parse_watch_line,
    snapshot_view,
)
from webhook.view import NAMESPACE, TENANT, ClusterState

pytestmark = pytest.mark.unit


def tenant(name: str, rv: str = "1") -> dict[str, Any]:
    return {"apiVersion": "paas.kubeop.io/v1alpha1", "kind": "Tenant",
            "metadata": {"name": name, "resourceVersion": rv}}


def event(kind: str, obj: dict[str, Any]) -> dict[str, Any]:
    return {"type": kind, "object": obj}


class ApiError(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status


class FakeSource:
    """Scripted list results and watch streams; an exception in a script is raised at that point."""

    def __init__(self, lists: list[Any], watches: list[list[Any]], stop: threading.Event | None = None) -> None:
        self.lists = lists
        self.watches = watches
        self.watched_from: list[str] = []
        self.stop = stop
        self.closed = False

    def close(self) -> None:
        self.closed = True

    def list(self) -> tuple[list[dict[str, Any]], str]:
        result = self.lists.pop(0)
        if isinstance(result, Exception):
            raise result
        items: list[dict[str, Any]]
        items, rv = result
        return items, rv

    def watch(self, resource_version: str, timeout_seconds: int) -> Iterator[dict[str, Any]]:
        self.watched_from.append(resource_version)
        if not self.watches:
            if self.stop is not None:
                self.stop.set()
            return
        for item in self.watches.pop(0):
            if isinstance(item, Exception):
                raise item
            yield item


# -- pure event handling ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("events", "names", "rv", "relist"),
    [
        ([event("ADDED", tenant("a", "5"))], {"a"}, "5", False),
        ([event("ADDED", tenant("a", "5")), event("MODIFIED", tenant("a", "6"))], {"a"}, "6", False),
        ([event("ADDED", tenant("a", "5")), event("DELETED", tenant("a", "7"))], set(), "7", False),
        ([event("BOOKMARK", {"kind": "Tenant", "metadata": {"resourceVersion": "9"}})], set(), "9", False),
        ([event("ERROR", {"kind": "Status", "code": 410, "reason": "Expired"})], set(), None, True),
        ([event("ERROR", {"kind": "Status", "code": 500, "message": "etcd"})], set(), None, True),
        ([{"type": "WHATEVER", "object": tenant("x", "3")}], set(), "1", False),
        ([{"type": "ADDED", "object": "not an object"}], set(), "1", False),
    ],
    ids=["added", "modified", "deleted", "bookmark_moves_rv", "gone_relists", "error_relists",
         "unknown_type_ignored", "malformed_object_ignored"],
)
def test_apply_event(events: list[dict[str, Any]], names: set[str], rv: str | None, relist: bool) -> None:
    state = ClusterState([TENANT])
    current: str | None = "1"
    step = None
    for item in events:
        step = apply_event(state, TENANT, item, current)
        current = step.resource_version
    assert step is not None
    assert state.tenant_names() == names
    assert step.resource_version == rv
    assert step.relist is relist


def test_modified_event_replaces_the_stored_object() -> None:
    state = ClusterState([TENANT])
    apply_event(state, TENANT, event("ADDED", tenant("a", "1")), None)
    apply_event(state, TENANT, event("MODIFIED", {**tenant("a", "2"), "spec": {"name": "new"}}), "1")
    assert state.tenant("a") == {**tenant("a", "2"), "spec": {"name": "new"}}


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b'{"type":"ADDED","object":{"a":1}}', {"type": "ADDED", "object": {"a": 1}}),
        ('{"type":"BOOKMARK","object":{}}', {"type": "BOOKMARK", "object": {}}),
        (b"", None),
        (b"   ", None),
        (b"{not json", None),
        (b'{"object":{}}', None),
        (b"[1]", None),
    ],
)
def test_parse_watch_line(line: str | bytes, expected: dict[str, Any] | None) -> None:
    assert parse_watch_line(line) == expected


# -- the informer loop against fake sources ----------------------------------------------------------------


def test_lists_then_watches_from_the_list_resource_version() -> None:
    state = ClusterState([TENANT])
    source = FakeSource([([tenant("a")], "10")], [[event("ADDED", tenant("b", "11"))]])
    informer = Informer(TENANT, source, state)
    assert not state.synced
    informer.step()
    assert state.synced
    assert state.tenant_names() == {"a", "b"}
    assert source.watched_from == ["10"]
    assert informer.resource_version == "11"


def test_watch_resumes_from_last_seen_version_without_relisting() -> None:
    state = ClusterState([TENANT])
    source = FakeSource(
        [([], "10")],
        [[event("ADDED", tenant("a", "11"))], [event("BOOKMARK", {"metadata": {"resourceVersion": "20"}})], []],
    )
    informer = Informer(TENANT, source, state)
    informer.step()
    informer.step()
    informer.step()
    assert source.watched_from == ["10", "11", "20"]
    assert informer.lists == 1


def test_error_410_event_triggers_a_relist() -> None:
    state = ClusterState([TENANT])
    source = FakeSource(
        [([tenant("a")], "10"), ([tenant("b")], "30")],
        [[event("ERROR", {"kind": "Status", "code": 410, "reason": "Expired"})], []],
    )
    informer = Informer(TENANT, source, state)
    informer.step()
    assert informer.resource_version is None
    informer.step()
    assert informer.lists == 2
    assert state.tenant_names() == {"b"}, "objects deleted while the watch was gone must disappear"
    assert source.watched_from == ["10", "30"]


def test_http_410_from_the_watch_call_triggers_a_relist() -> None:
    stop = threading.Event()
    state = ClusterState([TENANT])
    source = FakeSource([([tenant("a")], "10"), ([tenant("c")], "40")], [[ApiError(410)]], stop=stop)
    informer = Informer(TENANT, source, state, stop=stop, backoff=0.001)
    informer.run()
    assert informer.lists == 2
    assert state.tenant_names() == {"c"}
    assert source.watched_from == ["10", "40"]


def test_transient_watch_error_retries_from_the_same_version() -> None:
    stop = threading.Event()
    state = ClusterState([TENANT])
    source = FakeSource([([], "10")], [[ApiError(500)], [event("ADDED", tenant("a", "12"))]], stop=stop)
    informer = Informer(TENANT, source, state, stop=stop, backoff=0.001)
    informer.run()
    assert informer.lists == 1
    assert source.watched_from == ["10", "10", "12"]
    assert state.tenant_names() == {"a"}


def test_missing_kind_counts_as_listed_so_readiness_is_not_blocked() -> None:
    stop = threading.Event()
    state = ClusterState([TENANT])

    attempts: list[int] = []

    class Missing(FakeSource):
        def list(self) -> tuple[list[dict[str, Any]], str]:
            attempts.append(1)
            if len(attempts) == 2:
                stop.set()  # the kind is retried later; stop on the retry
            raise ApiError(404)

    informer = Informer(TENANT, Missing([], []), state, stop=stop, max_backoff=0.001)
    informer.run()
    assert state.synced


def test_forbidden_list_keeps_the_view_unsynced() -> None:
    stop = threading.Event()
    state = ClusterState([TENANT])
    calls = []

    class Forbidden(FakeSource):
        def list(self) -> tuple[list[dict[str, Any]], str]:
            calls.append(1)
            if len(calls) == 3:
                stop.set()
            raise ApiError(403)

    Informer(TENANT, Forbidden([], []), state, stop=stop, backoff=0.001).run()
    assert not state.synced
    assert len(calls) == 3


def test_watched_view_is_synced_once_every_informer_listed() -> None:
    sources = {TENANT: FakeSource([([tenant("a")], "1")], []), NAMESPACE: FakeSource([([], "1")], [])}
    view = WatchedClusterView(sources)
    assert not view.synced
    view.start()
    try:
        deadline = time.monotonic() + 5
        while not view.synced and time.monotonic() < deadline:
            time.sleep(0.01)
        assert view.synced
        assert view.tenant("a") is not None
    finally:
        view.stop(timeout=5)
    assert all(source.closed for source in sources.values()), "stop() cuts every watch"


def test_snapshot_view_lists_each_kind_once_and_tolerates_missing_kinds() -> None:
    class Missing(FakeSource):
        def list(self) -> tuple[list[dict[str, Any]], str]:
            raise ApiError(404)

    view = snapshot_view({TENANT: FakeSource([([tenant("a")], "1")], []), NAMESPACE: Missing([], [])})
    assert view.synced
    assert view.tenant_names() == {"a"}


# -- KubernetesSource over a fake generated client function ----------------------------------------------


class FakeResponse:
    def __init__(self, data: bytes = b"", chunks: list[bytes] | None = None) -> None:
        self.data = data
        self.chunks = chunks or []
        self.released = False
        self.shut_down = False

    def shutdown(self) -> None:
        self.shut_down = True

    def stream(self, amt: Any = None, decode_content: bool = False) -> Iterator[bytes]:
        yield from self.chunks

    def release_conn(self) -> None:
        self.released = True


def test_kubernetes_source_follows_continue_tokens() -> None:
    pages = [
        {"items": [tenant("a")], "metadata": {"continue": "t1", "resourceVersion": "5"}},
        {"items": [tenant("b")], "metadata": {"resourceVersion": "7"}},
    ]
    calls: list[dict[str, Any]] = []

    def list_function(*args: str, **kwargs: Any) -> FakeResponse:
        calls.append({"args": args, **kwargs})
        return FakeResponse(json.dumps(pages[len(calls) - 1]).encode())

    items, rv = KubernetesSource(list_function, "paas.kubeop.io", "v1alpha1", "tenants").list()
    assert [i["metadata"]["name"] for i in items] == ["a", "b"]
    assert rv == "7"
    assert calls[0]["args"] == ("paas.kubeop.io", "v1alpha1", "tenants")
    assert "_continue" not in calls[0]
    assert calls[1]["_continue"] == "t1"


def test_kubernetes_source_watch_splits_lines_across_chunks_and_asks_for_bookmarks() -> None:
    lines = [
        json.dumps(event("ADDED", tenant("a", "2"))),
        json.dumps(event("BOOKMARK", {"metadata": {"resourceVersion": "3"}})),
    ]
    payload = ("\n".join(lines) + "\n").encode()
    response = FakeResponse(chunks=[payload[:7], payload[7:40], payload[40:]])
    seen: dict[str, Any] = {}

    def list_function(*args: str, **kwargs: Any) -> FakeResponse:
        seen.update(kwargs)
        return response

    events = list(KubernetesSource(list_function).watch("1", 60))
    assert [e["type"] for e in events] == ["ADDED", "BOOKMARK"]
    assert seen["watch"] is True
    assert seen["allow_watch_bookmarks"] is True
    assert seen["resource_version"] == "1"
    assert response.released


def test_kubernetes_source_close_unblocks_the_watch_in_progress() -> None:
    response = FakeResponse(chunks=[b'{"type":"ADDED","object":{"metadata":{"name":"a"}}}\n', b"", b""])
    source = KubernetesSource(lambda *a, **kw: response)
    events = source.watch("1", 60)
    next(events)
    source.close()
    assert response.shut_down
    list(events)
    source.close()  # no watch in progress: nothing to do
    assert response.released


def test_errors_after_stop_end_the_loop_quietly(caplog: pytest.LogCaptureFixture) -> None:
    stop = threading.Event()

    class CutOff(FakeSource):
        def watch(self, resource_version: str, timeout_seconds: int) -> Iterator[dict[str, Any]]:
            stop.set()
            raise ApiError(500)

    informer = Informer(TENANT, CutOff([([], "1")], []), ClusterState([TENANT]), stop=stop)
    informer.run()
    assert "informer.error" not in caplog.text
