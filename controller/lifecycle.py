"""Lifecycle events to tenants' endpoints: signed JSON POSTs, retried with the same body, never blocking a reconcile.

A Tenant's `spec.eventWebhooks` name HTTPS endpoints; when one of the tenant's objects changes state (a Project
becomes ready, an App degrades, a Shop becomes available, ...) each endpoint that wants that event type gets one
delivery. What "changes state" means is decided from status: the condition transitions between the status in the
cache and the status a reconcile writes (`*_transitions`, pure), so an event is emitted once per transition, not
once per reconcile, and a restarted controller, whose cache already holds the written status, emits nothing again.

A delivery is built once: body (JSON with the delivery id and the unix timestamp inside, so both are signed),
`X-KubeOP-Signature: sha256=<hex HMAC-SHA256 of the body>`, `X-KubeOP-Event`, `X-KubeOP-Delivery`,
`X-KubeOP-Timestamp`. Retries (exponential backoff, `retry_delay`) resend exactly those bytes and headers, so a
receiver deduplicates on the delivery id. Deliveries wait in lanes, one per (endpoint, object): a lane sends one
delivery at a time, in emit order, so the events of one object arrive in order, and a failing endpoint delays
only its own lanes. The lanes together hold at most `queue_size` deliveries; beyond that `emit` drops the new
delivery and counts it, so a reconcile never waits on the network. Deliveries live in memory only: those still
pending when the process stops are lost (at most once across restarts; at least once within a process).

The signing key, the URLs (which may carry tokens) and the bodies are never logged; logs and metrics name an
endpoint by tenant and index (`acme[0]`).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import collections
import contextlib
import hashlib
import hmac
import json
import logging
import ssl
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import aiohttp

from controller.metrics import Metrics
from crds.kubeop import EVENT_TYPES
from kube.client import SECRETS, ApiError, KubeClient
from kube.objects import Obj, labels_of, name_of, namespace_of
from tenancy.event_webhooks import secret_namespace, url_problem
from tenancy.labels import TENANT_LABEL

log = logging.getLogger(__name__)

SIGNATURE_HEADER: Final = "X-KubeOP-Signature"
EVENT_HEADER: Final = "X-KubeOP-Event"
DELIVERY_HEADER: Final = "X-KubeOP-Delivery"
TIMESTAMP_HEADER: Final = "X-KubeOP-Timestamp"
RETRYABLE_STATUSES: Final = frozenset({408, 425, 429})

Outcome = Literal["sent", "retry", "rejected"]


# ---- pure: building, signing, deciding ---------------------------------------------------------------------


def event_body(
    event_type: str,
    tenant: str,
    obj: Mapping[str, Any],
    data: Mapping[str, Any],
    *,
    delivery_id: str,
    timestamp: int,
) -> bytes:
    """The exact bytes POSTed (and signed): compact JSON with sorted keys."""
    metadata = obj.get("metadata") or {}
    subject = {
        "apiVersion": obj.get("apiVersion", ""),
        "kind": obj.get("kind", ""),
        "name": metadata.get("name", ""),
        "uid": metadata.get("uid", ""),
    }
    if metadata.get("namespace"):
        subject["namespace"] = metadata["namespace"]
    document = {
        "id": delivery_id,
        "type": event_type,
        "timestamp": timestamp,
        "tenant": tenant,
        "object": subject,
        "data": dict(data),
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def sign(key: bytes, body: bytes) -> str:
    """`sha256=<hex HMAC-SHA256 of body>`."""
    return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()


def delivery_headers(event_type: str, delivery_id: str, timestamp: int, signature: str | None) -> dict[str, str]:
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "tenantgate-controller",
        EVENT_HEADER: event_type,
        DELIVERY_HEADER: delivery_id,
        TIMESTAMP_HEADER: str(timestamp),
    }
    if signature is not None:
        headers[SIGNATURE_HEADER] = signature
    return headers


def wants(events: object, event_type: str) -> bool:
    """Whether an endpoint whose `events` filter is `events` receives `event_type` (absent or empty: all)."""
    return not isinstance(events, list) or not events or event_type in events


def outcome_of(status: int | None) -> Outcome:
    """2xx is delivered; no answer, 408, 425, 429 and 5xx are retried; any other answer is a refusal."""
    if status is None or status in RETRYABLE_STATUSES or status >= 500:
        return "retry"
    if 200 <= status < 300:
        return "sent"
    return "rejected"


def retry_delay(attempt: int, base: float, cap: float) -> float:
    """Seconds to wait after failed attempt number `attempt` (1-based): base, 2 base, 4 base, ... at most cap."""
    return float(min(cap, base * 2 ** max(attempt - 1, 0)))


def condition_status(status: Mapping[str, Any] | None, condition_type: str) -> str | None:
    for condition in (status or {}).get("conditions") or []:
        if isinstance(condition, dict) and condition.get("type") == condition_type:
            value = condition.get("status")
            return value if isinstance(value, str) else None
    return None


def _became(old: Mapping[str, Any] | None, new: Mapping[str, Any], condition_type: str, value: str) -> bool:
    after = condition_status(new, condition_type)
    return after == value and condition_status(old, condition_type) != value


def _reason(status: Mapping[str, Any], condition_type: str) -> dict[str, str]:
    for condition in status.get("conditions") or []:
        if isinstance(condition, dict) and condition.get("type") == condition_type:
            return {"reason": str(condition.get("reason") or ""), "message": str(condition.get("message") or "")}
    return {}


Transition = tuple[str, dict[str, Any]]
Transitions = Callable[[Mapping[str, Any] | None, Mapping[str, Any]], list[Transition]]
"""(status in the cache, status being written) -> the lifecycle events that change means, with their data."""


def project_transitions(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> list[Transition]:
    if _became(old, new, "Ready", "True"):
        return [("project.ready", {"namespace": new.get("namespace", ""), **_reason(new, "Ready")})]
    return []


def app_transitions(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> list[Transition]:
    found: list[Transition] = []
    before, after = (old or {}).get("revision"), new.get("revision")
    if before and after and before != after:
        found.append(("app.revision_changed", {"from": before, "to": after}))
    if _became(old, new, "Ready", "True"):
        found.append(("app.ready", {"revision": after or "", **_reason(new, "Ready")}))
    elif condition_status(old, "Ready") == "True" and condition_status(new, "Ready") == "False":
        found.append(("app.degraded", {"revision": after or "", **_reason(new, "Ready")}))
    return found


def shop_transitions(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> list[Transition]:
    found: list[Transition] = []
    if _became(old, new, "Available", "True"):
        found.append(("shop.available", {"url": new.get("url", ""), **_reason(new, "Available")}))
    if _became(old, new, "Degraded", "True"):
        found.append(("shop.degraded", _reason(new, "Degraded")))
    return found


def ready_flag_transitions(event_type: str) -> Transitions:
    """For kinds whose readiness is kubeOP's `status.ready` boolean (DNSRecord -> `dns.ready`, Certificate ->
    `certificate.ready`): the event when `ready` turns true."""

    def transitions(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> list[Transition]:
        if new.get("ready") is True and (old or {}).get("ready") is not True:
            return [(event_type, {"message": str(new.get("message") or "")})]
        return []

    return transitions


def tenant_of(obj: Mapping[str, Any], namespace_labels: Callable[[str], Mapping[str, str]]) -> str | None:
    """The tenant an object belongs to: a Project's `spec.tenantRef`, else its tenant label, else its
    namespace's."""
    if obj.get("kind") == "Project":
        ref = (obj.get("spec") or {}).get("tenantRef")
        return ref if isinstance(ref, str) and ref else None
    label = labels_of(dict(obj)).get(TENANT_LABEL)
    if label:
        return label
    namespace = namespace_of(dict(obj))
    return namespace_labels(namespace).get(TENANT_LABEL) if namespace else None


