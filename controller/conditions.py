"""`status.conditions` as in `metav1.Condition`: pure functions, so the transition rules are tested in isolation.

`lastTransitionTime` moves only when a condition's `status` changes (True/False/Unknown), not when its reason,
message or observedGeneration does: that is what lets clients trust it as "since when", and what keeps a
steady state from writing status at all.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

Status = Literal["True", "False", "Unknown"]

MAX_MESSAGE = 32768


def now_rfc3339() -> str:
    """Seconds precision, `Z` suffix: the format of `metav1.Time`."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Condition:
    type: str
    status: Status
    reason: str
    message: str = ""


def set_condition(
    conditions: Sequence[Mapping[str, Any]] | None,
    condition: Condition,
    observed_generation: int,
    now: str,
) -> list[dict[str, Any]]:
    """A new conditions list with `condition` set; other types are kept in their order."""
    result: list[dict[str, Any]] = []
    found = False
    for existing in conditions or []:
        if existing.get("type") != condition.type:
            result.append(dict(existing))
            continue
        found = True
        transition = existing.get("lastTransitionTime") or now
        if existing.get("status") != condition.status:
            transition = now
        result.append(_render(condition, observed_generation, str(transition)))
    if not found:
        result.append(_render(condition, observed_generation, now))
    return result


def set_conditions(
    conditions: Sequence[Mapping[str, Any]] | None,
    updates: Sequence[Condition],
    observed_generation: int,
    now: str,
) -> list[dict[str, Any]]:
    current: list[dict[str, Any]] = [dict(c) for c in conditions or []]
    for condition in updates:
        current = set_condition(current, condition, observed_generation, now)
    return current


def _render(condition: Condition, observed_generation: int, transition: str) -> dict[str, Any]:
    return {
        "type": condition.type,
        "status": condition.status,
        "reason": condition.reason,
        "message": condition.message[:MAX_MESSAGE],
        "lastTransitionTime": transition,
        "observedGeneration": observed_generation,
    }
