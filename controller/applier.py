"""Applies a reconciler's desired children and prunes the ones it no longer builds.

A builder returns plain manifests; the applier decorates each one (managed-by and owner-inventory labels, a
controller ownerReference where scope allows, a hash annotation), compares it with the cached live object, and
writes with server-side apply (`fieldManager: tenantgate`, `force`) only when something differs:

- **Desired changed**: the hash annotation on the live object is not the hash of what we would apply now.
- **Drift**: someone edited a field we manage. Checked as "the live object still says what we sent", where
  "what we sent" is the server's own rendering of our last apply (remembered per child), so quantities it
  canonicalised (`1000m` -> `1`) and fields it defaulted never look like drift. Before a first apply in this
  process (after a restart) a semantic subset comparison stands in, with quantity-aware equality.

Pruning deletes only objects that carry our managed-by label **and** this owner's inventory label, and that
this pass did not build; nothing else is ever touched.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import json
import logging
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from controller.events import EventRecorder
from controller.logs import fields
from kube.client import ApiError, Discovery, KubeClient, NotServed, ResourceType
from kube.informer import Informer
from kube.objects import (
    Obj,
    annotations_of,
    group_of,
    is_deleting,
    labels_of,
    name_of,
    namespace_of,
    object_key,
    owner_references_of,
    uid_of,
)
from kube.quantity import quantities_equal
from kube.store import BY_OWNER_UID
from tenancy.labels import HASH_ANNOTATION, INVENTORY_LABEL, MANAGED_BY_LABEL, MANAGED_BY_VALUE

log = logging.getLogger(__name__)


class DependencyMissing(Exception):
    """A child's kind is not served by the API server: its (third-party) CRD is not installed."""

    def __init__(self, crds: Sequence[str]) -> None:
        self.crds = sorted(set(crds))
        names = ", ".join(self.crds)
        super().__init__(f"CustomResourceDefinition {names} is not installed; children of that kind are skipped")


class ChildConflict(Exception):
    """The child exists and belongs to another owner: taking it over would start a tug of war."""

    def __init__(self, key: ChildKey, other_uid: str) -> None:
        super().__init__(f"{key} already belongs to another owner (uid {other_uid}); not taking it over")
        self.key = key
        self.other_uid = other_uid


class ApplyError(Exception):
    """One or more children could not be applied or pruned; the others were."""

    def __init__(self, failures: Sequence[tuple[str, Exception]]) -> None:
        self.failures = list(failures)
        super().__init__("; ".join(f"{what}: {error}" for what, error in self.failures))


@dataclass(frozen=True, order=True)
class ChildKey:
    group: str
    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        where = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{self.kind} {where}"


def child_key(obj: Mapping[str, Any]) -> ChildKey:
    return ChildKey(group_of(str(obj.get("apiVersion", ""))), str(obj.get("kind", "")), namespace_of(obj), name_of(obj))


def owner_reference(owner: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": owner.get("apiVersion", ""),
        "kind": owner.get("kind", ""),
        "name": name_of(owner),
        "uid": uid_of(owner),
        "controller": True,
        "blockOwnerDeletion": True,
    }


def can_reference(owner_namespace: str, owner_namespaced: bool, child_namespace: str, child_namespaced: bool) -> bool:
    """Whether the garbage collector honours an ownerReference from the child to the owner.

    A namespaced owner can only own namespaced children in its own namespace; a cluster-scoped owner can own
    anything. Anything else needs a finalizer for cleanup instead.
    """
    if not owner_namespaced:
        return True
    return child_namespaced and child_namespace == owner_namespace


def manifest_hash(obj: Mapping[str, Any]) -> str:
    """A stable digest of a manifest (key order does not matter), without our own hash annotation."""
    # Copies only the two levels it changes: a deep copy of every child on every pass cost more than the digest.
    stripped = dict(obj)
    metadata = stripped.get("metadata")
    if isinstance(metadata, Mapping) and isinstance(metadata.get("annotations"), Mapping):
        annotations = {k: v for k, v in metadata["annotations"].items() if k != HASH_ANNOTATION}
        stripped["metadata"] = {k: v for k, v in metadata.items() if k != "annotations"}
        if annotations:
            stripped["metadata"]["annotations"] = annotations
    encoded = json.dumps(stripped, sort_keys=True, separators=(",", ":"), default=str).encode()
    return hashlib.sha256(encoded).hexdigest()[:32]


