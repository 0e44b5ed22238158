"""Leader election on a `coordination.k8s.io/v1` Lease: one active replica, the others warm and waiting.

Expiry is judged on the candidate's own clock: a candidate notes *when it saw* the Lease record last change and
takes over once `leaseDurationSeconds` pass without another change, so clock skew between replicas cannot cause
two leaders. The leader renews every `retry_period`; if it cannot renew for `renew_deadline` it steps down
(`renew_deadline < lease_duration`, so it stops acting before anyone else may start). On graceful shutdown it
releases the Lease (empty holder) so a standby takes over at once instead of after a full lease duration.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

import aiohttp

from controller.events import default_instance, micro_time
from controller.metrics import Metrics, controller_metrics
from kube.client import LEASES, ApiError, KubeClient
from kube.objects import Obj

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LeaderConfig:
    namespace: str = "tenantgate-system"
    name: str = "tenantgate-controller"
    identity: str = ""
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0


class Decision(Enum):
    CREATE = "create"
    TAKE = "take"
    RENEW = "renew"
    WAIT = "wait"


def lease_decision(spec: Mapping[str, Any] | None, identity: str, observed_at: float | None, now: float) -> Decision:
    """What a candidate should do with the Lease it just read. Pure."""
    if spec is None:
        return Decision.CREATE
    holder = spec.get("holderIdentity") or ""
    if holder == identity:
        return Decision.RENEW
    if not holder:
        return Decision.TAKE
    duration = float(spec.get("leaseDurationSeconds") or 0)
    if observed_at is None or now - observed_at >= duration:
        return Decision.TAKE
    return Decision.WAIT


def lease_spec(
    previous: Mapping[str, Any] | None, identity: str, duration: float, decision: Decision, now: str
) -> dict[str, Any]:
    """The Lease spec to write for `decision` (CREATE, TAKE or RENEW). Pure."""
    spec = dict(previous or {})
    spec.update({"holderIdentity": identity, "leaseDurationSeconds": max(1, int(duration)), "renewTime": now})
    if decision in (Decision.CREATE, Decision.TAKE):
        spec["acquireTime"] = now
        transitions = int(spec.get("leaseTransitions") or 0)
        spec["leaseTransitions"] = transitions + 1 if decision is Decision.TAKE else transitions
    return spec


class LeaderElector:
    def __init__(
        self,
        client: KubeClient,
        config: LeaderConfig,
        metrics: Metrics | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self.config = config if config.identity else LeaderConfig(**{**config.__dict__, "identity": default_instance()})
        self._metrics = metrics or controller_metrics(client.metrics)
        self._clock = clock
        self._lease: Obj | None = None
        self._observed: tuple[Any, ...] | None = None
        self._observed_at: float | None = None
        self.is_leader = False

    @property
    def identity(self) -> str:
        return self.config.identity

    def _observe(self, spec: Mapping[str, Any]) -> None:
        record = (spec.get("holderIdentity"), spec.get("renewTime"), spec.get("leaseTransitions"))
        if record != self._observed:
            self._observed = record
            self._observed_at = self._clock()

    async def try_acquire_or_renew(self) -> bool:
        """One round: read the Lease (unless we hold a fresh copy), decide, write. True when we hold it after."""
        lease = self._lease if self.is_leader and self._lease is not None else None
        if lease is None:
            lease = await self._client.get(LEASES, self.config.name, self.config.namespace)
        spec = lease.get("spec") if lease is not None else None
        if spec is not None:
            self._observe(spec)
        decision = lease_decision(spec, self.identity, self._observed_at, self._clock())
        if decision is Decision.WAIT:
            return False
        new_spec = lease_spec(spec, self.identity, self.config.lease_duration, decision, micro_time())
        try:
            if lease is None:
                body: Obj = {
                    "apiVersion": "coordination.k8s.io/v1",
                    "kind": "Lease",
                    "metadata": {"name": self.config.name, "namespace": self.config.namespace},
                    "spec": new_spec,
                }
                result = await self._client.create(LEASES, body)
            else:
                body = copy.deepcopy(lease)
                body["spec"] = new_spec
                result = await self._client.update(LEASES, body)
        except ApiError as error:
            self._lease = None
            if error.conflict or error.status == 409:
                return False
            raise
        self._lease = result
        self._observe(new_spec)
        if not self.is_leader:
            log.info("acquired leadership", extra={"lease": self.config.name, "identity": self.identity})
        self.is_leader = True
        self._metrics.leader.set(value=1)
        return True

    async def acquire(self) -> None:
        """Block until this replica holds the Lease."""
        while True:
            try:
                if await self.try_acquire_or_renew():
                    return
            except (TimeoutError, ApiError, aiohttp.ClientError, OSError) as error:
                log.warning("leader election attempt failed", extra={"error": str(error)})
            await asyncio.sleep(self.config.retry_period * random.uniform(1.0, 1.2))

    async def hold(self) -> None:
        """Renew until renewal has failed for `renew_deadline`; returns when leadership is lost."""
        while True:
            await asyncio.sleep(self.config.retry_period)
            deadline = self._clock() + self.config.renew_deadline
            while True:
                try:
                    if await asyncio.wait_for(self.try_acquire_or_renew(), timeout=self.config.renew_deadline):
                        break
                except (TimeoutError, ApiError, aiohttp.ClientError, OSError) as error:
                    log.warning("lease renewal failed", extra={"error": str(error)})
                if self._clock() >= deadline:
                    self._step_down()
                    return
                await asyncio.sleep(self.config.retry_period / 4)

    def _step_down(self) -> None:
        log.error("lost leadership", extra={"lease": self.config.name, "identity": self.identity})
        self.is_leader = False
        self._lease = None
        self._metrics.leader.set(value=0)

    async def release(self) -> None:
        """Give the Lease up (graceful shutdown) so a standby can take over without waiting for expiry."""
        if not self.is_leader or self._lease is None:
            return
        body = copy.deepcopy(self._lease)
        spec = dict(body.get("spec") or {})
        spec.update({"holderIdentity": "", "leaseDurationSeconds": 1, "renewTime": micro_time()})
        body["spec"] = spec
        try:
            await self._client.update(LEASES, body)
        except (TimeoutError, ApiError, aiohttp.ClientError, OSError) as error:
            log.warning("could not release the lease", extra={"error": str(error)})
        self.is_leader = False
        self._lease = None
        self._metrics.leader.set(value=0)
        log.info("released leadership", extra={"lease": self.config.name, "identity": self.identity})
