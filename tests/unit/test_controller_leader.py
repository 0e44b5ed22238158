"""Leader election decisions: create, renew, wait for expiry on our own clock, take over."""

from __future__ import annotations

from typing import Any

import pytest

from controller.leader import Decision, lease_decision, lease_spec

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("spec", "observed_at", "now", "decision"),
    [
        (None, None, 0.0, Decision.CREATE),
        ({"holderIdentity": "me", "leaseDurationSeconds": 15}, 0.0, 100.0, Decision.RENEW),
        ({"holderIdentity": "", "leaseDurationSeconds": 1}, 0.0, 0.0, Decision.TAKE),
        ({"holderIdentity": "other", "leaseDurationSeconds": 15}, 10.0, 20.0, Decision.WAIT),
        ({"holderIdentity": "other", "leaseDurationSeconds": 15}, 10.0, 25.0, Decision.TAKE),
        ({"holderIdentity": "other", "leaseDurationSeconds": 15}, None, 0.0, Decision.TAKE),
    ],
)
def test_lease_decision(spec: dict[str, Any] | None, observed_at: float | None, now: float, decision: Decision) -> None:
    assert lease_decision(spec, "me", observed_at, now) is decision


def test_taking_over_counts_a_transition_and_sets_acquire_time() -> None:
    previous = {
        "holderIdentity": "other",
        "leaseDurationSeconds": 15,
        "leaseTransitions": 2,
        "acquireTime": "old",
        "renewTime": "old",
    }
    spec = lease_spec(previous, "me", 15, Decision.TAKE, "now")
    assert spec == {
        "holderIdentity": "me",
        "leaseDurationSeconds": 15,
        "leaseTransitions": 3,
        "acquireTime": "now",
        "renewTime": "now",
    }


def test_renewing_keeps_acquire_time_and_transitions() -> None:
    previous = {"holderIdentity": "me", "leaseDurationSeconds": 15, "leaseTransitions": 2, "acquireTime": "t0"}
    spec = lease_spec(previous, "me", 15, Decision.RENEW, "t1")
    assert spec["acquireTime"] == "t0"
    assert spec["leaseTransitions"] == 2
    assert spec["renewTime"] == "t1"


def test_creating_starts_at_zero_transitions() -> None:
    spec = lease_spec(None, "me", 4.5, Decision.CREATE, "t")
    assert spec["leaseTransitions"] == 0
    assert spec["leaseDurationSeconds"] == 4
