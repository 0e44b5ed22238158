"""The cache and the informer: indexes, change reporting, watch events, bookmarks and relist on 410 Gone."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from controller.metrics import Metrics
from kube.client import NAMESPACES, Discovery, ResourceType
from kube.informer import Informer, Outcome, apply_watch_event, selector_matches
from kube.store import BY_NAMESPACE, BY_OWNER_UID, BY_UID, Store, field_index, label_index
from tenancy.labels import INVENTORY_LABEL

pytestmark = pytest.mark.unit


def obj(
    name: str,
    rv: str,
    namespace: str = "",
    uid: str = "",
    labels: dict[str, str] | None = None,
    owners: list[str] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "resourceVersion": rv, "uid": uid or f"uid-{name}"}
    if namespace:
        metadata["namespace"] = namespace
    if labels:
        metadata["labels"] = labels
    if owners:
        metadata["ownerReferences"] = [{"uid": u, "kind": "Project", "name": "p", "apiVersion": "x/v1"} for u in owners]
    return {"apiVersion": "v1", "kind": "Thing", "metadata": metadata, **extra}


def test_upsert_reports_add_update_and_ignores_same_version() -> None:
    store = Store(INVENTORY_LABEL)
    added = store.upsert(obj("a", "1", "ns"))
    assert added is not None
    assert added.kind == "ADDED"
    assert added.key == "ns/a"
    assert store.upsert(obj("a", "1", "ns")) is None
    updated = store.upsert(obj("a", "2", "ns"))
    assert updated is not None
    assert updated.kind == "MODIFIED"
    assert updated.old is not None
    assert updated.old["metadata"]["resourceVersion"] == "1"


def test_older_version_never_replaces_a_newer_one() -> None:
    store = Store(INVENTORY_LABEL)
    store.upsert(obj("a", "10"))
    assert store.upsert(obj("a", "9")) is None
    assert store.get("a") is not None
    assert store.get("a")["metadata"]["resourceVersion"] == "10"


def test_late_answer_of_a_write_cannot_resurrect_a_deleted_object() -> None:
    store = Store(INVENTORY_LABEL)
    store.upsert(obj("p", "340", finalizers=["x"]))
    store.delete("p", "345")  # DELETED event, version of the deletion
    assert store.upsert(obj("p", "340"), replace_equal=True) is None
    assert store.get("p") is None
    recreated = store.upsert(obj("p", "400", uid="new"))
    assert recreated is not None
    assert recreated.kind == "ADDED"


def test_same_version_with_new_content_replaces_only_when_asked() -> None:
    store = Store(INVENTORY_LABEL)
    store.upsert(obj("p", "7", spec={"finalizers": ["x"]}))
    assert store.upsert(obj("p", "7", spec={})) is None
    change = store.upsert(obj("p", "7", spec={}), replace_equal=True)
    assert change is not None
    assert store.get("p") == obj("p", "7", spec={})


def test_builtin_indexes_namespace_owner_and_uid() -> None:
    store = Store(INVENTORY_LABEL)
    store.upsert(obj("a", "1", "ns1", owners=["o1"]))
    store.upsert(obj("b", "1", "ns1", labels={INVENTORY_LABEL: "o2"}))
    store.upsert(obj("c", "1", "ns2", uid="u-c"))
    assert store.index_keys(BY_NAMESPACE, "ns1") == ["ns1/a", "ns1/b"]
    assert store.index_keys(BY_OWNER_UID, "o1") == ["ns1/a"]
    assert store.index_keys(BY_OWNER_UID, "o2") == ["ns1/b"], "the inventory label counts as ownership"
    assert store.index_keys(BY_UID, "u-c") == ["ns2/c"]


def test_indexes_follow_updates_and_deletes() -> None:
    store = Store(INVENTORY_LABEL)
    store.add_index("team", label_index("team"))
    store.upsert(obj("a", "1", labels={"team": "x"}))
    store.upsert(obj("a", "2", labels={"team": "y"}))
    assert store.index_keys("team", "x") == []
    assert store.index_keys("team", "y") == ["a"]
    change = store.delete("a")
    assert change is not None
    assert change.kind == "DELETED"
    assert store.index_keys("team", "y") == []
    assert store.delete("a") is None


def test_index_added_late_covers_existing_objects() -> None:
    store = Store(INVENTORY_LABEL)
    store.upsert(obj("p", "1", spec={"tenantRef": "acme"}))
    store.add_index("tenant", field_index("spec", "tenantRef"))
    assert store.index_keys("tenant", "acme") == ["p"]


def test_replace_reports_deletions_updates_and_additions() -> None:
    store = Store(INVENTORY_LABEL)
    store.upsert(obj("keep", "1"))
    store.upsert(obj("change", "1"))
    store.upsert(obj("gone", "1"))
    changes = store.replace([obj("keep", "1"), obj("change", "2"), obj("new", "1")])
    assert sorted((c.key, c.kind) for c in changes) == [("change", "MODIFIED"), ("gone", "DELETED"), ("new", "ADDED")]
    assert sorted(store.all_keys()) == ["change", "keep", "new"]


@pytest.mark.parametrize(
    ("event", "outcome", "rv"),
    [
        ({"type": "ADDED", "object": obj("a", "5")}, Outcome.CONTINUE, "5"),
        ({"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "77"}}}, Outcome.CONTINUE, "77"),
        ({"type": "ERROR", "object": {"kind": "Status", "code": 410, "reason": "Expired"}}, Outcome.RELIST, None),
        ({"type": "ERROR", "object": {"kind": "Status", "code": 500}}, Outcome.RESTART, None),
        ({"type": "ADDED"}, Outcome.RESTART, None),
    ],
)
def test_watch_event_outcomes(event: dict[str, Any], outcome: Outcome, rv: str | None) -> None:
    got_outcome, got_rv, _ = apply_watch_event(Store(), event)
    assert got_outcome is outcome
    assert got_rv == rv


def test_watch_events_apply_to_the_store() -> None:
    store = Store(INVENTORY_LABEL)
    apply_watch_event(store, {"type": "ADDED", "object": obj("a", "1", "ns")})
    _, _, change = apply_watch_event(store, {"type": "MODIFIED", "object": obj("a", "2", "ns")})
    assert change is not None
    assert change.kind == "MODIFIED"
    _, _, change = apply_watch_event(store, {"type": "DELETED", "object": obj("a", "3", "ns")})
    assert change is not None
    assert change.kind == "DELETED"
    assert len(store) == 0
    _, _, change = apply_watch_event(store, {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "9"}}})
    assert change is None


@pytest.mark.parametrize(
    ("selector", "labels", "matches"),
    [
        ("app.kubernetes.io/managed-by=tenantgate", {"app.kubernetes.io/managed-by": "tenantgate"}, True),
        ("app.kubernetes.io/managed-by=tenantgate", {"app.kubernetes.io/managed-by": "helm"}, False),
        ("a==b", {"a": "b"}, True),
        ("a!=b", {"a": "c"}, True),
        ("a!=b", {"a": "b"}, False),
        ("app.kubeop.io/tenant", {"app.kubeop.io/tenant": "acme"}, True),
        ("app.kubeop.io/tenant", {}, False),
        ("!a", {}, True),
        ("!a", {"a": "1"}, False),
        ("a=1,b=2", {"a": "1", "b": "2"}, True),
        ("a=1,b=2", {"a": "1"}, False),
        (None, {}, True),
    ],
)
def test_label_selector_matching(selector: str | None, labels: dict[str, str], matches: bool) -> None:
    assert selector_matches(selector, labels) is matches


class ScriptedClient:
    """Lists and watch streams played from a script; a watch past the script blocks like an idle stream."""

    def __init__(self, lists: list[tuple[list[dict[str, Any]], str]], watches: list[list[dict[str, Any]]]) -> None:
        self.metrics = Metrics()
        self.lists = lists
        self.watches = watches
        self.watch_versions: list[str] = []

    async def list(
        self,
        rt: ResourceType,
        namespace: str = "",
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> tuple[list[dict[str, Any]], str]:
        return self.lists.pop(0)

    async def watch(
        self,
        rt: ResourceType,
        resource_version: str,
        namespace: str = "",
        label_selector: str | None = None,
        field_selector: str | None = None,
        timeout_seconds: int = 300,
    ) -> AsyncIterator[dict[str, Any]]:
        self.watch_versions.append(resource_version)
        if not self.watches:
            await asyncio.sleep(3600)
        for event in self.watches.pop(0):
            yield event


async def run_until(informer: Informer, condition: Any, seconds: float = 2.0) -> None:
    """Run the informer until `condition()` holds (polled: the informer has no event for every state)."""
    task = informer.start()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    try:
        while not condition() and loop.time() < deadline:  # noqa: ASYNC110 - polling a plain predicate
            await asyncio.sleep(0.005)
    finally:
        await informer.stop()
    assert condition()
    assert task.done()


async def test_informer_lists_watches_resumes_from_bookmark_and_relists_on_410() -> None:
    client = ScriptedClient(
        lists=[([obj("a", "1"), obj("b", "2")], "10"), ([obj("b", "30"), obj("c", "31")], "40")],
        watches=[
            [
                {"type": "ADDED", "object": obj("d", "11")},
                {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "20"}}},
            ],
            [{"type": "ERROR", "object": {"kind": "Status", "code": 410}}],
        ],
    )
    informer = Informer(client, Discovery(client), NAMESPACES.api_version, NAMESPACES.kind)  # type: ignore[arg-type]
    seen: list[tuple[str, str]] = []
    informer.add_handler(lambda change: seen.append((change.key, change.kind)))
    await run_until(informer, lambda: len(client.watch_versions) >= 3)
    assert client.watch_versions == ["10", "20", "40"], "resume from the bookmark, then from the relist"
    assert sorted(informer.store.all_keys()) == ["b", "c"]
    assert ("a", "DELETED") in seen
    assert ("d", "DELETED") in seen
    assert ("c", "ADDED") in seen
    assert ("b", "MODIFIED") in seen
    assert informer.synced.is_set()
    assert client.metrics.watch_restarts.get(informer.name, "expired") == 1
    assert client.metrics.relists.get(informer.name) == 2


async def test_informer_write_through_respects_its_selector() -> None:
    client = ScriptedClient(lists=[], watches=[])
    informer = Informer(
        client,
        Discovery(client),
        NAMESPACES.api_version,
        NAMESPACES.kind,  # type: ignore[arg-type]
        label_selector="app.kubernetes.io/managed-by=tenantgate",
    )
    informer.write_through(obj("mine", "1", labels={"app.kubernetes.io/managed-by": "tenantgate"}))
    informer.write_through(obj("theirs", "1"))
    assert informer.store.all_keys() == ["mine"]


async def test_informer_of_a_kind_not_served_is_ready_and_empty() -> None:
    class NoCrd(ScriptedClient):
        async def discover(self, api_version: str) -> None:
            return None

    client = NoCrd(lists=[], watches=[])
    informer = Informer(
        client,
        Discovery(client),
        "monitoring.coreos.com/v1",
        "ServiceMonitor",  # type: ignore[arg-type]
        rediscovery_interval=3600,
    )
    await run_until(informer, lambda: informer.served is False)
    assert informer.ready
    assert not informer.synced.is_set()


async def test_a_transformed_informer_caches_trimmed_objects_from_lists_and_watches() -> None:
    def trimmed(o: dict[str, Any]) -> dict[str, Any]:
        return {"metadata": {k: o["metadata"][k] for k in ("name", "resourceVersion")}, "kept": True}

    client = ScriptedClient(
        lists=[([obj("a", "1", labels={"x": "y"})], "10")],
        watches=[[{"type": "ADDED", "object": obj("b", "11", labels={"x": "y"})}]],
    )
    informer = Informer(
        client,  # type: ignore[arg-type]
        Discovery(client),  # type: ignore[arg-type]
        NAMESPACES.api_version,
        NAMESPACES.kind,
        transform=trimmed,
    )
    await run_until(informer, lambda: len(informer.store) == 2)
    for key in ("a", "b"):
        stored = informer.store.get(key)
        assert stored is not None
        assert stored["kept"] is True
        assert "labels" not in stored["metadata"]


def test_a_transformed_informer_never_stands_for_the_whole_kind() -> None:
    from controller.config import ManagerConfig
    from controller.manager import Manager
    from kube.client import Connection

    manager = Manager(ManagerConfig(health_port=None), Connection("http://127.0.0.1:1", False))
    manager.informer("v1", "Pod", transform=lambda o: o)
    with pytest.raises(KeyError):
        manager.informer_of("v1", "Pod")


def with_managed_fields(name: str, rv: str) -> dict[str, Any]:
    found = obj(name, rv)
    found["metadata"]["managedFields"] = [{"manager": "tenantgate", "operation": "Apply", "fieldsV1": {"f:spec": {}}}]
    return found


async def test_informer_caches_no_managed_fields_from_lists_watches_or_its_own_writes() -> None:
    client = ScriptedClient(
        lists=[([with_managed_fields("a", "1")], "10")],
        watches=[[{"type": "ADDED", "object": with_managed_fields("b", "11")}]],
    )
    informer = Informer(client, Discovery(client), NAMESPACES.api_version, NAMESPACES.kind)  # type: ignore[arg-type]
    await run_until(informer, lambda: len(informer.store) == 2)
    informer.write_through(with_managed_fields("c", "12"))
    cached = [informer.store.get(key) for key in ("a", "b", "c")]
    assert [o["metadata"]["name"] for o in cached if o] == ["a", "b", "c"]
    assert all("managedFields" not in o["metadata"] for o in cached if o)
