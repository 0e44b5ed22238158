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

from admission.verdict import Verdict, clip_warning

API_VERSION: Final = "admission.k8s.io/v1"
REVIEW_KIND: Final = "AdmissionReview"

Operation = Literal["CREATE", "UPDATE", "DELETE", "CONNECT"]
OPERATIONS: Final[tuple[Operation, ...]] = ("CREATE", "UPDATE", "DELETE", "CONNECT")


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
        """`namespace/name` (or `name`) for logs and messages; generateName objects have no name yet."""
        name = self.name or str((self.subject.get("metadata") or {}).get("name") or "") or "<generated>"
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


def _envelope(body: bytes) -> Mapping[str, Any]:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadReview(f"the body is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise BadReview("the body must be a JSON object (an AdmissionReview)")
    return data


def parse_review(body: bytes) -> AdmissionReview:
    """Parse and check an AdmissionReview request body; raise `BadReview` with a reason a person can act on."""
    try:
        review = AdmissionReview.model_validate_json(body)
    except ValidationError as exc:
        # Say the most useful thing first: an unknown apiVersion or kind explains every other error.
        envelope = _envelope(body)
        _check_type(envelope.get("apiVersion"), envelope.get("kind"))
        raise BadReview(_describe(exc)) from exc
    _check_type(review.api_version, review.kind)
    request = review.request
    if request.operation in ("CREATE", "UPDATE") and request.object is None:
        raise BadReview(f"request.object is required for {request.operation}")
    return review


def _check_type(api_version: object, kind: object) -> None:
    if api_version != API_VERSION:
        raise BadReview(f"apiVersion {api_version!r} is not supported; this webhook serves {API_VERSION}")
    if kind != REVIEW_KIND:
        raise BadReview(f"kind {kind!r} is not an {REVIEW_KIND}")


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