# ---- settings ----------------------------------------------------------------------------------------------


def _number(env: Mapping[str, str], name: str, default: float) -> float:
    try:
        value = float(env.get(name) or default)
    except ValueError:
        return default
    return value if value > 0 else default


@dataclass(frozen=True)
class DeliverySettings:
    """Delivery knobs, from the controller's environment (`TENANTGATE_EVENTS_*`)."""

    queue_size: int = 1000
    retry_base: float = 1.0
    retry_cap: float = 60.0
    max_attempts: int = 8
    """With the defaults the last attempt starts about two minutes after the first: inside a receiver's
    five-minute replay window, since retries carry the original timestamp."""
    timeout: float = 10.0
    concurrency: int = 8
    ca_file: str | None = None
    """An extra CA bundle (PEM) trusted for endpoints, added to the system's (`SSL_CERT_FILE` also works)."""
    own_namespace: str = "tenantgate-system"
    allow_http_loopback: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str], own_namespace: str) -> DeliverySettings:
        return cls(
            queue_size=int(_number(env, "TENANTGATE_EVENTS_QUEUE_SIZE", 1000)),
            retry_base=_number(env, "TENANTGATE_EVENTS_RETRY_BASE", 1.0),
            retry_cap=_number(env, "TENANTGATE_EVENTS_RETRY_CAP", 60.0),
            max_attempts=int(_number(env, "TENANTGATE_EVENTS_MAX_ATTEMPTS", 8)),
            timeout=_number(env, "TENANTGATE_EVENTS_TIMEOUT", 10.0),
            ca_file=env.get("TENANTGATE_EVENTS_CA_FILE") or None,
            own_namespace=own_namespace,
        )


