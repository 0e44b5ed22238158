"""The local cache behind one informer: objects by key, plus secondary indexes.

Reconcilers read only from here (never from the API server), which is what makes a steady state cost no reads.
Indexes answer the questions mappers and reconcilers ask often: "what is in namespace X", "what does uid U own",
"which objects carry label L=V". Every change is reported as a `Change` so the informer can tell its handlers.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from kube.objects import Obj, labels_of, namespace_of, object_key, owner_references_of, resource_version_of, uid_of

IndexFunc = Callable[[Obj], Iterable[str]]

BY_NAMESPACE = "namespace"
BY_OWNER_UID = "owner-uid"
BY_UID = "uid"


@dataclass(frozen=True)
class Change:
    """One transition of one key: `old is None` for an add, `new is None` for a delete."""

    key: str
    old: Obj | None
    new: Obj | None

    @property
    def kind(self) -> str:
        if self.old is None:
            return "ADDED"
        if self.new is None:
            return "DELETED"
        return "MODIFIED"


def index_namespace(obj: Obj) -> Iterable[str]:
    return [namespace_of(obj)]


def owner_uid_index(inventory_label: str | None = None) -> IndexFunc:
    """Every owner uid: from ownerReferences and, when given, from an owner-inventory label naming the owner's uid
    (how a cluster-scoped child records a namespaced owner, which ownerReferences cannot)."""

    def index(obj: Obj) -> Iterable[str]:
        uids = {str(ref.get("uid")) for ref in owner_references_of(obj) if ref.get("uid")}
        inventory = labels_of(obj).get(inventory_label) if inventory_label else None
        if inventory:
            uids.add(inventory)
        return uids

    return index


def index_uid(obj: Obj) -> Iterable[str]:
    uid = uid_of(obj)
    return [uid] if uid else []


def label_index(label: str) -> IndexFunc:
    """Index by the value of one label (objects without it are not indexed)."""

    def index(obj: Obj) -> Iterable[str]:
        value = labels_of(obj).get(label)
        return [value] if value is not None else []

    return index


def field_index(*path: str) -> IndexFunc:
    """Index by a string field, e.g. `field_index("spec", "tenantRef")`."""

    def index(obj: Obj) -> Iterable[str]:
        node: Any = obj
        for part in path:
            if not isinstance(node, Mapping):
                return []
            node = node.get(part)
        return [str(node)] if isinstance(node, str | int) and node != "" else []

    return index


def _strictly_older(candidate: str, reference: str) -> bool:
    """True only when both versions are integers and `candidate` is not newer than `reference`."""
    return candidate.isdigit() and reference.isdigit() and int(candidate) <= int(reference)


def _newer_or_equal(old: Obj, new: Obj) -> bool:
    """False only when both resourceVersions are integers and `new` is older than `old`.

    resourceVersions are opaque in the API contract; every API server backed by etcd hands out integers, and
    using that lets a write-through from our own apply (newer) win over an older watch event still in flight.
    Anything else is taken as newer.
    """
    old_rv, new_rv = resource_version_of(old), resource_version_of(new)
    if old_rv.isdigit() and new_rv.isdigit():
        return int(new_rv) >= int(old_rv)
    return True


class Store:
    """Objects by key plus indexes. Remembers recent deletions (tombstones) so that the answer of a write that
    raced with the object's deletion cannot bring a deleted object back into the cache."""

    MAX_TOMBSTONES = 10_000

    def __init__(self, inventory_label: str | None = None) -> None:
        self._items: dict[str, Obj] = {}
        self._tombstones: collections.OrderedDict[str, str] = collections.OrderedDict()
        self._indexers: dict[str, IndexFunc] = {}
        self._indices: dict[str, dict[str, set[str]]] = {}
        for name, function in (
            (BY_NAMESPACE, index_namespace),
            (BY_OWNER_UID, owner_uid_index(inventory_label)),
            (BY_UID, index_uid),
        ):
            self.add_index(name, function)

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def add_index(self, name: str, function: IndexFunc) -> None:
        """Register an index (idempotent by name); existing objects are indexed at once."""
        if name in self._indexers:
            return
        self._indexers[name] = function
        index: dict[str, set[str]] = {}
        for key, obj in self._items.items():
            for value in function(obj):
                index.setdefault(value, set()).add(key)
        self._indices[name] = index

    def has_index(self, name: str) -> bool:
        return name in self._indexers

    # ---- reads ---------------------------------------------------------------------------------------------

    def get(self, key: str) -> Obj | None:
        return self._items.get(key)

    def all_keys(self) -> list[str]:
        return list(self._items)

    def objects(self) -> list[Obj]:
        return list(self._items.values())

    def index_keys(self, index: str, value: str) -> list[str]:
        return sorted(self._indices[index].get(value, ()))

    def by_index(self, index: str, value: str) -> list[Obj]:
        return [self._items[key] for key in self.index_keys(index, value)]

    def index_values(self, index: str) -> list[str]:
        return sorted(v for v, keys in self._indices[index].items() if keys)

    # ---- writes --------------------------------------------------------------------------------------------

    def upsert(self, obj: Obj, *, replace_equal: bool = False) -> Change | None:
        """Store `obj`; returns the change, or None when nothing changed (same resourceVersion, or older).

        `replace_equal` takes a different object with the same resourceVersion (the API server answers a write
        that deleted the object, such as removing the last finalizer, without bumping the version).
        """
        key = object_key(obj)
        version = resource_version_of(obj)
        tombstone = self._tombstones.get(key)
        if tombstone is not None:
            if _strictly_older(version, tombstone):
                return None
            del self._tombstones[key]
        old = self._items.get(key)
        if old is not None:
            if resource_version_of(old) == version and version and (not replace_equal or old == obj):
                return None
            if not _newer_or_equal(old, obj):
                return None
            self._unindex(key, old)
        self._items[key] = obj
        self._index(key, obj)
        return Change(key, old, obj)

    def delete(self, key: str, resource_version: str = "") -> Change | None:
        """Remove `key`, remembering `resource_version` (of the deletion) against late writes of older versions."""
        if resource_version:
            self._tombstones[key] = resource_version
            self._tombstones.move_to_end(key)
            while len(self._tombstones) > self.MAX_TOMBSTONES:
                self._tombstones.popitem(last=False)
        old = self._items.pop(key, None)
        if old is None:
            return None
        self._unindex(key, old)
        return Change(key, old, None)

    def replace(self, objs: Iterable[Obj]) -> list[Change]:
        """Swap in the result of a full list; returns what changed (adds, updates, deletions) as after a relist."""
        fresh = {object_key(obj): obj for obj in objs}
        self._tombstones.clear()
        changes: list[Change] = []
        for key in [k for k in self._items if k not in fresh]:
            change = self.delete(key)
            if change is not None:
                changes.append(change)
        for key, obj in fresh.items():
            old = self._items.get(key)
            if old is not None and resource_version_of(old) == resource_version_of(obj):
                continue
            if old is not None:
                self._unindex(key, old)
            self._items[key] = obj
            self._index(key, obj)
            changes.append(Change(key, old, obj))
        return changes

    def _index(self, key: str, obj: Obj) -> None:
        for name, function in self._indexers.items():
            index = self._indices[name]
            for value in function(obj):
                index.setdefault(value, set()).add(key)

    def _unindex(self, key: str, obj: Obj) -> None:
        for name, function in self._indexers.items():
            index = self._indices[name]
            for value in function(obj):
                keys = index.get(value)
                if keys is not None:
                    keys.discard(key)
                    if not keys:
                        del index[value]
