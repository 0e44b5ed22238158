"""Every custom object judged by its kind's model at admission: the schema, the CEL rules, immutable fields, and
what the controller needs to run it (`crds.runnable`).

In a cluster the API server checks the CRD schema before the webhook sees the object; this rule still checks it,
so `/validate` and `tenantgate review` refuse the same objects the cluster does (a Shop whose `spec` is null, a
Wallet with an unknown network), and it adds the checks no schema can express (a Wallet's `ownerAddress` must be
an address of its `network`; a thismatters Django needs `host`, `image`, `version` and `clusterIssuer`).

On UPDATE only problems that are new deny (see `findings`): an object admitted before a check existed can still
get its finalizer removed or a label changed, and its owner hears about the old problem in a warning.

A refusal is worded as the API server words it (`crds.structural`) whenever the schema or its CEL rules refuse
the object too: with one webhook call per write the webhook judges the object before the API server's schema
check, and a tenant should read the same sentence whichever of the two speaks first. The structural check runs
only on this refusal path, so an admitted object costs one model validation.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from admission.context import RequestContext
from admission.protocol import AdmissionRequest
from admission.rules.findings import MAX_LISTED
from admission.verdict import Verdict, allowed, clip_warning, invalid
from crds import structural
from crds.registry import UnknownKindError, by_api_version
from crds.runnable import runnable_problems, runnable_warnings
from crds.validation import FieldError, validated


def model_problems(obj: Mapping[str, Any], old: Mapping[str, Any] | None = None) -> tuple[list[FieldError], list[str]]:
    """(problems, warnings) of a custom object; an update from `old` when given. Pure; one model validation."""
    parsed, errors = validated(dict(obj), dict(old) if old is not None else None)
    if errors or parsed is None:
        return errors, []
    return runnable_problems(parsed), runnable_warnings(parsed)


def deny_text(kind: str, name: str, problems: list[FieldError]) -> str:
    """`Wallet "w" is invalid: spec.ownerAddress: ...; spec.network: ...` (at most `MAX_LISTED` problems)."""
    shown = "; ".join(str(problem) for problem in problems[:MAX_LISTED])
    more = f"; and {len(problems) - MAX_LISTED} more" if len(problems) > MAX_LISTED else ""
    return f'{kind} "{name}" is invalid: {shown}{more}'


def validate_custom_kind(request: AdmissionRequest, ctx: RequestContext) -> Verdict:
    """Deny a custom object its model refuses (new problems only on UPDATE), with field-path messages."""
    if request.object is None:
        return allowed()
    old = request.old_object if request.operation == "UPDATE" else None
    try:
        problems, warnings = model_problems(request.object, old)
    except UnknownKindError:
        return allowed()  # a version or kind tenantgate does not serve: the API server answers for it
    kept: list[FieldError] = []
    if problems and old is not None:
        try:
            before = set(model_problems(old)[0])
        except UnknownKindError:
            before = set()
        kept = [problem for problem in problems if problem in before]
        problems = [problem for problem in problems if problem not in before]
    if kept:
        more = f" (+{len(kept) - 1} more)" if len(kept) > 1 else ""
        warnings = [*warnings, clip_warning(f"unchanged {kept[0]}{more}")]
    if problems:
        return invalid(refusal_text(request.object, old, request.name, problems), warnings=warnings)
    return allowed(warnings=warnings)


def refusal_text(obj: Mapping[str, Any], old: Mapping[str, Any] | None, name: str, problems: list[FieldError]) -> str:
    """The API server's sentence when its schema or CEL rules refuse `obj` too, otherwise the model's. Pure."""
    kind = str(obj.get("kind"))
    info = by_api_version(str(obj.get("apiVersion")), kind)
    if info is not None:
        # As the API server holds it: decoded, with the nulls of non-nullable fields dropped.
        decoded = structural.decode(info, dict(obj))
        before = structural.decode(info, dict(old)).obj if old is not None else None
        errors = list(decoded.errors) or structural.validate(info, decoded.obj, before)
        if errors:
            return structural.invalid_message(info, name, errors)
    return deny_text(kind, name, problems)
