"""The applier's decisions: what to decorate, when to write (never when equal, always when drifted), what to prune."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import pytest

from controller.applier import (
    Action,
    Applier,
    ApplyError,
    ApplyReport,
    ChildConflict,
    ChildKey,
    DependencyMissing,
    Remembered,
    apply_waves,
    can_reference,
    change_events,
    child_key,
    decide,
    foreign_owner,
    manifest_hash,
    prepare,
    project,
    prune_candidates,
    semantic_subset,
)
from controller.events import EventRecorder
from controller.metrics import Metrics
from kube.client import ApiError, Discovery, ResourceType
from kube.informer import Informer
from tenancy.labels import HASH_ANNOTATION, INVENTORY_LABEL, MANAGED_BY_LABEL

pytestmark = pytest.mark.unit

PROJECT_RT = ResourceType("paas.kubeop.io", "v1alpha1", "Project", "projects", False)
SHOP_RT = ResourceType("apps.shophub.local", "v1", "Shop", "shops", True)

PROJECT = {"apiVersion": "paas.kubeop.io/v1alpha1", "kind": "Project", "metadata": {"name": "web", "uid": "p-uid"}}
SHOP = {
    "apiVersion": "apps.shophub.local/v1",
    "kind": "Shop",
    "metadata": {"name": "s", "namespace": "ns1", "uid": "s-uid"},
}


def quota(namespace: str = "kubeop-acme-web", **hard: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": "kubeop-quota", "namespace": namespace},
        "spec": {"hard": hard or {"pods": "10", "requests.cpu": "1000m", "requests.memory": "1Gi"}},
    }


def server_rendering(prepared: dict[str, Any]) -> dict[str, Any]:
    """What the API server stores for an applied manifest: defaults, canonical quantities, system fields."""
    live = copy.deepcopy(prepared)
    live["metadata"].update(
        uid="child-uid",
        resourceVersion="42",
        creationTimestamp="2026-01-01T00:00:00Z",
        managedFields=[{"manager": "tenantgate"}],
    )
    live["metadata"]["labels"]["kubernetes.io/metadata.name"] = "x"
    if live["kind"] == "ResourceQuota":
        live["spec"]["hard"]["requests.cpu"] = "1"  # 1000m canonicalised
        live["status"] = {"hard": dict(live["spec"]["hard"]), "used": {"pods": "3"}}
    return live


# ---- prepare -----------------------------------------------------------------------------------------------


def test_prepare_adds_labels_owner_reference_and_hash() -> None:
    prepared = prepare(quota(), PROJECT, owner_namespaced=False, child_namespaced=True)
    labels = prepared["metadata"]["labels"]
    assert labels[MANAGED_BY_LABEL] == "tenantgate"
    assert labels[INVENTORY_LABEL] == "p-uid"
    assert prepared["metadata"]["ownerReferences"] == [
        {
            "apiVersion": "paas.kubeop.io/v1alpha1",
            "kind": "Project",
            "name": "web",
            "uid": "p-uid",
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    assert prepared["metadata"]["annotations"][HASH_ANNOTATION] == manifest_hash(prepared)


def test_prepare_keeps_the_builders_labels_and_does_not_modify_its_input() -> None:
    desired = quota()
    desired["metadata"]["labels"] = {"team": "a"}
    before = copy.deepcopy(desired)
    prepared = prepare(desired, PROJECT, owner_namespaced=False, child_namespaced=True)
    assert prepared["metadata"]["labels"]["team"] == "a"
    assert desired == before


@pytest.mark.parametrize(
    ("owner_ns", "owner_namespaced", "child_ns", "child_namespaced", "allowed"),
    [
        ("", False, "any", True, True),  # cluster-scoped owner -> namespaced child
        ("", False, "", False, True),  # cluster-scoped owner -> cluster-scoped child
        ("ns1", True, "ns1", True, True),  # same namespace
        ("ns1", True, "ns2", True, False),  # cross-namespace: a finalizer's job
        ("ns1", True, "", False, False),  # namespaced owner -> cluster-scoped child
    ],
)
def test_owner_reference_only_where_scope_allows(
    owner_ns: str, owner_namespaced: bool, child_ns: str, child_namespaced: bool, allowed: bool
) -> None:
    assert can_reference(owner_ns, owner_namespaced, child_ns, child_namespaced) is allowed
    child = quota(namespace=child_ns)
    prepared = prepare(
        child,
        SHOP if owner_namespaced else PROJECT,
        owner_namespaced=owner_namespaced,
        child_namespaced=child_namespaced,
    )
    assert ("ownerReferences" in prepared["metadata"]) is allowed


def test_prepare_without_owner_reference_still_labels_the_inventory() -> None:
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kubeop-acme-web"}}
    prepared = prepare(namespace, PROJECT, owner_namespaced=False, child_namespaced=False, set_owner_reference=False)
    assert "ownerReferences" not in prepared["metadata"]
    assert prepared["metadata"]["labels"][INVENTORY_LABEL] == "p-uid"


def test_hash_ignores_key_order_and_its_own_annotation() -> None:
    a = {"kind": "X", "spec": {"a": 1, "b": 2}, "metadata": {"name": "n"}}
    b = {"metadata": {"name": "n", "annotations": {HASH_ANNOTATION: "old"}}, "spec": {"b": 2, "a": 1}, "kind": "X"}
    assert manifest_hash(a) == manifest_hash(b)
    assert manifest_hash(a) != manifest_hash({**a, "spec": {"a": 1, "b": 3}})


def test_hash_is_stable_across_releases_and_leaves_its_argument_alone() -> None:
    # Children already in a cluster carry this digest: a different one for the same manifest would re-apply
    # every child once after an upgrade.
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "web",
            "namespace": "t",
            "labels": {"a": "b"},
            "annotations": {HASH_ANNOTATION: "x", "keep": "y"},
        },
        "spec": {"replicas": 2},
    }
    before = copy.deepcopy(deployment)
    assert manifest_hash(deployment) == "9f513ee378f1ed944f273a758065b1f9"
    assert deployment == before
    assert manifest_hash({"kind": "X", "metadata": {"name": "n", "annotations": {}}}) == manifest_hash(
        {"kind": "X", "metadata": {"name": "n"}}
    )


# ---- decide ------------------------------------------------------------------------------------------------


def prepared_quota(**hard: str) -> dict[str, Any]:
    return prepare(quota(**hard), PROJECT, owner_namespaced=False, child_namespaced=True)


def test_missing_child_is_created() -> None:
    assert decide(prepared_quota(), None, None) is Action.CREATE


def test_no_write_when_live_equals_desired_despite_server_defaults_and_canonical_quantities() -> None:
    prepared = prepared_quota()
    assert decide(prepared, server_rendering(prepared), None) is Action.NONE


def test_no_write_when_others_add_labels_annotations_or_owner_references() -> None:
    prepared = prepared_quota()
    live = server_rendering(prepared)
    live["metadata"]["labels"]["extra"] = "x"
    live["metadata"]["annotations"]["other.io/note"] = "y"
    live["metadata"]["ownerReferences"].append({"uid": "someone-else", "kind": "Thing", "name": "t"})
    assert decide(prepared, live, None) is Action.NONE


def test_update_when_the_desired_state_changed() -> None:
    live = server_rendering(prepared_quota())
    changed = prepared_quota(pods="20", **{"requests.cpu": "1", "requests.memory": "1Gi"})
    assert decide(changed, live, None) is Action.UPDATE


def test_drift_when_a_managed_field_was_edited() -> None:
    prepared = prepared_quota()
    live = server_rendering(prepared)
    live["spec"]["hard"]["pods"] = "100"
    assert decide(prepared, live, None) is Action.DRIFT


def test_drift_when_our_label_was_removed() -> None:
    prepared = prepared_quota()
    live = server_rendering(prepared)
    del live["metadata"]["labels"][INVENTORY_LABEL]
    assert decide(prepared, live, None) is Action.DRIFT


def test_remembered_server_rendering_is_the_reference_after_a_write() -> None:
    prepared = prepared_quota()
    live = server_rendering(prepared)
    live["spec"]["hard"]["weird"] = "normalised-by-server"
    remembered = Remembered(prepared["metadata"]["annotations"][HASH_ANNOTATION], project(live, prepared))
    assert decide(prepared, live, remembered) is Action.NONE
    live["status"] = {"used": {"pods": "9"}}
    live["metadata"]["resourceVersion"] = "43"
    assert decide(prepared, live, remembered) is Action.NONE, "status moving is not drift"
    live["spec"]["hard"]["pods"] = "11"
    assert decide(prepared, live, remembered) is Action.DRIFT


@pytest.mark.parametrize(
    ("desired", "live", "expected"),
    [
        ({"a": "1Gi"}, {"a": "1024Mi"}, True),
        ({"a": "500m"}, {"a": "0.5"}, True),
        ({"a": {}}, {}, True),
        ({"a": []}, {"b": 1}, True),
        ({"a": [1, 2]}, {"a": [1, 2, 3]}, False),
        ({"a": [{"x": 1}]}, {"a": [{"x": 1, "y": "default"}]}, True),
        ({"a": "x"}, {"a": "y"}, False),
        ({"a": 53}, {"a": 53}, True),
        ({"a": 1}, {}, False),
        ({"r": [{"uid": "1", "k": "a"}]}, {"r": [{"uid": "0"}, {"uid": "1", "k": "a", "z": 2}]}, True),
        ({"r": [{"uid": "1", "k": "a"}]}, {"r": [{"uid": "0"}]}, False),
    ],
)
def test_semantic_subset(desired: Any, live: Any, expected: bool) -> None:
    assert semantic_subset(desired, live) is expected


# ---- prune selection ---------------------------------------------------------------------------------------


def live_child(name: str, labels: dict[str, str] | None, deleting: bool = False) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "namespace": "ns"}
    if labels is not None:
        metadata["labels"] = labels
    if deleting:
        metadata["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata}


OURS = {MANAGED_BY_LABEL: "tenantgate", INVENTORY_LABEL: "p-uid"}


def test_prune_selects_only_our_unbuilt_children_of_this_owner() -> None:
    children = [
        live_child("built", OURS),
        live_child("stale", OURS),
        live_child("unlabelled", None),
        live_child("other-owner", {MANAGED_BY_LABEL: "tenantgate", INVENTORY_LABEL: "q-uid"}),
        live_child("inventory-only", {INVENTORY_LABEL: "p-uid"}),
        live_child("managed-by-helm", {MANAGED_BY_LABEL: "Helm", INVENTORY_LABEL: "p-uid"}),
        live_child("already-deleting", OURS, deleting=True),
    ]
    keep = {ChildKey("", "ConfigMap", "ns", "built")}
    chosen = prune_candidates(children, "p-uid", keep)
    assert [c["metadata"]["name"] for c in chosen] == ["stale"]


def test_prune_with_no_owner_uid_selects_nothing() -> None:
    assert prune_candidates([live_child("x", {MANAGED_BY_LABEL: "tenantgate", INVENTORY_LABEL: ""})], "", set()) == []


# ---- the I/O shell, with a recording client ----------------------------------------------------------------


class RecordingClient:
    def __init__(self) -> None:
        self.metrics = Metrics()
        self.applied: list[dict[str, Any]] = []
        self.deleted: list[tuple[str, str, str | None]] = []
        self.events: list[dict[str, Any]] = []

    async def apply(self, rt: ResourceType, body: dict[str, Any], **_: Any) -> dict[str, Any]:
        self.applied.append(body)
        return server_rendering(body)

    async def delete(
        self, rt: ResourceType, name: str, namespace: str = "", uid: str | None = None, propagation: str = "Background"
    ) -> bool:
        self.deleted.append((namespace, name, uid))
        return True

    async def create(self, rt: ResourceType, body: dict[str, Any], **_: Any) -> dict[str, Any]:
        self.events.append(body)
        return body

    async def get(self, rt: ResourceType, name: str, namespace: str = "") -> None:
        raise AssertionError("the applier must read from the cache")

    async def discover(self, api_version: str) -> None:
        return None


def make_applier() -> tuple[Applier, RecordingClient, Informer]:
    client = RecordingClient()
    discovery = Discovery(client)  # type: ignore[arg-type]
    quotas = Informer(
        client,  # type: ignore[arg-type]
        discovery,
        "v1",
        "ResourceQuota",
        label_selector="app.kubernetes.io/managed-by=tenantgate",
    )
    quotas.synced.set()
    events = EventRecorder(client)  # type: ignore[arg-type]
    applier = Applier(client, discovery, lambda rt: quotas if rt.kind == "ResourceQuota" else None, events)  # type: ignore[arg-type]
    return applier, client, quotas


async def test_applier_writes_once_then_nothing_while_in_line() -> None:
    applier, client, _ = make_applier()
    first = await applier.apply(PROJECT, PROJECT_RT, [quota()])
    assert first.created == ["ResourceQuota kubeop-acme-web/kubeop-quota"]
    second = await applier.apply(PROJECT, PROJECT_RT, [quota()])
    assert not second.changed
    assert second.unchanged == 1
    assert len(client.applied) == 1
    assert [e["reason"] for e in client.events] == ["Created"]


async def test_applier_repairs_drift_in_the_cache() -> None:
    applier, client, quotas = make_applier()
    await applier.apply(PROJECT, PROJECT_RT, [quota()])
    drifted = copy.deepcopy(quotas.get("kubeop-acme-web", "kubeop-quota"))
    assert drifted is not None
    drifted["spec"]["hard"]["pods"] = "99"
    drifted["metadata"]["resourceVersion"] = "50"
    quotas.store.upsert(drifted)
    report = await applier.apply(PROJECT, PROJECT_RT, [quota()])
    assert report.updated
    assert len(client.applied) == 2


async def test_applier_prunes_only_this_owners_children() -> None:
    applier, client, quotas = make_applier()
    stale = server_rendering(prepare(quota(namespace="old-ns"), PROJECT, owner_namespaced=False, child_namespaced=True))
    foreign = server_rendering(
        prepare(
            quota(namespace="x"),
            {**PROJECT, "metadata": {"name": "o", "uid": "other"}},
            owner_namespaced=False,
            child_namespaced=True,
        )
    )
    for item in (stale, foreign):
        quotas.store.upsert(item)
    report = await applier.apply(PROJECT, PROJECT_RT, [quota()], prune=[("v1", "ResourceQuota")])
    assert client.deleted == [("old-ns", "kubeop-quota", "child-uid")]
    assert report.deleted == ["ResourceQuota old-ns/kubeop-quota"]


async def test_applier_reports_missing_crds_after_applying_the_rest() -> None:
    applier, client, _ = make_applier()
    monitor = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": {"name": "s", "namespace": "ns1"},
        "spec": {},
    }
    with pytest.raises(DependencyMissing) as missing:
        await applier.apply(PROJECT, PROJECT_RT, [monitor, quota()])
    assert missing.value.crds == ["servicemonitors.monitoring.coreos.com"]
    assert "servicemonitors.monitoring.coreos.com" in str(missing.value)
    assert len(client.applied) == 1, "the served child is still applied"


def test_child_key_ignores_the_version() -> None:
    a = {"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "h", "namespace": "n"}}
    b = {**a, "apiVersion": "autoscaling/v2"}
    assert child_key(a) == child_key(b)


def test_api_error_flags() -> None:
    assert ApiError(404, "NotFound", "x").not_found
    assert ApiError(409, "Conflict", "x").conflict
    assert ApiError(410, "Gone", "x").gone


# ---- ownership conflicts -----------------------------------------------------------------------------------


def test_foreign_controller_reference_is_a_conflict() -> None:
    live = {"metadata": {"ownerReferences": [{"uid": "other", "controller": True}]}}
    assert foreign_owner(live, "p-uid", lambda _: False) == "other"
    ours = {"metadata": {"ownerReferences": [{"uid": "p-uid", "controller": True}, {"uid": "x"}]}}
    assert foreign_owner(ours, "p-uid", lambda _: True) is None


def test_another_live_owners_inventory_is_a_conflict_a_dead_ones_is_adopted() -> None:
    live = {"metadata": {"labels": {MANAGED_BY_LABEL: "tenantgate", INVENTORY_LABEL: "q-uid"}}}
    assert foreign_owner(live, "p-uid", lambda uid: uid == "q-uid") == "q-uid"
    assert foreign_owner(live, "p-uid", lambda _: False) is None
    assert foreign_owner({"metadata": {"labels": {INVENTORY_LABEL: "q-uid"}}}, "p-uid", lambda _: True) is None


async def test_applier_leaves_a_child_of_another_owner_alone() -> None:
    applier, client, quotas = make_applier()
    other = {**PROJECT, "metadata": {"name": "other", "uid": "q-uid"}}
    quotas.store.upsert(server_rendering(prepare(quota(), other, owner_namespaced=False, child_namespaced=True)))
    with pytest.raises(ApplyError) as failed:
        await applier.apply(PROJECT, PROJECT_RT, [quota()])
    assert isinstance(failed.value.failures[0][1], ChildConflict)
    assert client.applied == []
    assert [e["reason"] for e in client.events] == ["ChildConflict"]


async def test_one_event_per_kind_of_change_however_many_children_a_pass_writes() -> None:
    applier, client, quotas = make_applier()
    desired = [quota(), quota("kubeop-acme-api"), quota("kubeop-acme-db")]
    report = await applier.apply(PROJECT, PROJECT_RT, desired)
    assert len(report.created) == 3
    assert [(e["reason"], e["note"]) for e in client.events] == [
        (
            "Created",
            "Created ResourceQuota kubeop-acme-web/kubeop-quota, ResourceQuota kubeop-acme-api/kubeop-quota, "
            "ResourceQuota kubeop-acme-db/kubeop-quota",
        )
    ]
    for obj in client.applied:
        quotas.write_through(server_rendering(obj))
    await applier.apply(PROJECT, PROJECT_RT, desired)
    assert len(client.events) == 1, "a pass that changes nothing records nothing"


def test_change_events_name_each_change_once() -> None:
    report = ApplyReport(
        created=["ConfigMap ns/a"],
        updated=["ConfigMap ns/b", "ConfigMap ns/c"],
        repaired=["ConfigMap ns/c"],
        deleted=["ConfigMap ns/d", "ConfigMap ns/e"],
    )
    assert change_events(report) == [
        ("Created", "Created ConfigMap ns/a", "Create"),
        ("Updated", "Updated ConfigMap ns/b", "Update"),
        ("Updated", "Repaired drift in ConfigMap ns/c", "Update"),
        ("Deleted", "Deleted ConfigMap ns/d, ConfigMap ns/e, which are no longer wanted", "Delete"),
    ]
    assert change_events(ApplyReport(deleted=["ConfigMap ns/d"]))[0][1].endswith("which is no longer wanted")
    assert change_events(ApplyReport(unchanged=3)) == []


def test_apply_waves_put_namespaces_first_and_keep_order_otherwise() -> None:
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kubeop-acme-web"}}
    children = [namespace, quota(), quota("kubeop-acme-api")]
    assert apply_waves(children, concurrently=False) == [[child] for child in children]
    assert apply_waves(children, concurrently=True) == [[namespace], children[1:]]
    assert apply_waves(children[1:], concurrently=True) == [children[1:]]
    assert apply_waves([], concurrently=True) == []


class SlowClient(RecordingClient):
    """Answers the first child last, and records how many applies were in flight at once."""

    def __init__(self) -> None:
        super().__init__()
        self.in_flight = 0
        self.most_in_flight = 0
        self.order: list[str] = []

    async def get(self, rt: ResourceType, name: str, namespace: str = "") -> None:
        return None  # no cache for these kinds here: nothing exists yet

    async def apply(self, rt: ResourceType, body: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        name = f"{body['kind']} {body['metadata'].get('namespace', '')}"
        delay = {"Namespace": 0.03, "ResourceQuota kubeop-acme-web": 0.02}.get(name.strip(), 0.0)
        await asyncio.sleep(delay)
        self.in_flight -= 1
        self.order.append(name.strip())
        return await super().apply(rt, body, **kwargs)


async def test_a_concurrent_pass_applies_the_namespace_then_the_rest_at_once_and_reports_in_order() -> None:
    client = SlowClient()
    discovery = Discovery(client)  # type: ignore[arg-type]
    applier = Applier(client, discovery, lambda rt: None, EventRecorder(client))  # type: ignore[arg-type]
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kubeop-acme-web"}}
    desired = [namespace, quota(), quota("kubeop-acme-api"), quota("kubeop-acme-db")]
    report = await applier.apply(PROJECT, PROJECT_RT, desired, concurrently=True)
    assert client.order[0] == "Namespace", "children wait for the namespace they live in"
    assert client.order[-1] == "ResourceQuota kubeop-acme-web", "the slowest answer came last"
    assert client.most_in_flight == 3
    assert report.created == [
        "Namespace kubeop-acme-web",
        "ResourceQuota kubeop-acme-web/kubeop-quota",
        "ResourceQuota kubeop-acme-api/kubeop-quota",
        "ResourceQuota kubeop-acme-db/kubeop-quota",
    ], "reported in the order the builder gave, not the order of the answers"
    assert len(client.events) == 1


async def test_an_unexpected_error_in_a_concurrent_pass_ends_it_after_the_others_finished() -> None:
    class FailingClient(SlowClient):
        async def apply(self, rt: ResourceType, body: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
            if body["metadata"].get("namespace") == "kubeop-acme-api":
                raise TimeoutError("slow API server")
            return await super().apply(rt, body, **kwargs)

    client = FailingClient()
    applier = Applier(client, Discovery(client), lambda rt: None, EventRecorder(client))  # type: ignore[arg-type]
    desired = [quota(), quota("kubeop-acme-api"), quota("kubeop-acme-db")]
    with pytest.raises(TimeoutError):
        await applier.apply(PROJECT, PROJECT_RT, desired, concurrently=True)
    assert sorted(client.order) == ["ResourceQuota kubeop-acme-db", "ResourceQuota kubeop-acme-web"]
    assert client.events == [], "no Event for a pass that did not finish"
