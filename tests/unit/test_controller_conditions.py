"""Conditions move lastTransitionTime only on a status change; status is written only when it differs."""

from __future__ import annotations

from typing import Any

import pytest

from controller.conditions import Condition, set_condition, set_conditions
from controller.patches import apply_merge_patch, merge_patch
from controller.status import StatusWriter

pytestmark = pytest.mark.unit

T0, T1 = "2026-01-01T00:00:00Z", "2026-01-01T01:00:00Z"


def test_new_condition_gets_now_and_generation() -> None:
    [ready] = set_condition([], Condition("Ready", "True", "Bootstrapped", "ok"), 3, T0)
    assert ready == {
        "type": "Ready",
        "status": "True",
        "reason": "Bootstrapped",
        "message": "ok",
        "lastTransitionTime": T0,
        "observedGeneration": 3,
    }


def test_transition_time_stays_when_only_reason_message_or_generation_change() -> None:
    first = set_condition([], Condition("Ready", "False", "Waiting", "a"), 1, T0)
    second = set_condition(first, Condition("Ready", "False", "StillWaiting", "b"), 2, T1)
    assert second[0]["lastTransitionTime"] == T0
    assert second[0]["reason"] == "StillWaiting"
    assert second[0]["observedGeneration"] == 2


def test_transition_time_moves_when_status_flips() -> None:
    first = set_condition([], Condition("Ready", "False", "Waiting"), 1, T0)
    second = set_condition(first, Condition("Ready", "True", "Done"), 1, T1)
    assert second[0]["lastTransitionTime"] == T1


def test_same_condition_twice_is_identical() -> None:
    first = set_condition([], Condition("Ready", "True", "Done", "m"), 1, T0)
    assert set_condition(first, Condition("Ready", "True", "Done", "m"), 1, T1) == first


def test_other_condition_types_are_kept_in_order() -> None:
    conditions = set_conditions([], [Condition("Available", "True", "A"), Condition("Degraded", "False", "D")], 1, T0)
    updated = set_condition(conditions, Condition("Degraded", "True", "DependencyMissing"), 1, T1)
    assert [c["type"] for c in updated] == ["Available", "Degraded"]
    assert updated[0] == conditions[0]
    assert (updated[1]["status"], updated[1]["reason"]) == ("True", "DependencyMissing")


def test_message_is_capped() -> None:
    [ready] = set_condition([], Condition("Ready", "False", "X", "m" * 40000), 1, T0)
    assert len(ready["message"]) == 32768


@pytest.mark.parametrize(
    ("old", "wanted", "patch"),
    [
        ({"a": 1}, {"a": 1}, {}),
        ({"a": 1}, {"a": 2}, {"a": 2}),
        ({"a": 1, "other": "x"}, {"a": 1}, {}),
        ({"a": 1}, {"a": None}, {"a": None}),
        ({}, {"a": None}, {}),
        ({"m": {"x": 1, "y": 2}}, {"m": {"x": 1, "y": 3}}, {"m": {"y": 3}}),
        ({"l": [1, 2]}, {"l": [1]}, {"l": [1]}),
        (None, {"a": {"b": None, "c": 1}}, {"a": {"c": 1}}),
    ],
)
def test_merge_patch(old: dict[str, Any] | None, wanted: dict[str, Any], patch: dict[str, Any]) -> None:
    assert merge_patch(old, wanted) == patch
    merged = apply_merge_patch(old, patch)
    for key, value in wanted.items():
        if value is None:
            assert key not in merged
        elif not isinstance(value, dict):
            assert merged[key] == value


def test_status_writer_sees_no_change_for_equal_status() -> None:
    writer = StatusWriter(client=None)  # type: ignore[arg-type]
    conditions = set_condition([], Condition("Ready", "True", "Done"), 1, T0)
    obj = {"kind": "Project", "metadata": {"name": "p"}, "status": {"ready": True, "conditions": conditions}}
    recomputed = set_condition(obj["status"]["conditions"], Condition("Ready", "True", "Done"), 1, T1)
    assert writer.patch_for(obj, {"ready": True, "conditions": recomputed}) == {}
    assert writer.patch_for(obj, {"ready": False}) == {"ready": False}


def test_status_writer_stops_resending_a_field_the_server_prunes() -> None:
    writer = StatusWriter(client=None)  # type: ignore[arg-type]
    obj = {"kind": "Tenant", "metadata": {"name": "acme"}, "status": {"ready": True}}
    wanted = {"ready": True, "unknownToSchema": ["x"]}
    patch = writer.patch_for(obj, wanted)
    assert patch == {"unknownToSchema": ["x"]}
    # The server answered with the field pruned: the writer remembers that answer for this patch.
    writer._last[("Tenant", "acme")] = ('{"unknownToSchema":["x"]}', '{"ready":true}')
    assert writer.patch_for(obj, wanted) == {}
    assert writer.patch_for(obj, {"ready": False}) == {"ready": False}
