"""What DNSRecord and Certificate share: publishing one cluster-scoped object to an outside system.

Both kinds reach the outside world through one of two backends, chosen at every reconcile:

- an HTTP provider named by kubeOP's knob (`DNS_MOCK_URL`, `ACME_MOCK_URL`): a JSON `POST` that counts only
  when answered 2xx, retried with exponential backoff, undone (`action: delete`) under a finalizer;
- otherwise a child custom resource (external-dns `DNSEndpoint`, cert-manager `Certificate`) when its CRD is
  served, applied by the applier and pruned when the owner goes; its controller's status says whether it worked.

Neither backend leaves the object `Ready=False` with reason `DependencyMissing`, looked at again every
rediscovery interval (a CRD can be installed later).

The objects are cluster-scoped and their children namespaced: a child goes to the oldest namespace of the
tenant named by the object's `app.kubeop.io/tenant` label (stamped by admission), or to tenantgate's own
namespace for an object of no tenant (a platform admin's). Provider URLs may carry credentials, so they never
appear in a message, an Event, a status or a log line: errors name the provider by its role only.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from controller.applier import child_key
from controller.conditions import Condition, now_rfc3339, set_condition
from controller.context import Context
from controller.finalizers import ensure_finalizer, remove_finalizer
from controller.logs import fields
from controller.metrics import Metrics
from controller.reconcilers.tenancy import TENANT_LABEL, schema_status, status_of
from controller.runtime import DONE, Result
from kube.client import NAMESPACES, NotServed
from kube.objects import Obj, finalizers_of, generation_of, is_deleting, labels_of, meta, name_of, object_key, uid_of

log = logging.getLogger(__name__)

PROVIDER_TIMEOUT_SECONDS = 10.0
RETRY_BASE_SECONDS = 1.0
RETRY_CAP_SECONDS = 300.0


# ---- pure ----------------------------------------------------------------------------------------------------


def tenant_of(obj: Mapping[str, Any]) -> str:
    return str(labels_of(obj).get(TENANT_LABEL) or "")


def child_namespace(tenant: str, tenant_namespaces: Sequence[Mapping[str, Any]], own_namespace: str) -> str | None:
    """Where the children of a cluster-scoped object of `tenant` go. Pure.

    The tenant's oldest namespace (then by name), so the choice is stable while projects come and go; tenantgate's
    own namespace for an object of no tenant; None while the tenant has no namespace yet.
    """
    if not tenant:
        return own_namespace
    alive = [ns for ns in tenant_namespaces if not is_deleting(ns) and labels_of(ns).get(TENANT_LABEL) == tenant]
    if not alive:
        return None
    oldest = min(alive, key=lambda ns: (str(meta(ns).get("creationTimestamp") or ""), name_of(ns)))
    return name_of(oldest)


def payload_digest(payload: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def retry_delay(failures: int, base: float = RETRY_BASE_SECONDS, cap: float = RETRY_CAP_SECONDS) -> float:
    """Seconds before the next call after `failures` consecutive failures: base, 2*base, 4*base... up to cap."""
    if failures <= 0:
        return 0.0
    return float(min(cap, base * 2 ** min(failures - 1, 32)))


def publish_status(
    obj: Mapping[str, Any], ready: bool, reason: str, message: str, short: str, now: str
) -> dict[str, Any]:
    """kubeOP's `ready` and `message` (`short`), plus `observedGeneration` and the `Ready` condition. Pure."""
    condition = Condition("Ready", "True" if ready else "False", reason, message)
    generation = generation_of(obj)
    conditions = set_condition(status_of(obj).get("conditions"), condition, generation, now)
    wanted = {"ready": ready, "message": short, "observedGeneration": generation, "conditions": conditions}
    return schema_status(str(obj.get("apiVersion", "")), str(obj.get("kind", "")), wanted)


def condition_of(obj: Mapping[str, Any] | None, condition_type: str) -> Mapping[str, Any] | None:
    for condition in status_of(obj or {}).get("conditions") or []:
        if isinstance(condition, Mapping) and condition.get("type") == condition_type:
            return condition
    return None


# ---- the HTTP provider -----------------------------------------------------------------------------------------


class ProviderError(Exception):
    """The provider did not accept a call. The message names the provider by role, never by URL."""

    def __init__(self, message: str, outcome: str) -> None:
        super().__init__(message)
        self.outcome = outcome
        """The metric's `outcome` label: `http_4xx`, `http_5xx`, `http_other`, `unreachable` or `timeout`."""


