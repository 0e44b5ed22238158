"""The AdmissionReview v1 wire format, in one place.

Two kinds of failure are kept apart here, as kopf does: when the webhook request itself is malformed
(not JSON, no `request.uid`, another apiVersion, another kind) `parse_review` raises `BadReview` and the
server answers HTTP 400 with the reason; when the object under review is bad, a handler denies it and the
answer is a well-formed AdmissionReview with `allowed: false`. Neither is ever a 500.

The envelope is a pydantic model but `object`/`oldObject` stay raw dicts: patches must be computed against
exactly what the API server sent, and parsing a whole object into models on the hot path would cost more
than the rest of the request (measured: `model_validate_json` on a 4 KB review takes about as long as
`json.loads` alone, so the typed envelope is nearly free).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from admission.verdict import Verdict, clip_warning, json_type

API_VERSION: Final = "admission.k8s.io/v1"
REVIEW_KIND: Final = "AdmissionReview"

Operation = Literal["CREATE", "UPDATE", "DELETE", "CONNECT"]
OPERATIONS: Final[tuple[Operation, ...]] = ("CREATE", "UPDATE", "DELETE", "CONNECT")

MAX_OBJECT_DEPTH: Final = 128
"""How deeply `object` and `oldObject` may nest (objects and arrays; the object itself is level 1).

Kubernetes objects stay far below it (a CronJob's deepest field is about 15 levels), and it keeps every
walk over an object (copies, defaulting, encoding the answer) well inside Python's recursion limit of
1000 frames. The API server allows 10000, so a deeper object is answered with a clear 400, not reviewed.
"""
MAX_BODY_DEPTH: Final = MAX_OBJECT_DEPTH + 2  # the review and its `request` hold the object


class BadReview(ValueError):
    """The webhook request itself is malformed: answered with HTTP 400 and this reason."""


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, validate_by_name=True, validate_by_alias=True)


class GroupVersionKind(_Wire):
    group: str = ""
    version: str
    kind: str


class GroupVersionResource(_Wire):
    group: str = ""
    version: str
    resource: str


class UserInfo(_Wire):
    username: str = ""
    uid: str = ""
    groups: tuple[str, ...] = ()
    extra: dict[str, tuple[str, ...]] = Field(default_factory=dict)


class AdmissionRequest(_Wire):
    """`request` of an AdmissionReview; `object` and `old_object` are the raw objects (read-only)."""

    uid: str = Field(min_length=1)
    kind: GroupVersionKind
    resource: GroupVersionResource
    sub_resource: str = Field(default="", alias="subResource")
    request_kind: GroupVersionKind | None = Field(default=None, alias="requestKind")
    request_resource: GroupVersionResource | None = Field(default=None, alias="requestResource")
    name: str = ""
    namespace: str = ""
    operation: Operation
    user_info: UserInfo = Field(default_factory=UserInfo, alias="userInfo")
    object: dict[str, Any] | None = None
    old_object: dict[str, Any] | None = Field(default=None, alias="oldObject")
    dry_run: bool = Field(default=False, alias="dryRun")
    options: dict[str, Any] | None = None

    @property
    def subject(self) -> dict[str, Any]:
        """The object a rule should judge: the old object for DELETE (there is no new one), else the new."""
        chosen = self.old_object if self.operation == "DELETE" else self.object
        return chosen if chosen is not None else {}

    @property
    def display_name(self) -> str:
        """`namespace/name` (or `name`) for logs and messages; generateName objects have no name yet.

        It is read while answering failures too, so it never raises, whatever the object holds.
        """
        metadata = self.subject.get("metadata")
        own = metadata.get("name") if isinstance(metadata, dict) else None
        name = self.name or (own if isinstance(own, str) else "") or "<generated>"
        return f"{self.namespace}/{name}" if self.namespace else name


class AdmissionReview(_Wire):
    api_version: str = Field(alias="apiVersion")
    kind: str
    request: AdmissionRequest


def _describe(error: ValidationError) -> str:
    first = error.errors(include_url=False)[0]
    location = ".".join(str(part) for part in first["loc"])
    if first["type"] == "json_invalid":
        return f"the body is not valid JSON: {first['msg']}"
    if first["type"] == "missing":
        return f"{location} is required"
    return f"{location}: {first['msg']}"


def _load(body: bytes) -> Any:
    """`json.loads`, with nesting too deep for it answered as a reason rather than raised as `RecursionError`."""
    try:
        return json.loads(body)
    except RecursionError as exc:
        raise BadReview(_too_deep()) from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadReview(f"the body is not valid JSON: {exc}") from exc


def _too_deep() -> str:
    return (
        f"the object nests deeper than {MAX_OBJECT_DEPTH} levels of objects and arrays, the most this webhook "
        "reviews; no Kubernetes object needs that many"
    )


def json_depth(value: Any) -> int:
    """Levels of nested objects and arrays in `value` (a scalar is 0), counted without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, dict | list):
            deepest = max(deepest, level)
            children = node.values() if isinstance(node, dict) else node
            stack.extend((child, level + 1) for child in children if isinstance(child, dict | list))
    return deepest


