"""What an admission handler answers: a value, never a side effect.

A handler returns a `Verdict` built with the helpers below (`allowed`, `denied`, `patched`, `errored`,
`.with_warnings`); the dispatcher combines the verdicts of every handler for a request and one function,
`admission.protocol.render_response`, turns the result into the AdmissionReview wire shape. Keeping the
decision a plain immutable value makes handlers trivial to test and lets `tenantgate review` reuse them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Final

from admission.patch import PatchRecorder

# The API server shows every warning to the user (kubectl prints `Warning: ...`); long ones wrap badly
# and hide the next: one fact each, at most 120 characters.
MAX_WARNING_CHARS: Final = 120
ELLIPSIS: Final = "…"

CODE_FORBIDDEN: Final = 403
REASON_FORBIDDEN: Final = "Forbidden"
CODE_INTERNAL_ERROR: Final = 500
REASON_INTERNAL_ERROR: Final = "InternalError"


def clip_warning(text: str) -> str:
    """One line of at most `MAX_WARNING_CHARS` characters; longer text is cut and ends with an ellipsis.

    Warnings travel as HTTP `Warning` headers, so control characters become spaces. A warning is never
    dropped: a truncated fact still tells the user where to look.
    """
    line = " ".join(text.split())
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


def errored(message: str, *, code: int = CODE_INTERNAL_ERROR, reason: str = REASON_INTERNAL_ERROR) -> Verdict:
    """Reject because the webhook could not decide (fail closed); the code tells users it is not their fault."""
    return Verdict(allowed=False, code=code, reason=reason, message=message)