def answer_outcome(status: int, absent_is_done: bool = False) -> str:
    """The `outcome` label of an answered call: `accepted` (2xx), `absent` (a 404 that counts as done), or the
    status class. Pure; never the URL, the body or the exact status, so the label set stays small."""
    if 200 <= status < 300:
        return "accepted"
    if absent_is_done and status == 404:
        return "absent"
    if 400 <= status < 600:
        return f"http_{status // 100}xx"
    return "http_other"


@dataclass
class Provider:
    """An HTTP provider (kubeOP's DNS or ACME mock, or anything speaking its JSON): calls, backoff, memory.

    Holds per-object state across reconciles: the digest of the last accepted upsert (so a steady state sends
    nothing, and a wake-up by our own status write sends nothing either) and consecutive failures with the time
    before which no new call is made (so retries back off whatever wakes the object).
    """

    role: str
    url: str
    timeout: float = PROVIDER_TIMEOUT_SECONDS
    clock: Callable[[], float] = time.monotonic
    label: str = ""
    """The `provider` label of its metrics (`dns`, `acme`): a name, never the URL, which may hold credentials."""
    metrics: Metrics | None = None
    published: dict[str, str] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)
    not_before: dict[str, float] = field(default_factory=dict)
    calls: int = 0

    async def send(self, payload: Mapping[str, Any], *, absent_is_done: bool = False) -> None:
        """POST `payload` as JSON; ProviderError unless answered 2xx (or 404 with `absent_is_done`).

        Every call is counted by outcome and timed, when the provider has metrics."""
        self.calls += 1
        started = time.monotonic()
        try:
            outcome = await self._post(payload, absent_is_done)
        except ProviderError as error:
            self._record(payload, error.outcome, started)
            raise
        self._record(payload, outcome, started)

    def _record(self, payload: Mapping[str, Any], outcome: str, started: float) -> None:
        if self.metrics is not None:
            self.metrics.provider_requests.inc(self.label, str(payload.get("action") or ""), outcome)
            self.metrics.provider_latency.observe(self.label, value=time.monotonic() - started)

    async def _post(self, payload: Mapping[str, Any], absent_is_done: bool) -> str:
        """The call itself: the outcome of an accepted call, or ProviderError."""
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        try:
            async with (
                aiohttp.ClientSession(timeout=timeout) as session,
                session.post(self.url, json=dict(payload), headers={"Accept": "application/json"}) as response,
            ):
                await response.read()
                outcome = answer_outcome(response.status, absent_is_done)
                if outcome not in ("accepted", "absent"):
                    raise ProviderError(f"{self.role} answered HTTP {response.status}", outcome)
                return outcome
        except aiohttp.ClientError as error:
            raise ProviderError(f"{self.role} unreachable ({type(error).__name__})", "unreachable") from None
        except TimeoutError:
            raise ProviderError(f"{self.role} did not answer within {self.timeout:g}s", "timeout") from None

    def wait_before_next(self, uid: str) -> float:
        """Seconds to wait before calling again for `uid` (0: call now)."""
        return max(0.0, self.not_before.get(uid, 0.0) - self.clock())

    def failed(self, uid: str) -> float:
        """Record a failure; returns the backoff before the next call."""
        count = self.failures.get(uid, 0) + 1
        self.failures[uid] = count
        delay = retry_delay(count)
        self.not_before[uid] = self.clock() + delay
        return delay

    def succeeded(self, uid: str, digest: str | None) -> None:
        self.failures.pop(uid, None)
        self.not_before.pop(uid, None)
        if digest is None:
            self.published.pop(uid, None)
        else:
            self.published[uid] = digest


def provider_from_env(
    env: Mapping[str, str], knob: str, path: str, role: str, label: str = "", metrics: Metrics | None = None
) -> Provider | None:
    """The provider `knob` names (None when unset), counting its calls in `metrics` under `provider=label`."""
    base = (env.get(knob) or "").strip()
    return Provider(role, base.rstrip("/") + path, label=label, metrics=metrics) if base else None


# ---- the reconcile shared by both kinds ------------------------------------------------------------------------

Readiness = tuple[bool, str, str]
"""(ready, condition reason, condition message) of a child custom resource."""


@dataclass(frozen=True)
class PublishedKind:
    """How one kind is published: its knob and provider, its child kind, and the pure functions of each side."""

    kind: str
    knob: str
    finalizer: str
    child: tuple[str, str]
    child_crd: str
    ready_reason: str
    provider_message: str
    """`status.message` once the provider accepted the object (kubeOP's words: "mocked", "issued")."""
    payload: Callable[[Obj, str], dict[str, Any]]
    """(object, action) -> the provider's JSON body."""
    build_child: Callable[[Obj, str, Context], Obj]
    """(object, namespace, ctx) -> the child custom resource."""
    child_readiness: Callable[[Obj], Readiness]
    child_message: Callable[[bool], str]