def _envelope(body: bytes) -> Mapping[str, Any]:
    data = _load(body)
    if not isinstance(data, dict):
        raise BadReview("the body must be a JSON object (an AdmissionReview)")
    return data


def _validated(body: bytes) -> AdmissionReview:
    """The review, parsed directly when its nesting is provably shallow and after a depth check otherwise.

    A body with at most `MAX_BODY_DEPTH` brackets cannot nest deeper than that, and pydantic's parser (which
    stops at about 200 levels with a misleading "invalid JSON") takes it directly: nearly every review does.
    Other bodies are parsed by `json.loads`, measured, and only then validated.
    """
    if body.count(b"{") + body.count(b"[") <= MAX_BODY_DEPTH:
        try:
            return AdmissionReview.model_validate_json(body)
        except ValidationError as exc:
            # Say the most useful thing first: an unknown apiVersion or kind explains every other error.
            envelope = _envelope(body)
            _check_type(envelope.get("apiVersion"), envelope.get("kind"))
            raise BadReview(_describe(exc)) from exc
    envelope = _envelope(body)
    if json_depth(envelope) > MAX_BODY_DEPTH:
        _check_type(envelope.get("apiVersion"), envelope.get("kind"))
        raise BadReview(_too_deep())
    try:
        return AdmissionReview.model_validate(envelope)
    except ValidationError as exc:
        _check_type(envelope.get("apiVersion"), envelope.get("kind"))
        raise BadReview(_describe(exc)) from exc


def parse_review(body: bytes) -> AdmissionReview:
    """Parse and check an AdmissionReview request body; raise `BadReview` with a reason a person can act on."""
    review = _validated(body)
    _check_type(review.api_version, review.kind)
    request = review.request
    if request.operation in ("CREATE", "UPDATE") and request.object is None:
        raise BadReview(f"request.object is required for {request.operation}")
    for field_name, value in (("request.object", request.object), ("request.oldObject", request.old_object)):
        if value is not None:
            check_object_shape(field_name, value)
    return review


_METADATA_STRINGS: Final = ("name", "namespace", "generateName", "uid", "resourceVersion")
_METADATA_MAPS: Final = ("labels", "annotations")
_METADATA_ARRAYS: Final = ("ownerReferences", "finalizers")


