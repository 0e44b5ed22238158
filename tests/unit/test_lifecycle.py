"""Lifecycle events: building and signing a delivery, retry decisions, and which status changes are events."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import pytest

from controller.lifecycle import (
    DeliverySettings,
    app_transitions,
    delivery_headers,
    event_body,
    outcome_of,
    project_transitions,
    ready_flag_transitions,
    retry_delay,
    shop_transitions,
    sign,
    tenant_of,
    wants,
)
from tests.event_receiver import documented_verifier

pytestmark = pytest.mark.unit

APP = {
    "apiVersion": "paas.kubeop.io/v1alpha1",
    "kind": "App",
    "metadata": {"name": "web", "namespace": "ns", "uid": "u"},
}


def test_signature_is_hmac_sha256_hex_of_the_exact_body() -> None:
    # RFC 4231 test case 2
    assert sign(b"Jefe", b"what do ya want for nothing?") == (
        "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    )


def test_body_is_compact_sorted_json_holding_id_and_timestamp() -> None:
    body = event_body("app.ready", "acme", APP, {"revision": "r1"}, delivery_id="d-1", timestamp=1700000000)
    assert body == event_body("app.ready", "acme", APP, {"revision": "r1"}, delivery_id="d-1", timestamp=1700000000)
    assert b" " not in body
    document = json.loads(body)
    assert list(document) == sorted(document)
    assert document == {
        "id": "d-1",
        "type": "app.ready",
        "timestamp": 1700000000,
        "tenant": "acme",
        "object": {
            "apiVersion": "paas.kubeop.io/v1alpha1",
            "kind": "App",
            "name": "web",
            "namespace": "ns",
            "uid": "u",
        },
        "data": {"revision": "r1"},
    }
    cluster_scoped = json.loads(event_body("project.ready", "acme", {"kind": "Project", "metadata": {"name": "p"}},
                                           {}, delivery_id="d", timestamp=1))  # fmt: skip
    assert "namespace" not in cluster_scoped["object"]


def test_headers_carry_type_id_timestamp_and_signature() -> None:
    assert delivery_headers("app.ready", "d-1", 17, "sha256=ab") == {
        "Content-Type": "application/json",
        "User-Agent": "tenantgate-controller",
        "X-KubeOP-Event": "app.ready",
        "X-KubeOP-Delivery": "d-1",
        "X-KubeOP-Timestamp": "17",
        "X-KubeOP-Signature": "sha256=ab",
    }
    assert "X-KubeOP-Signature" not in delivery_headers("app.ready", "d-1", 17, None)


def test_the_documented_receiver_accepts_a_delivery_and_refuses_tampering_and_replays() -> None:
    verify = documented_verifier()
    key = b"k"
    body = event_body("app.ready", "acme", APP, {}, delivery_id="d-1", timestamp=1000)
    headers = delivery_headers("app.ready", "d-1", 1000, sign(key, body))
    assert verify(key, body, headers, now=1000)["id"] == "d-1"
    assert verify(key, body, headers, now=1299) is not None
    assert verify(key, body, headers, now=1301) is None  # replayed after the window
    assert verify(b"other", body, headers, now=1000) is None
    assert verify(key, body.replace(b"acme", b"evil"), headers, now=1000) is None
    assert verify(key, body, {**headers, "X-KubeOP-Timestamp": "1200"}, now=1200) is None
    assert verify(key, body, {**headers, "X-KubeOP-Delivery": "d-2"}, now=1000) is None
    assert verify(key, body, {k: v for k, v in headers.items() if k != "X-KubeOP-Signature"}, now=1000) is None
    forged = "sha256=" + hmac.new(b"k", body + b" ", hashlib.sha256).hexdigest()
    assert verify(key, body, {**headers, "X-KubeOP-Signature": forged}, now=1000) is None


@pytest.mark.parametrize(
    ("status", "outcome"),
    [(200, "sent"), (202, "sent"), (204, "sent"), (None, "retry"), (408, "retry"), (425, "retry"), (429, "retry"),
     (500, "retry"), (503, "retry"), (301, "rejected"), (400, "rejected"), (401, "rejected"), (404, "rejected")],
)  # fmt: skip
def test_which_answers_are_retried(status: int | None, outcome: str) -> None:
    assert outcome_of(status) == outcome


@pytest.mark.parametrize(("attempt", "delay"), [(1, 1.0), (2, 2.0), (3, 4.0), (6, 32.0), (7, 60.0), (30, 60.0)])
def test_backoff_doubles_up_to_the_cap(attempt: int, delay: float) -> None:
    assert retry_delay(attempt, 1.0, 60.0) == delay


def test_default_retries_end_within_a_five_minute_replay_window() -> None:
    settings = DeliverySettings()
    waited = sum(retry_delay(a, settings.retry_base, settings.retry_cap) for a in range(1, settings.max_attempts))
    assert waited + settings.max_attempts * settings.timeout < 300


def test_settings_from_the_environment() -> None:
    env = {"TENANTGATE_EVENTS_QUEUE_SIZE": "5", "TENANTGATE_EVENTS_RETRY_BASE": "0.1", "TENANTGATE_EVENTS_MAX_ATTEMPTS":
           "x", "TENANTGATE_EVENTS_CA_FILE": "/ca.pem", "TENANTGATE_EVENTS_TIMEOUT": "-1"}  # fmt: skip
    settings = DeliverySettings.from_env(env, "tg")
    assert (settings.queue_size, settings.retry_base, settings.max_attempts) == (5, 0.1, 8)
    assert (settings.ca_file, settings.timeout, settings.own_namespace) == ("/ca.pem", 10.0, "tg")


@pytest.mark.parametrize(
    ("events", "wanted"),
    [(None, True), ([], True), (["app.ready"], True), (["project.ready"], False), ("app.ready", True)],
)
def test_event_filter(events: Any, wanted: bool) -> None:
    assert wants(events, "app.ready") is wanted


def cond(kind: str, status: str, reason: str = "R") -> dict[str, Any]:
    return {"type": kind, "status": status, "reason": reason, "message": "m"}


def st(*conditions: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"conditions": list(conditions), **fields}


@pytest.mark.parametrize(
    ("old", "new", "types"),
    [
        (None, st(cond("Ready", "True"), namespace="n"), ["project.ready"]),
        (st(cond("Ready", "False")), st(cond("Ready", "True")), ["project.ready"]),
        (st(cond("Ready", "True")), st(cond("Ready", "True", "Other")), []),
        (st(cond("Ready", "True")), st(cond("Ready", "False")), []),
        (None, st(cond("Ready", "False")), []),
    ],
)
def test_project_transitions(old: Any, new: dict[str, Any], types: list[str]) -> None:
    assert [t for t, _ in project_transitions(old, new)] == types


@pytest.mark.parametrize(
    ("old", "new", "types"),
    [
        (None, st(cond("Ready", "False"), revision="a"), []),
        (st(cond("Ready", "False"), revision="a"), st(cond("Ready", "True"), revision="a"), ["app.ready"]),
        (st(cond("Ready", "True"), revision="a"), st(cond("Ready", "True"), revision="a"), []),
        (st(cond("Ready", "True"), revision="a"), st(cond("Ready", "False"), revision="b"),
         ["app.revision_changed", "app.degraded"]),
        (st(cond("Ready", "True"), revision="a"), st(cond("Ready", "True"), revision="b"), ["app.revision_changed"]),
        (st(cond("Ready", "False"), revision=""), st(cond("Ready", "False"), revision="b"), []),
        (st(cond("Ready", "Unknown")), st(cond("Ready", "False")), []),
    ],
)  # fmt: skip
def test_app_transitions(old: Any, new: dict[str, Any], types: list[str]) -> None:
    assert [t for t, _ in app_transitions(old, new)] == types


def test_app_revision_change_data() -> None:
    found = app_transitions(st(revision="a"), st(revision="b"))
    assert found == [("app.revision_changed", {"from": "a", "to": "b"})]


@pytest.mark.parametrize(
    ("old", "new", "types"),
    [
        (None, st(cond("Available", "True"), cond("Degraded", "False")), ["shop.available"]),
        (st(cond("Available", "True")), st(cond("Available", "True")), []),
        (st(cond("Available", "True"), cond("Degraded", "False")),
         st(cond("Available", "False"), cond("Degraded", "True")), ["shop.degraded"]),
        (st(cond("Degraded", "True")), st(cond("Degraded", "True", "Other")), []),
    ],
)  # fmt: skip
def test_shop_transitions(old: Any, new: dict[str, Any], types: list[str]) -> None:
    assert [t for t, _ in shop_transitions(old, new)] == types


def test_ready_flag_transitions_for_dns_and_certificates() -> None:
    dns = ready_flag_transitions("dns.ready")
    assert dns(None, {"ready": True, "message": "published"}) == [("dns.ready", {"message": "published"})]
    assert dns({"ready": True}, {"ready": True}) == []
    assert dns({"ready": True}, {"ready": False}) == []


def test_tenant_of_an_object() -> None:
    labels = {"kubeop-acme-web": {"app.kubeop.io/tenant": "acme"}}

    def lookup(namespace: str) -> dict[str, str]:
        return labels.get(namespace, {})

    assert tenant_of({"kind": "Project", "spec": {"tenantRef": "acme"}}, lookup) == "acme"
    assert tenant_of({"kind": "App", "metadata": {"labels": {"app.kubeop.io/tenant": "globex"}}}, lookup) == "globex"
    assert tenant_of({"kind": "Shop", "metadata": {"namespace": "kubeop-acme-web"}}, lookup) == "acme"
    assert tenant_of({"kind": "Shop", "metadata": {"namespace": "default"}}, lookup) is None
