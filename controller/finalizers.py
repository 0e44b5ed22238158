"""Finalizers for children the garbage collector cannot reach (cluster-scoped or cross-namespace ones, and
external systems): added before the first child is built, removed only after cleanup has finished.

Writes are merge patches carrying the object's resourceVersion, so a concurrent change to the finalizer list
(another controller adding its own) fails with a conflict and is retried from the cache, never overwritten.
"""

from __future__ import annotations

from kube.client import KubeClient, ResourceType
from kube.informer import Informer
from kube.objects import Obj, finalizers_of, is_deleting, name_of, namespace_of, resource_version_of


def with_finalizer(finalizers: list[str], finalizer: str) -> list[str] | None:
    """The list with `finalizer` added, or None when it is already there."""
    return None if finalizer in finalizers else [*finalizers, finalizer]


def without_finalizer(finalizers: list[str], finalizer: str) -> list[str] | None:
    """The list with `finalizer` removed, or None when it is not there."""
    return [f for f in finalizers if f != finalizer] if finalizer in finalizers else None


async def _write(client: KubeClient, rt: ResourceType, obj: Obj, finalizers: list[str]) -> Obj:
    patch = {"metadata": {"finalizers": finalizers, "resourceVersion": resource_version_of(obj)}}
    return await client.patch(rt, name_of(obj), patch, namespace_of(obj), patch_type="merge")


async def ensure_finalizer(
    client: KubeClient, rt: ResourceType, obj: Obj, finalizer: str, informer: Informer | None = None
) -> Obj:
    """Add `finalizer` if missing; returns the (possibly updated) object."""
    wanted = with_finalizer(finalizers_of(obj), finalizer)
    if wanted is None:
        return obj
    result = await _write(client, rt, obj, wanted)
    if informer is not None:
        informer.write_through(result)
    return result


async def remove_finalizer(
    client: KubeClient, rt: ResourceType, obj: Obj, finalizer: str, informer: Informer | None = None
) -> Obj:
    """Remove `finalizer` if present. Removing the last finalizer of an object being deleted deletes it: the
    object is then dropped from the cache at once rather than written back."""
    wanted = without_finalizer(finalizers_of(obj), finalizer)
    if wanted is None:
        return obj
    result = await _write(client, rt, obj, wanted)
    if informer is not None:
        if not wanted and is_deleting(obj):
            informer.forget(result if result.get("metadata") else obj)
        elif result.get("metadata"):
            informer.write_through(result)
    return result