def check_object_shape(field_name: str, obj: Mapping[str, Any]) -> None:
    """The shape every rule relies on: `metadata` an object, its names strings, labels maps of strings.

    The API server never sends anything else, so a review that does is not one of its requests (400); checking
    once here spares each rule from guarding the same fields.
    """
    for key in ("apiVersion", "kind"):
        if obj.get(key) is not None and not isinstance(obj[key], str):
            raise BadReview(f"{field_name}.{key} must be a string, not {json_type(obj[key])}")
    metadata = obj.get("metadata")
    if metadata is None:
        return
    if not isinstance(metadata, dict):
        raise BadReview(f"{field_name}.metadata must be an object, not {json_type(metadata)}")
    for key in _METADATA_STRINGS:
        value = metadata.get(key)
        if value is not None and not isinstance(value, str):
            raise BadReview(f"{field_name}.metadata.{key} must be a string, not {json_type(value)}")
    for key in _METADATA_MAPS:
        value = metadata.get(key)
        if value is None:
            continue
        if not isinstance(value, dict):
            raise BadReview(f"{field_name}.metadata.{key} must be a map of strings, not {json_type(value)}")
        for entry, text in value.items():
            if not isinstance(text, str):
                shown = json.dumps(entry)[:80]
                raise BadReview(f"{field_name}.metadata.{key}[{shown}] must be a string, not {json_type(text)}")
    for key in _METADATA_ARRAYS:
        value = metadata.get(key)
        if value is not None and not isinstance(value, list):
            raise BadReview(f"{field_name}.metadata.{key} must be an array, not {json_type(value)}")


def _shown(value: object) -> str:
    """A client's value in a reason: its repr, cut short (it is echoed to the client and logged)."""
    text = repr(value)
    return text if len(text) <= 80 else text[:79] + "…"


def _check_type(api_version: object, kind: object) -> None:
    if api_version != API_VERSION:
        raise BadReview(f"apiVersion {_shown(api_version)} is not supported; this webhook serves {API_VERSION}")
    if kind != REVIEW_KIND:
        raise BadReview(f"kind {_shown(kind)} is not an {REVIEW_KIND}")


_COMPACT: Final = json.JSONEncoder(separators=(",", ":"))


def compact_json(payload: Any) -> bytes:
    """`payload` as compact JSON, the way the API server writes it.

    One shared encoder: `json.dumps` with non-default separators builds a new encoder on every call, which
    is half the cost of encoding a small answer.
    """
    return _COMPACT.encode(payload).encode()


def render_response(uid: str, verdict: Verdict, *, api_version: str = API_VERSION) -> dict[str, Any]:
    """The AdmissionReview response for `verdict`: the protocol's shape lives here and nowhere else.

    `status` appears only when there is something to say; an empty patch is omitted entirely (an empty
    `patch` with `patchType` set is a needless round of reinvocation bookkeeping on the API server).
    """
    response: dict[str, Any] = {"uid": uid, "allowed": verdict.allowed}
    if not verdict.allowed:
        response["status"] = {
            "code": verdict.code,
            "reason": verdict.reason,
            "message": verdict.message,
        }
    elif verdict.message:
        response["status"] = {"code": 200, "message": verdict.message}
    if verdict.allowed and verdict.patch:
        encoded = compact_json(list(verdict.patch))
        response["patchType"] = "JSONPatch"
        response["patch"] = base64.b64encode(encoded).decode("ascii")
    if verdict.warnings:
        response["warnings"] = [clip_warning(w) for w in verdict.warnings]
    return {"apiVersion": api_version, "kind": REVIEW_KIND, "response": response}


def bad_request_status(reason: str, code: int = 400) -> dict[str, Any]:
    """A `metav1.Status` body for a rejected webhook call, so the API server logs a readable reason."""
    names = {
        400: "BadRequest",
        405: "MethodNotAllowed",
        408: "Timeout",
        413: "RequestEntityTooLarge",
        415: "UnsupportedMediaType",
    }
    return {
        "apiVersion": "v1",
        "kind": "Status",
        "status": "Failure",
        "code": code,
        "reason": names.get(code, "BadRequest"),
        "message": reason,
    }


def decode_patch(response: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The JSONPatch operations carried by an AdmissionReview `response` (empty when none)."""
    encoded = response.get("patch")
    if not encoded:
        return []
    operations: list[dict[str, Any]] = json.loads(base64.b64decode(encoded))
    return operations