# ---- the dispatcher ----------------------------------------------------------------------------------------


@dataclass
class Delivery:
    """One event for one endpoint; `body` and `headers` are fixed at the first attempt and reused by retries."""

    tenant: str
    endpoint: str
    """`<tenant>[<index>]`: how logs and metrics name the endpoint (never by URL)."""
    url: str
    secret_ref: Mapping[str, Any] | None
    event_type: str
    delivery_id: str
    timestamp: int
    body: bytes
    attempts: int = 0
    headers: dict[str, str] | None = None
    emitted_at: float = field(default_factory=time.monotonic)


class SigningKeyError(Exception):
    """The signing key cannot be read (Secret missing, key absent, or a namespace outside the tenant)."""


class LifecycleDispatcher:
    """Queues lifecycle events per (endpoint, object) lane and delivers them in the background.

    State guarded here: the lanes and the tasks draining them. `emit` is synchronous and never waits.
    """

    def __init__(
        self,
        client: KubeClient,
        tenants: Callable[[str], Obj | None],
        namespace_labels: Callable[[str], Mapping[str, str]],
        metrics: Metrics,
        settings: DeliverySettings,
        *,
        allow_http_loopback: Callable[[], bool] = lambda: False,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Any] = asyncio.sleep,
    ) -> None:
        self.client = client
        self.tenants = tenants
        self.namespace_labels = namespace_labels
        self.metrics = metrics
        self.settings = settings
        self.allow_http_loopback = allow_http_loopback
        self.clock = clock
        self.sleep = sleep
        self._lanes: dict[tuple[str, str], collections.deque[Delivery]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._pending = 0
        self._session: aiohttp.ClientSession | None = None
        self._limit = asyncio.Semaphore(settings.concurrency)
        self._idle = asyncio.Event()
        self._idle.set()
        metrics.events_queue_depth.set_function(function=lambda: float(self._pending))

    @property
    def pending(self) -> int:
        return self._pending

    def emit(self, tenant: str, event_type: str, obj: Mapping[str, Any], data: Mapping[str, Any]) -> int:
        """Queue `event_type` about `obj` for every endpoint of `tenant` that wants it; how many were queued.
        Never blocks: a delivery that does not fit in the queue is dropped and counted."""
        if event_type not in EVENT_TYPES:
            raise ValueError(f"unknown lifecycle event type {event_type!r}")
        found = self.tenants(tenant)
        hooks = ((found or {}).get("spec") or {}).get("eventWebhooks") or []
        queued = 0
        timestamp = int(self.clock())
        object_uid = str((obj.get("metadata") or {}).get("uid") or f"{namespace_of(dict(obj))}/{name_of(dict(obj))}")
        for index, hook in enumerate(hooks if isinstance(hooks, list) else []):
            if not isinstance(hook, dict) or not isinstance(hook.get("url"), str):
                continue
            if not wants(hook.get("events"), event_type):
                continue
            endpoint = f"{tenant}[{index}]"
            if self._pending >= self.settings.queue_size:
                self.metrics.events_dropped.inc(event_type, "queue_full")
                log.warning(
                    "lifecycle event dropped: queue full",
                    extra={"tenant": tenant, "endpoint": endpoint, "event": event_type, "queued": self._pending},
                )
                continue
            delivery_id = str(uuid.uuid4())
            delivery = Delivery(
                tenant=tenant,
                endpoint=endpoint,
                url=hook["url"],
                secret_ref=hook.get("secretRef") if isinstance(hook.get("secretRef"), dict) else None,
                event_type=event_type,
                delivery_id=delivery_id,
                timestamp=timestamp,
                body=event_body(event_type, tenant, obj, data, delivery_id=delivery_id, timestamp=timestamp),
            )
            self._enqueue((f"{tenant}\x00{hook['url']}", object_uid), delivery)
            queued += 1
        return queued

    def _enqueue(self, lane_key: tuple[str, str], delivery: Delivery) -> None:
        self._pending += 1
        self._idle.clear()
        lane = self._lanes.get(lane_key)
        if lane is not None:
            lane.append(delivery)
            return
        self._lanes[lane_key] = collections.deque([delivery])
        task = asyncio.get_running_loop().create_task(self._drain(lane_key), name="lifecycle-lane")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _drain(self, lane_key: tuple[str, str]) -> None:
        lane = self._lanes[lane_key]
        try:
            while lane:
                try:
                    await self._deliver(lane[0])
                except Exception:  # a bug here must not strand the lane's later deliveries
                    self.metrics.events_failed.inc(lane[0].event_type, "error")
                    log.exception("lifecycle event delivery failed", extra={"endpoint": lane[0].endpoint})
                lane.popleft()
                self._pending -= 1
                if not self._pending:
                    self._idle.set()
        finally:
            if not lane:
                del self._lanes[lane_key]

    async def _deliver(self, delivery: Delivery) -> None:
        """Attempt until sent, refused, or out of attempts; the same body and headers every time."""
        while True:
            delivery.attempts += 1
            result = await self._attempt(delivery)
            if result == "sent":
                self.metrics.events_sent.inc(delivery.event_type)
                return
            if result == "rejected" or delivery.attempts >= self.settings.max_attempts:
                reason = "rejected" if result == "rejected" else "attempts_exhausted"
                self.metrics.events_failed.inc(delivery.event_type, reason)
                log.warning(
                    "lifecycle event not delivered",
                    extra={
                        "tenant": delivery.tenant,
                        "endpoint": delivery.endpoint,
                        "event": delivery.event_type,
                        "delivery": delivery.delivery_id,
                        "attempts": delivery.attempts,
                        "reason": reason,
                    },
                )
                return
            self.metrics.events_retries.inc(delivery.event_type)
            await self.sleep(retry_delay(delivery.attempts, self.settings.retry_base, self.settings.retry_cap))

    async def _attempt(self, delivery: Delivery) -> Outcome:
        problem = url_problem(delivery.url, allow_http_loopback=self.allow_http_loopback())
        if problem is not None:
            log.warning(
                "lifecycle event endpoint refused",
                extra={"tenant": delivery.tenant, "endpoint": delivery.endpoint, "why": problem},
            )
            return "rejected"
        if delivery.headers is None:
            try:
                key = await self._signing_key(delivery.tenant, delivery.secret_ref)
            except SigningKeyError as error:
                log.warning(
                    "lifecycle event signing key unavailable",
                    extra={"tenant": delivery.tenant, "endpoint": delivery.endpoint, "why": str(error)},
                )
                return "retry"
            signature = sign(key, delivery.body) if key is not None else None
            delivery.headers = delivery_headers(
                delivery.event_type, delivery.delivery_id, delivery.timestamp, signature
            )
        status: int | None = None
        started = time.monotonic()
        async with self._limit:
            try:
                session = self._http()
                async with session.post(
                    delivery.url, data=delivery.body, headers=delivery.headers, allow_redirects=False
                ) as response:
                    status = response.status
                    await response.read()
            except (aiohttp.ClientError, TimeoutError, OSError) as error:
                log.info(
                    "lifecycle event attempt failed",
                    extra={
                        "tenant": delivery.tenant,
                        "endpoint": delivery.endpoint,
                        "delivery": delivery.delivery_id,
                        "error": type(error).__name__,
                    },
                )
        self.metrics.events_latency.observe(delivery.event_type, value=time.monotonic() - started)
        return outcome_of(status)

    async def _signing_key(self, tenant: str, ref: Mapping[str, Any] | None) -> bytes | None:
        """The HMAC key, read only from a namespace of `tenant` (or tenantgate's own when none is written)."""
        if ref is None:
            return None
        namespace = secret_namespace(ref.get("namespace"), self.settings.own_namespace)
        if ref.get("namespace") and self.namespace_labels(namespace).get(TENANT_LABEL) != tenant:
            raise SigningKeyError(f"namespace {namespace!r} is not one of tenant {tenant!r}'s")
        name, key = str(ref.get("name") or ""), str(ref.get("key") or "hmac-key")
        try:
            secret = await self.client.get(SECRETS, name, namespace)
        except ApiError as error:
            raise SigningKeyError(f"reading Secret {namespace}/{name} failed ({error.status})") from None
        encoded = ((secret or {}).get("data") or {}).get(key)
        if not isinstance(encoded, str) or not encoded:
            raise SigningKeyError(f"Secret {namespace}/{name} has no key {key!r}")
        try:
            return base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise SigningKeyError(f"Secret {namespace}/{name} key {key!r} is not base64") from None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            context = ssl.create_default_context()
            if self.settings.ca_file:
                context.load_verify_locations(cafile=self.settings.ca_file)
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=context),
                timeout=aiohttp.ClientTimeout(total=self.settings.timeout),
            )
        return self._session

    async def wait_idle(self) -> None:
        """Until nothing is pending (delivered, refused or given up)."""
        await self._idle.wait()

    async def close(self) -> None:
        """Stop delivering: pending deliveries are abandoned (they live in memory only)."""
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._lanes.clear()
        self._pending = 0
        self._idle.set()
        if self._session is not None:
            await self._session.close()
            self._session = None