def prepare(
    desired: Mapping[str, Any],
    owner: Mapping[str, Any],
    *,
    owner_namespaced: bool,
    child_namespaced: bool,
    set_owner_reference: bool = True,
) -> Obj:
    """The manifest to apply: `desired` plus labels, ownerReference (when scope allows) and the hash annotation."""
    obj: Obj = copy.deepcopy(dict(desired))
    metadata = obj.setdefault("metadata", {})
    labels = metadata.setdefault("labels", {})
    labels[MANAGED_BY_LABEL] = MANAGED_BY_VALUE
    labels[INVENTORY_LABEL] = uid_of(owner)
    if set_owner_reference and can_reference(
        namespace_of(owner), owner_namespaced, namespace_of(obj), child_namespaced
    ):
        metadata["ownerReferences"] = [owner_reference(owner)]
    if not child_namespaced:
        metadata.pop("namespace", None)
    metadata.setdefault("annotations", {})[HASH_ANNOTATION] = manifest_hash(obj)
    return obj


def _empty(value: Any) -> bool:
    return value is None or value == {} or value == []


def semantic_subset(desired: Any, live: Any) -> bool:
    """Whether `live` says everything `desired` says (it may say more: defaults, others' fields).

    Dicts: every desired key matches (an empty desired value also matches an absent one, as the server drops
    empty fields). Lists: same length, element by element, except lists of uid-keyed entries (ownerReferences),
    where each desired entry must be present. Scalars: equal, or equal as quantities.
    """
    if isinstance(desired, Mapping):
        if _empty(desired) and _empty(live):
            return True
        if not isinstance(live, Mapping):
            return False
        return all(
            (_empty(value) and _empty(live.get(key))) or (key in live and semantic_subset(value, live[key]))
            for key, value in desired.items()
        )
    if isinstance(desired, list):
        if _empty(desired) and _empty(live):
            return True
        if not isinstance(live, list):
            return False
        if desired and all(isinstance(d, Mapping) and "uid" in d for d in desired):
            by_uid = {item.get("uid"): item for item in live if isinstance(item, Mapping)}
            return all(semantic_subset(d, by_uid.get(d["uid"])) for d in desired)
        return len(desired) == len(live) and all(semantic_subset(d, v) for d, v in zip(desired, live, strict=True))
    if desired == live:
        return True
    return quantities_equal(desired, live)


def project(live: Any, shape: Any) -> Any:
    """The part of `live` that `shape` speaks about: same keys, same list positions (uid-keyed lists by uid)."""
    if isinstance(shape, Mapping):
        if not isinstance(live, Mapping):
            return live
        return {key: project(live.get(key), value) for key, value in shape.items()}
    if isinstance(shape, list):
        if not isinstance(live, list):
            return live
        if shape and all(isinstance(s, Mapping) and "uid" in s for s in shape):
            by_uid = {item.get("uid"): item for item in live if isinstance(item, Mapping)}
            return [project(by_uid.get(s["uid"]), s) for s in shape]
        if len(live) != len(shape):
            return live
        return [project(item, s) for item, s in zip(live, shape, strict=True)]
    return live


@dataclass(frozen=True)
class Remembered:
    """The server's rendering of our last apply of one child, projected on the fields we sent."""

    hash: str
    projection: Any


class Action(Enum):
    NONE = "none"
    CREATE = "create"
    UPDATE = "update"
    DRIFT = "drift"


def decide(prepared: Mapping[str, Any], live: Mapping[str, Any] | None, remembered: Remembered | None) -> Action:
    """Whether (and why) to apply `prepared` given the cached `live` object. Pure: the zero-write steady state."""
    if live is None:
        return Action.CREATE
    wanted_hash = annotations_of(prepared).get(HASH_ANNOTATION)
    if annotations_of(live).get(HASH_ANNOTATION) != wanted_hash:
        return Action.UPDATE
    if remembered is not None and remembered.hash == wanted_hash:
        return Action.NONE if project(live, prepared) == remembered.projection else Action.DRIFT
    return Action.NONE if semantic_subset(prepared, live) else Action.DRIFT


def foreign_owner(live: Mapping[str, Any], owner_uid: str, owner_alive: Callable[[str], bool]) -> str | None:
    """The uid of another owner that controls `live`, if any. Pure.

    Another controller ownerReference always counts (the garbage collector will remove the child when that
    owner goes, and we recreate it then). Another tenantgate inventory label counts while `owner_alive(uid)`
    says that owner still exists; a child whose owner is gone is adopted.
    """
    for reference in owner_references_of(live):
        if reference.get("controller") is True and reference.get("uid") and reference.get("uid") != owner_uid:
            return str(reference["uid"])
    labels = labels_of(live)
    inventory = labels.get(INVENTORY_LABEL)
    if inventory and inventory != owner_uid and labels.get(MANAGED_BY_LABEL) == MANAGED_BY_VALUE:
        return inventory if owner_alive(inventory) else None
    return None


