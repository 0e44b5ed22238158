"""What an admission handler answers: a value, never a side effect.

A handler returns a `Verdict` built with the helpers below (`allowed`, `denied`, `patched`, `errored`,
`.with_warnings`); the dispatcher combines the verdicts of every handler for a request and one function,
`admission.protocol.render_response`, turns the result into the AdmissionReview wire shape. Keeping the
decision a plain immutable value makes handlers trivial to test and lets `tenantgate review` reuse them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Final

from admission.patch import PatchRecorder

# The API server shows every warning to the user (kubectl prints `Warning: ...`); long ones wrap badly
# and hide the next: one fact each, at most 120 characters.
MAX_WARNING_CHARS: Final = 120
ELLIPSIS: Final = "…"

# The API server drops a warning holding a control character (C0, DEL, C1) or a byte that is not UTF-8 (a lone
# surrogate here), rather than showing it: replace them, so the fact still reaches the user.
_CONTROL: Final = re.compile("[\x00-\x1f\x7f-\x9f]+")
_SURROGATE: Final = re.compile("[\ud800-\udfff]")

CODE_FORBIDDEN: Final = 403
REASON_FORBIDDEN: Final = "Forbidden"
CODE_INTERNAL_ERROR: Final = 500
REASON_INTERNAL_ERROR: Final = "InternalError"
CODE_INVALID: Final = 422
REASON_INVALID: Final = "Invalid"


def json_type(value: Any) -> str:
    """What a JSON value is, for messages: "an object", "a string", "null"..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list) else "an object" if isinstance(value, dict) else "a value"


class MalformedObject(ValueError):
    """A rule found a field of the wrong JSON type: the object is invalid, not tenantgate (a 422 denial).

    Rules raise it from their readers instead of guarding every caller; the dispatcher turns it into `invalid`.
    """

    def __init__(self, path: str, expected: str, value: Any) -> None:
        super().__init__(f"{path} must be {expected}, not {json_type(value)}")
        self.path = path


def clip_warning(text: str) -> str:
    """One line of at most `MAX_WARNING_CHARS` characters; longer text is cut and ends with an ellipsis.

    Warnings travel as HTTP `Warning` headers, so control characters become spaces (and lone surrogates, which
    are not UTF-8, become U+FFFD). A warning is never dropped: a truncated fact still tells the user where to look.
    """
    line = " ".join(_SURROGATE.sub("\ufffd", _CONTROL.sub(" ", text)).split())
    if len(line) <= MAX_WARNING_CHARS:
        return line
    return line[: MAX_WARNING_CHARS - len(ELLIPSIS)].rstrip() + ELLIPSIS


@dataclass(frozen=True, slots=True)
class Verdict:
    """One handler's (or the combined) answer for one AdmissionReview request."""

    allowed: bool
    code: int = 200
    reason: str = ""
    message: str = ""
    warnings: tuple[str, ...] = ()
    patch: tuple[Mapping[str, Any], ...] = field(default=())
    # The object with `patch` applied, when the handler's recorder already has it: lets the dispatcher
    # chain defaulters without replaying their operations (not part of the wire format).
    patched_object: dict[str, Any] | None = field(default=None, compare=False, repr=False)

    def with_warnings(self, *warnings: str) -> Verdict:
        """The same verdict with `warnings` appended (empty strings are ignored)."""
        extra = tuple(clip_warning(w) for w in warnings if w and w.strip())
        return replace(self, warnings=self.warnings + extra) if extra else self

    @property
    def denied(self) -> bool:
        return not self.allowed


def allowed(message: str = "", *, warnings: Iterable[str] = ()) -> Verdict:
    """Admit the object unchanged."""
    return Verdict(allowed=True, message=message).with_warnings(*warnings)


def denied(
    message: str,
    *,
    code: int = CODE_FORBIDDEN,
    reason: str = REASON_FORBIDDEN,
    warnings: Iterable[str] = (),
) -> Verdict:
    """Reject the object. The message names the field, the value, the rule and what is allowed instead."""
    if not message:
        raise ValueError("a denial needs a message that tells the user what to change")
    return Verdict(allowed=False, code=code, reason=reason, message=message).with_warnings(*warnings)


def patched(
    operations: PatchRecorder | Iterable[Mapping[str, Any]], message: str = "", *, warnings: Iterable[str] = ()
) -> Verdict:
    """Admit the object with JSONPatch operations; no operations is the same as `allowed`.

    Pass the `PatchRecorder` itself (built on `request.object`) rather than its operations when possible:
    the verdict then carries the patched object too, which saves the dispatcher a replay.
    """
    if isinstance(operations, PatchRecorder):
        ops = tuple(operations.operations())
        verdict = Verdict(True, message=message, patch=ops, patched_object=operations.current if ops else None)
    else:
        verdict = Verdict(True, message=message, patch=tuple(operations))
    return verdict.with_warnings(*warnings) if warnings else verdict


def invalid(message: str, *, warnings: Iterable[str] = ()) -> Verdict:
    """Reject an object whose fields have the wrong shape (422 Invalid, as the API server's own field errors)."""
    return denied(message, code=CODE_INVALID, reason=REASON_INVALID, warnings=warnings)


def errored(message: str, *, code: int = CODE_INTERNAL_ERROR, reason: str = REASON_INTERNAL_ERROR) -> Verdict:
    """Reject because the webhook could not decide (fail closed); the code tells users it is not their fault."""
    return Verdict(allowed=False, code=code, reason=reason, message=message)