async def _served(ctx: Context, child: tuple[str, str]) -> bool:
    try:
        await ctx.discovery.resolve(*child)
    except NotServed:
        return False
    return True


async def report(ctx: Context, obj: Obj, ready: bool, reason: str, message: str, short: str) -> None:
    """Write `status.ready`, `status.message` (`short`), `observedGeneration` and the `Ready` condition."""
    await ctx.write_status(obj, publish_status(obj, ready, reason, message, short, now_rfc3339()))


async def finalize(obj: Obj, ctx: Context, kind: PublishedKind, provider: Provider | None) -> Result:
    """Undo the publication of an object being deleted, then let it go."""
    if kind.finalizer not in finalizers_of(obj):
        return DONE
    rt, uid = await ctx.primary_resource(), uid_of(obj)
    if provider is not None:
        wait = provider.wait_before_next(uid)
        if wait > 0:
            return Result(requeue_after=wait)
        try:
            await provider.send(kind.payload(obj, "delete"), absent_is_done=True)
        except ProviderError as error:
            delay = provider.failed(uid)
            await ctx.events.warning(
                obj, "ProviderFailed", f"Could not withdraw {kind.kind}: {error}; retry in {delay:g}s"
            )
            return Result(requeue_after=delay)
        provider.succeeded(uid, None)
        await ctx.events.normal(obj, "Withdrawn", f"{provider.role} withdrew {kind.kind} {name_of(obj)}", "Delete")
    await ctx.applier.apply(obj, rt, [], prune=[kind.child])
    await remove_finalizer(ctx.client, rt, obj, kind.finalizer, ctx.primary)
    return DONE


async def publish(obj: Obj, ctx: Context, kind: PublishedKind, provider: Provider | None) -> Result:
    """Publish through the provider when its knob is set, else through the child CRD, else DependencyMissing."""
    rt = await ctx.primary_resource()
    if provider is None and not await _served(ctx, kind.child):
        message = f"Neither {kind.knob} is set nor CustomResourceDefinition {kind.child_crd} installed"
        await report(ctx, obj, False, "DependencyMissing", message, message)
        await ctx.events.warning(obj, "DependencyMissing", message)
        return Result(requeue_after=ctx.manager.config.rediscovery_interval)
    obj = await ensure_finalizer(ctx.client, rt, obj, kind.finalizer, ctx.primary)
    if provider is not None:
        return await _publish_to_provider(obj, ctx, kind, provider)
    tenant = tenant_of(obj)
    namespaces = ctx.owned(NAMESPACES.api_version, NAMESPACES.kind).store.objects() if tenant else []
    namespace = child_namespace(tenant, namespaces, ctx.manager.settings_namespace)
    if namespace is None:
        message = f'Tenant "{tenant}" has no namespace yet for the {kind.child[1]}'
        await report(ctx, obj, False, "WaitingForNamespace", message, message)
        return DONE  # a namespace of the tenant appearing wakes the object
    child = kind.build_child(obj, namespace, ctx)
    applied = await ctx.applier.apply(obj, rt, [child], prune=[kind.child])
    live = applied.applied.get(child_key(child)) or child
    ready, reason, message = kind.child_readiness(live)
    await report(ctx, obj, ready, reason, message, kind.child_message(ready))
    return DONE  # the child's status changing wakes the object


async def _publish_to_provider(obj: Obj, ctx: Context, kind: PublishedKind, provider: Provider) -> Result:
    uid, rt = uid_of(obj), await ctx.primary_resource()
    await ctx.applier.apply(obj, rt, [], prune=[kind.child])  # a child from before the knob was set goes
    payload = kind.payload(obj, "upsert")
    digest = payload_digest(payload)
    if provider.published.get(uid) != digest:
        wait = provider.wait_before_next(uid)
        if wait > 0:
            return Result(requeue_after=wait)
        try:
            await provider.send(payload)
        except ProviderError as error:
            delay = provider.failed(uid)
            message = f"{error}; retry in {delay:g}s"
            await report(ctx, obj, False, "ProviderFailed", message, str(error))
            await ctx.events.warning(obj, "ProviderFailed", f"Could not publish {kind.kind}: {message}")
            log.warning("provider call failed", extra=fields(kind.kind, object_key(obj), error=str(error)))
            return Result(requeue_after=delay)
        provider.succeeded(uid, digest)
        await ctx.events.normal(obj, "Published", f"{provider.role} accepted {kind.kind} {name_of(obj)}", "Publish")
    message = f"Accepted by the {provider.role}"
    await report(ctx, obj, True, kind.ready_reason, message, kind.provider_message)
    return DONE
