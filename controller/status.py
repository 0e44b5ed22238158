"""Status writes: a merge patch of the status subresource, sent only when the wanted status differs.

A reconciler hands over the status it wants (only the fields it owns; None removes one). The writer diffs it
against the cached object and writes nothing when there is no difference. If the API server's schema prunes a
field we send, the diff would never become empty; the writer remembers what the server answered for the same
patch and stops there, so such a mismatch costs one write, not one per reconcile.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from controller.patches import merge_patch
from kube.client import ApiError, KubeClient, ResourceType
from kube.informer import Informer
from kube.objects import Obj, name_of, namespace_of, object_key

log = logging.getLogger(__name__)


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


class StatusWriter:
    def __init__(self, client: KubeClient) -> None:
        self._client = client
        self._last: dict[tuple[str, str], tuple[str, str]] = {}
        self._no_subresource: set[str] = set()

    def patch_for(self, obj: Mapping[str, Any], wanted: Mapping[str, Any], kind: str = "") -> dict[str, Any]:
        """The merge patch for `status`, or {} when nothing would change (including the pruned-field guard)."""
        current = obj.get("status") if isinstance(obj.get("status"), Mapping) else {}
        patch = merge_patch(current, wanted)
        if not patch:
            return {}
        remembered = self._last.get((kind or str(obj.get("kind", "")), object_key(obj)))
        if remembered is not None and remembered == (_canonical(patch), _canonical(current)):
            return {}
        return patch

    async def update(
        self, rt: ResourceType, obj: Obj, wanted: Mapping[str, Any], informer: Informer | None = None
    ) -> bool:
        """Write `wanted` into `obj`'s status if it differs; True when a write happened."""
        patch = self.patch_for(obj, wanted, rt.kind)
        if not patch:
            return False
        body = {"status": patch}
        subresource = "" if rt.group_kind in self._no_subresource else "status"
        try:
            result = await self._client.patch(
                rt, name_of(obj), body, namespace_of(obj), patch_type="merge", subresource=subresource
            )
        except ApiError as error:
            if not (error.not_found and subresource):
                raise
            # The CRD has no status subresource: status is part of the main resource there.
            self._no_subresource.add(rt.group_kind)
            result = await self._client.patch(rt, name_of(obj), body, namespace_of(obj), patch_type="merge")
        returned = result.get("status") if isinstance(result.get("status"), Mapping) else {}
        self._last[(rt.kind, object_key(obj))] = (_canonical(patch), _canonical(returned))
        if informer is not None:
            informer.write_through(result)
        return True