def prune_candidates(live: Iterable[Mapping[str, Any]], owner_uid: str, keep: set[ChildKey]) -> list[Mapping[str, Any]]:
    """Objects to delete: ours (managed-by), built by this owner (inventory label), not built this pass."""
    if not owner_uid:
        return []
    chosen = []
    for obj in live:
        labels = labels_of(obj)
        if labels.get(MANAGED_BY_LABEL) != MANAGED_BY_VALUE or labels.get(INVENTORY_LABEL) != owner_uid:
            continue
        if child_key(obj) in keep or is_deleting(obj):
            continue
        chosen.append(obj)
    return sorted(chosen, key=child_key)


@dataclass
class ApplyReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    """Every child written again, `repaired` ones included."""
    deleted: list[str] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)
    """Children written again because someone changed a field we manage (drift), not because we changed."""
    unchanged: int = 0
    applied: dict[ChildKey, Obj] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.deleted)

    def merge(self, other: ApplyReport) -> None:
        self.created += other.created
        self.updated += other.updated
        self.deleted += other.deleted
        self.repaired += other.repaired
        self.unchanged += other.unchanged
        self.applied.update(other.applied)


@dataclass
class ChildOutcome:
    """What applying one child came to: its part of the report, or why it was not applied."""

    report: ApplyReport = field(default_factory=ApplyReport)
    missing_crd: str = ""
    failure: tuple[str, Exception] | None = None
    warning: tuple[str, str] = ("", "")


def apply_waves(desired: Sequence[Obj], concurrently: bool) -> list[list[Obj]]:
    """The groups a pass applies one after the other, each group at once: every child alone, in order; or, when
    the children do not depend on each other, the Namespaces (the others may live in them) and then the rest. Pure."""
    if not concurrently:
        return [[manifest] for manifest in desired]
    namespaces = [manifest for manifest in desired if manifest.get("kind") == "Namespace"]
    others = [manifest for manifest in desired if manifest.get("kind") != "Namespace"]
    return [wave for wave in (namespaces, others) if wave]


def change_events(report: ApplyReport) -> list[tuple[str, str, str]]:
    """(reason, note, action) of the Events one apply pass records: one per kind of change, naming every child
    it concerns, so a pass that creates three children writes one Event, not three. Pure."""
    updated = [key for key in report.updated if key not in report.repaired]
    found = [
        ("Created", f"Created {', '.join(report.created)}", "Create") if report.created else None,
        ("Updated", f"Updated {', '.join(updated)}", "Update") if updated else None,
        ("Updated", f"Repaired drift in {', '.join(report.repaired)}", "Update") if report.repaired else None,
        (
            ("Deleted", f"Deleted {', '.join(report.deleted)}, which {_are(report.deleted)} no longer wanted", "Delete")
            if report.deleted
            else None
        ),
    ]
    return [event for event in found if event is not None]


def _are(keys: Sequence[str]) -> str:
    return "is" if len(keys) == 1 else "are"


InformerLookup = Callable[[ResourceType], Informer | None]


