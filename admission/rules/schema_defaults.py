"""The generic defaulter: apply the schema defaults of every custom kind through the patch recorder.

The defaults themselves live with the models (`crds.defaults.missing_defaults(group, kind, raw)` returns
the `(path, value)` pairs absent from a raw object); this handler only turns them into JSONPatch
operations. It sets defaults the API server's structural schema would also set, and runs before other
mutators and every guardrail, so rules always see a complete spec.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from admission.context import RequestContext
from admission.patch import PatchRecorder
from admission.protocol import AdmissionRequest
from admission.verdict import Verdict, allowed, patched
from crds.defaults import missing_defaults


def merge_nested_defaults(
    defaults: Sequence[tuple[Sequence[str | int], Any]],
) -> list[tuple[tuple[str | int, ...], Any]]:
    """Fold defaults that land inside another default's (new) value into that value.

    `missing_defaults` lists parents before children (`spec.ports = {}`, then `spec.ports.app = 8000`);
    a parent it lists is absent from the object, so its children can be written into the parent's value
    and the whole subtree added with one operation: a shorter patch, and a faster one to record.
    The values are the fresh copies `missing_defaults` returns, so filling them in is safe.
    """
    roots: list[tuple[tuple[str | int, ...], Any]] = []
    pending: dict[tuple[str | int, ...], Any] = {}
    for raw_path, value in defaults:
        path = tuple(raw_path)
        parent = pending.get(path[:-1])
        if isinstance(parent, dict) and isinstance(path[-1], str):
            parent[path[-1]] = value
        else:
            roots.append((path, value))
        pending[path] = value
    return roots


def default_custom_kind(request: AdmissionRequest, ctx: RequestContext) -> Verdict:
    """Record every schema default missing from the object (existing values are never overridden)."""
    if request.object is None:
        return allowed()
    defaults = missing_defaults(request.kind.group, request.kind.kind, request.object)
    if not defaults:
        return allowed()
    recorder = PatchRecorder(request.object)
    for path, value in merge_nested_defaults(defaults):
        recorder.set_default(path, value, copy_value=False)  # fresh copies from missing_defaults
    return patched(recorder)
