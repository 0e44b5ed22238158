"""Findings, and the UPDATE rule that keeps admitted objects updatable ("ratcheting").

A rule that inspects fields returns `Finding`s: each names a field path, the offending value and the full
deny text. On UPDATE the same rule runs over `oldObject` too, and only findings that are new (not present,
by `key`, in the old object) deny the request. So a policy tightened after an object was admitted never
blocks an unrelated change (scaling, a label, a new env var): what the user did not touch stays as it was,
and they hear about it in one warning instead of a deny. A changed image, host, CIDR or security setting is
a new value and is judged in full.

The key is chosen per rule: images and hosts by value (moving a container in the list is not a new image),
pod security by field path and value.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from admission.protocol import AdmissionRequest
from admission.verdict import Verdict, allowed, denied

MAX_LISTED: Final = 5


@dataclass(frozen=True, slots=True)
class Finding:
    path: str
    value: str
    """The offending value as shown in messages (quoted JSON)."""
    message: str
    key: tuple[str, ...] = ()

    @property
    def identity(self) -> tuple[str, ...]:
        return self.key or (self.path, self.value)


def new_findings(
    request: AdmissionRequest,
    collect: Callable[[Mapping[str, Any]], Sequence[Finding]],
) -> tuple[list[Finding], list[Finding]]:
    """(findings that deny, findings kept because unchanged) for the request's object.

    CREATE: every finding denies. UPDATE: only findings absent from `oldObject` deny.
    """
    current = list(collect(request.object or {}))
    if not current or request.operation != "UPDATE" or request.old_object is None:
        return current, []
    before = {finding.identity for finding in collect(request.old_object)}
    fresh = [finding for finding in current if finding.identity not in before]
    kept = [finding for finding in current if finding.identity in before]
    return fresh, kept


def join_messages(findings: Sequence[Finding], prefix: str = "") -> str:
    """One deny text: every finding's message (at most `MAX_LISTED`, then a count), separated by `; `."""
    shown = [finding.message for finding in findings[:MAX_LISTED]]
    text = "; ".join(shown)
    if len(findings) > MAX_LISTED:
        text += f"; and {len(findings) - MAX_LISTED} more"
    return prefix + text


def kept_warning(kept: Sequence[Finding]) -> str:
    """One short warning about violations admitted because the UPDATE did not touch them."""
    if not kept:
        return ""
    first = kept[0]
    more = f" (+{len(kept) - 1} more)" if len(kept) > 1 else ""
    return f"unchanged {first.path} {first.value} breaks current policy; kept{more}"


def verdict_for(
    findings: Sequence[Finding],
    kept: Sequence[Finding] = (),
    *,
    prefix: str = "",
    warnings: Iterable[str] = (),
) -> Verdict:
    """Deny with every new finding, or admit with the warnings (plus one for kept violations)."""
    extra = [kept_warning(kept), *warnings]
    if findings:
        return denied(join_messages(findings, prefix), warnings=extra)
    return allowed(warnings=extra)