class Applier:
    """The I/O shell around `prepare`/`decide`/`prune_candidates`: reads the caches, writes, records Events."""

    def __init__(
        self, client: KubeClient, discovery: Discovery, informers: InformerLookup, events: EventRecorder
    ) -> None:
        self._client = client
        self._discovery = discovery
        self._informers = informers
        self._events = events
        self._memory: dict[ChildKey, Remembered] = {}

    async def apply(
        self,
        owner: Obj,
        owner_rt: ResourceType,
        desired: Sequence[Obj],
        *,
        prune: Sequence[tuple[str, str]] = (),
        set_owner_references: bool = True,
        without_owner_reference: Collection[str] = (),
        owner_alive: Callable[[str], bool] = lambda _: False,
        concurrently: bool = False,
    ) -> ApplyReport:
        """Make the children of `owner` match `desired`; prune its other children of the (apiVersion, kind)s
        in `prune`. Kinds in `without_owner_reference` get no ownerReference (their cleanup is a finalizer's).
        A child controlled by another owner (see `foreign_owner`; `owner_alive` tells whether the owner named
        by another inventory label still exists) is left alone and reported as a failure.
        Children are applied in order; with `concurrently`, Namespaces first and then all the others at once
        (for children that do not depend on each other: a pass waits for one round trip instead of one each).
        Raises `DependencyMissing` (after doing everything else) when a kind is not served."""
        report = ApplyReport()
        missing: list[str] = []
        failures: list[tuple[str, Exception]] = []
        keep = {child_key(manifest) for manifest in desired}

        async def one(manifest: Obj) -> ChildOutcome:
            return await self._apply_manifest(
                owner, owner_rt, manifest, set_owner_references, without_owner_reference, owner_alive
            )

        outcomes: list[ChildOutcome] = []
        for wave in apply_waves(desired, concurrently):
            if len(wave) == 1:
                outcomes.append(await one(wave[0]))
                continue
            # Every child of the wave finishes before an unexpected error (a timeout, say) ends the pass.
            answers = await asyncio.gather(*(one(manifest) for manifest in wave), return_exceptions=True)
            for answer in answers:
                if isinstance(answer, BaseException):
                    raise answer
            outcomes += [answer for answer in answers if isinstance(answer, ChildOutcome)]
        for outcome in outcomes:  # in the order of `desired`, whatever order the answers came in
            report.merge(outcome.report)
            if outcome.missing_crd:
                missing.append(outcome.missing_crd)
            if outcome.failure is not None:
                failures.append(outcome.failure)
                await self._events.warning(owner, *outcome.warning)
        for api_version, kind in prune:
            try:
                rt = await self._discovery.resolve(api_version, kind)
            except NotServed:
                continue
            failures.extend(await self._prune(owner, rt, keep, report))
        for reason, note, action in change_events(report):
            await self._events.normal(owner, reason, note, action)
        if failures:
            raise ApplyError(failures)
        if missing:
            raise DependencyMissing(missing)
        return report

    async def _apply_manifest(
        self,
        owner: Obj,
        owner_rt: ResourceType,
        manifest: Obj,
        set_owner_references: bool,
        without_owner_reference: Collection[str],
        owner_alive: Callable[[str], bool],
    ) -> ChildOutcome:
        outcome = ChildOutcome()
        api_version, kind = str(manifest.get("apiVersion", "")), str(manifest.get("kind", ""))
        try:
            rt = await self._discovery.resolve(api_version, kind)
        except NotServed as error:
            outcome.missing_crd = error.crd_name
            return outcome
        prepared = prepare(
            manifest,
            owner,
            owner_namespaced=owner_rt.namespaced,
            child_namespaced=rt.namespaced,
            set_owner_reference=set_owner_references and kind not in without_owner_reference,
        )
        try:
            await self._apply_one(owner, rt, prepared, outcome.report, owner_alive)
        except ChildConflict as conflict:
            outcome.failure = (str(conflict.key), conflict)
            outcome.warning = ("ChildConflict", str(conflict))
        except ApiError as error:
            if error.not_found:
                self._discovery.invalidate(api_version)  # the kind may have gone away (CRD deleted)
            outcome.failure = (str(child_key(prepared)), error)
            outcome.warning = ("ApplyFailed", f"Could not apply {child_key(prepared)}: {error}")
        return outcome

    async def _live(self, rt: ResourceType, prepared: Obj) -> Obj | None:
        informer = self._informers(rt)
        if informer is not None and informer.synced.is_set():
            return informer.get(namespace_of(prepared), name_of(prepared))
        return await self._client.get(rt, name_of(prepared), namespace_of(prepared))

    async def _apply_one(
        self, owner: Obj, rt: ResourceType, prepared: Obj, report: ApplyReport, owner_alive: Callable[[str], bool]
    ) -> None:
        key = child_key(prepared)
        live = await self._live(rt, prepared)
        if live is not None:
            other = foreign_owner(live, uid_of(owner), owner_alive)
            if other is not None:
                raise ChildConflict(key, other)
        action = decide(prepared, live, self._memory.get(key))
        if action is Action.NONE:
            report.unchanged += 1
            if live is not None:
                report.applied[key] = live
            return
        result = await self._client.apply(rt, prepared)
        informer = self._informers(rt)
        if informer is not None:
            informer.write_through(result)
        self._memory[key] = Remembered(annotations_of(prepared).get(HASH_ANNOTATION, ""), project(result, prepared))
        report.applied[key] = result
        if action is Action.CREATE:
            report.created.append(str(key))
        else:
            report.updated.append(str(key))
            if action is Action.DRIFT:
                report.repaired.append(str(key))
        log.info(
            "applied child",
            extra=fields(str(owner.get("kind", "")), object_key(owner), child=str(key), action=action.value),
        )

    async def _prune(
        self, owner: Obj, rt: ResourceType, keep: set[ChildKey], report: ApplyReport
    ) -> list[tuple[str, Exception]]:
        informer = self._informers(rt)
        if informer is None:
            return []
        failures: list[tuple[str, Exception]] = []
        owner_uid = uid_of(owner)
        for obj in prune_candidates(informer.store.by_index(BY_OWNER_UID, owner_uid), owner_uid, keep):
            key = child_key(obj)
            try:
                await self._client.delete(rt, name_of(obj), namespace_of(obj), uid=uid_of(obj))
            except ApiError as error:
                if error.conflict:  # the uid precondition failed: a different object now has that name
                    continue
                failures.append((str(key), error))
                await self._events.warning(owner, "PruneFailed", f"Could not delete {key}: {error}")
                continue
            self._memory.pop(key, None)
            report.deleted.append(str(key))
            log.info("pruned child", extra=fields(str(owner.get("kind", "")), object_key(owner), child=str(key)))
        return failures
