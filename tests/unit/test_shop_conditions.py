"""The Shop's condition table, with Degraded cleared while deploying."""

from __future__ import annotations

from typing import Any

import pytest

from controller.applier import ApplyError
from controller.conditions import Condition
from controller.reconcilers import shop_builders as s

pytestmark = pytest.mark.unit

NOW = "2024-01-01T00:00:00Z"


def table(conditions: list[Condition]) -> dict[str, tuple[str, str, str]]:
    return {c.type: (c.status, c.reason, c.message) for c in conditions}


def test_waiting_for_the_database() -> None:
    assert table(s.database_provisioning_conditions()) == {
        "Available": ("False", "DatabaseProvisioning", "database not ready"),
        "Progressing": ("True", "DatabaseProvisioning", "waiting for database connection secret"),
    }


def test_deploying_clears_degraded() -> None:
    assert table(s.rollout_conditions(1, 3)) == {
        "Available": ("False", "Deploying", "1/3 replicas ready"),
        "Progressing": ("True", "Deploying", "waiting for replicas to become ready"),
        "Degraded": ("False", "Deploying", "no errors"),
    }


@pytest.mark.parametrize(("ready", "desired"), [(2, 2), (3, 2), (0, 0)])
def test_ready(ready: int, desired: int) -> None:
    assert table(s.rollout_conditions(ready, desired)) == {
        "Available": ("True", "Ready", "all replicas are ready"),
        "Progressing": ("False", "Ready", "deployment complete"),
        "Degraded": ("False", "Ready", "no errors"),
    }


def test_database_failure_and_other_failures() -> None:
    failed = ApplyError([("Cluster shops/demo", RuntimeError("boom"))])
    assert table(s.failure_conditions(failed, "Cluster"))["Degraded"][:2] == ("True", "DatabaseFailed")
    assert table(s.failure_conditions(failed, "Cluster"))["Available"] == (
        "False",
        "DatabaseFailed",
        "database provisioning failed",
    )
    other = ApplyError([("Ingress shops/demo", RuntimeError("boom"))])
    assert table(s.failure_conditions(other, "Cluster"))["Degraded"][:2] == ("True", "ApplyFailed")


def test_status_fields_and_generation() -> None:
    shop: dict[str, Any] = {"metadata": {"name": "demo", "namespace": "n", "generation": 4}, "spec": {}}
    status = s.shop_status(shop, s.ShopSettings(url_port=":8080"), s.rollout_conditions(2, 2), 2, NOW)
    assert status["url"] == "http://demo.localhost:8080"
    assert status["databaseSecret"] == "demo-app"
    assert status["selector"] == "app=demo"
    assert status["readyReplicas"] == 2
    assert {c["observedGeneration"] for c in status["conditions"]} == {4}
    shop["status"] = status
    later = s.shop_status(shop, s.ShopSettings(), s.rollout_conditions(2, 2), 2, "2025-01-01T00:00:00Z")
    assert later["conditions"] == status["conditions"]
