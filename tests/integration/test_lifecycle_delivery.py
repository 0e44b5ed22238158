"""Lifecycle event delivery over real TLS to a receiver that verifies signatures as the documentation shows."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
import trustme

from controller.lifecycle import DeliverySettings, LifecycleDispatcher
from controller.metrics import Metrics
from kube.client import ApiError, KubeClient, ResourceType
from kube.objects import Obj
from tests.event_receiver import EventReceiver

pytestmark = pytest.mark.integration

KEY = b"integration-hmac-key-0123456789"


class SecretsOnly:
    """The API server as the dispatcher uses it: GET of a Secret, 404 for any other name, 403 elsewhere."""

    def __init__(self, secrets: dict[tuple[str, str], Obj]) -> None:
        self.secrets = secrets
        self.reads: list[tuple[str, str]] = []

    async def get(self, rt: ResourceType, name: str, namespace: str = "") -> Obj | None:
        if rt.kind != "Secret":
            raise ApiError(403, "Forbidden", f"{rt.kind} is not readable here")
        self.reads.append((namespace, name))
        return self.secrets.get((namespace, name))


def secret(namespace: str, name: str, key: bytes) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "data": {"hmac-key": base64.b64encode(key).decode()},
    }


def tenant(url: str, **hook: Any) -> Obj:
    ref = hook.pop("secretRef", {"name": "events", "namespace": "kubeop-acme-web"})
    return {"metadata": {"name": "acme"}, "spec": {"eventWebhooks": [{"url": url, "secretRef": ref, **hook}]}}


def app(name: str = "web", uid: str = "uid-web") -> Obj:
    return {
        "apiVersion": "paas.kubeop.io/v1alpha1",
        "kind": "App",
        "metadata": {"name": name, "namespace": "kubeop-acme-web", "uid": uid},
    }


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def receiver(ca: trustme.CA) -> Iterator[EventReceiver]:
    with EventReceiver(KEY, ca) as running:
        yield running


def dispatcher(
    tenant_obj: Obj, ca_file: Path, client: SecretsOnly | None = None, **settings: Any
) -> tuple[LifecycleDispatcher, Metrics]:
    metrics = Metrics()
    options: dict[str, Any] = {"retry_base": 0.01, "retry_cap": 0.05, "timeout": 5.0, "ca_file": str(ca_file)}
    options.update(settings)
    labels = {
        "kubeop-acme-web": {"app.kubeop.io/tenant": "acme"},
        "kubeop-globex-shop": {"app.kubeop.io/tenant": "globex"},
    }
    found = LifecycleDispatcher(
        cast(
            KubeClient, client or SecretsOnly({("kubeop-acme-web", "events"): secret("kubeop-acme-web", "events", KEY)})
        ),
        lambda name: tenant_obj if name == "acme" else None,
        lambda namespace: labels.get(namespace, {}),
        metrics,
        DeliverySettings(**options),
    )
    return found, metrics


async def settle(found: LifecycleDispatcher) -> None:
    await asyncio.wait_for(found.wait_idle(), timeout=30)


async def test_a_delivery_arrives_signed_with_its_headers(receiver: EventReceiver, tmp_path: Path) -> None:
    found, metrics = dispatcher(tenant(receiver.url), receiver.write_ca(tmp_path / "ca.pem"))
    try:
        assert found.emit("acme", "app.ready", app(), {"revision": "abc"}) == 1
        await settle(found)
    finally:
        await found.close()
    (attempt,) = receiver.attempts
    assert attempt.status == 200
    assert attempt.event is not None
    assert attempt.event["type"] == "app.ready"
    assert attempt.event["object"] == {
        "apiVersion": "paas.kubeop.io/v1alpha1",
        "kind": "App",
        "name": "web",
        "namespace": "kubeop-acme-web",
        "uid": "uid-web",
    }
    assert attempt.event["data"] == {"revision": "abc"}
    assert attempt.headers["X-KubeOP-Event"] == "app.ready"
    assert attempt.headers["X-KubeOP-Delivery"] == attempt.event["id"]
    assert attempt.headers["X-KubeOP-Timestamp"] == str(attempt.event["timestamp"])
    assert attempt.headers["X-KubeOP-Signature"].startswith("sha256=")
    assert metrics.events_sent.get("app.ready") == 1
    assert metrics.events_latency.count("app.ready") == 1


async def test_a_receiver_failing_three_times_gets_the_same_body_and_id_the_fourth_time(
    ca: trustme.CA, tmp_path: Path
) -> None:
    with EventReceiver(KEY, ca, fail_first=3) as flaky:
        found, metrics = dispatcher(tenant(flaky.url), flaky.write_ca(tmp_path / "ca.pem"))
        try:
            found.emit("acme", "app.degraded", app(), {"reason": "Progressing"})
            await settle(found)
        finally:
            await found.close()
        attempts = flaky.attempts
    assert [a.status for a in attempts] == [503, 503, 503, 200]
    assert len({a.delivery_id for a in attempts}) == 1
    assert len({a.body for a in attempts}) == 1
    assert len({a.headers["X-KubeOP-Signature"] for a in attempts}) == 1
    assert len({a.headers["X-KubeOP-Timestamp"] for a in attempts}) == 1
    assert metrics.events_retries.get("app.degraded") == 3
    assert metrics.events_sent.get("app.degraded") == 1


async def test_events_of_one_object_arrive_in_order_despite_retries(ca: trustme.CA, tmp_path: Path) -> None:
    with EventReceiver(KEY, ca, fail_first=1) as flaky:
        found, _ = dispatcher(tenant(flaky.url), flaky.write_ca(tmp_path / "ca.pem"))
        try:
            for revision in range(6):
                found.emit("acme", "app.revision_changed", app(), {"to": str(revision)})
                found.emit("acme", "app.ready", app("other", "uid-other"), {"revision": str(revision)})
            await settle(found)
        finally:
            await found.close()
        accepted = flaky.accepted()
    web = [a.event["data"]["to"] for a in accepted if a.event and a.event["object"]["name"] == "web"]
    other = [a.event["data"]["revision"] for a in accepted if a.event and a.event["object"]["name"] == "other"]
    assert web == [str(r) for r in range(6)]
    assert other == [str(r) for r in range(6)]


async def test_the_filter_and_the_bounded_queue(receiver: EventReceiver, tmp_path: Path) -> None:
    hook_tenant = tenant(receiver.url, events=["app.ready"])
    found, metrics = dispatcher(hook_tenant, receiver.write_ca(tmp_path / "ca.pem"), queue_size=2)
    try:
        assert found.emit("acme", "app.degraded", app(), {}) == 0  # filtered out
        assert found.emit("nobody", "app.ready", app(), {}) == 0  # no such tenant
        assert [found.emit("acme", "app.ready", app(f"a{i}", f"u{i}"), {}) for i in range(3)] == [1, 1, 0]
        assert metrics.events_dropped.get("app.ready", "queue_full") == 1
        await settle(found)
    finally:
        await found.close()
    assert len(receiver.accepted()) == 2


async def test_a_refusal_is_not_retried(ca: trustme.CA, tmp_path: Path) -> None:
    with EventReceiver(KEY, ca, status=400) as refusing:
        found, metrics = dispatcher(tenant(refusing.url), refusing.write_ca(tmp_path / "ca.pem"))
        try:
            found.emit("acme", "project.ready", app(), {})
            await settle(found)
        finally:
            await found.close()
        assert len(refusing.attempts) == 1
    assert metrics.events_failed.get("project.ready", "rejected") == 1


async def test_a_wrong_key_is_refused_by_the_receiver(receiver: EventReceiver, tmp_path: Path) -> None:
    client = SecretsOnly({("kubeop-acme-web", "events"): secret("kubeop-acme-web", "events", b"not-the-key")})
    found, metrics = dispatcher(tenant(receiver.url), receiver.write_ca(tmp_path / "ca.pem"), client)
    try:
        found.emit("acme", "app.ready", app(), {})
        await settle(found)
    finally:
        await found.close()
    assert [a.status for a in receiver.attempts] == [401]
    assert metrics.events_failed.get("app.ready", "rejected") == 1


async def test_a_key_outside_the_tenant_is_never_read(receiver: EventReceiver, tmp_path: Path) -> None:
    client = SecretsOnly({("kubeop-globex-shop", "events"): secret("kubeop-globex-shop", "events", KEY)})
    hook_tenant = tenant(receiver.url, secretRef={"name": "events", "namespace": "kubeop-globex-shop"})
    found, metrics = dispatcher(hook_tenant, receiver.write_ca(tmp_path / "ca.pem"), client, max_attempts=2)
    try:
        found.emit("acme", "app.ready", app(), {})
        await settle(found)
    finally:
        await found.close()
    assert client.reads == []
    assert receiver.attempts == []
    assert metrics.events_failed.get("app.ready", "attempts_exhausted") == 1


async def test_an_untrusted_endpoint_is_not_sent_to(receiver: EventReceiver, tmp_path: Path) -> None:
    other_ca = trustme.CA()
    ca_file = tmp_path / "other.pem"
    ca_file.write_bytes(other_ca.cert_pem.bytes())
    found, metrics = dispatcher(tenant(receiver.url), ca_file, max_attempts=2)
    try:
        found.emit("acme", "app.ready", app(), {})
        await settle(found)
    finally:
        await found.close()
    assert receiver.attempts == []
    assert metrics.events_failed.get("app.ready", "attempts_exhausted") == 1


async def test_keys_urls_and_bodies_stay_out_of_logs(
    ca: trustme.CA, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with EventReceiver(KEY, ca, fail_first=1, status=400) as refusing:
        found, _ = dispatcher(tenant(refusing.url), refusing.write_ca(tmp_path / "ca.pem"), max_attempts=3)
        try:
            found.emit("acme", "app.ready", app(), {"secretish": "body-marker"})
            await settle(found)
        finally:
            await found.close()
        url = refusing.url
    logged = "\n".join(f"{r.getMessage()} {json.dumps(r.__dict__, default=str)}" for r in caplog.records)
    assert "acme[0]" in logged  # the endpoint is named, by tenant and index
    for secret_text in (KEY.decode(), base64.b64encode(KEY).decode(), url, "body-marker", "sha256="):
        assert secret_text not in logged
