"""The Manager: one API client, shared informers, controllers, leader election and the health server.

Informers are shared: two controllers watching the same (kind, namespace, selectors) share one list+watch and
one cache. Caches start at once on every replica; workers start only on the leader, so a standby takes over
with warm caches. Children a controller owns are watched through a `managed-by=tenantgate` label selector, so
the controller never caches other people's Secrets or ConfigMaps.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import signal
import time
from collections.abc import Callable, Mapping

from controller.applier import Applier
from controller.config import ManagerConfig
from controller.context import Context
from controller.events import EventRecorder, default_instance
from controller.health import HealthServer, build_app
from controller.leader import LeaderConfig, LeaderElector
from controller.lifecycle import DeliverySettings, LifecycleDispatcher, Transitions
from controller.metrics import Metrics
from controller.queue import Backoff
from controller.runtime import Controller, ReconcileFunc
from controller.status import StatusWriter
from crds.kubeop import GROUP, VERSION
from kube.client import CONFIGMAPS, NAMESPACES, Connection, Discovery, KubeClient, ResourceType, load_connection
from kube.informer import Informer
from kube.objects import Obj, labels_of, resource_version_of
from tenancy.labels import FIELD_MANAGER, INVENTORY_LABEL, MANAGED_BY_LABEL, MANAGED_BY_VALUE
from tenancy.policy import POLICY_CONFIGMAP, GlobalPolicy, policy_from_configmap_data

log = logging.getLogger(__name__)

OWNED_SELECTOR = f"{MANAGED_BY_LABEL}={MANAGED_BY_VALUE}"


class Manager:
    def __init__(self, config: ManagerConfig | None = None, connection: Connection | None = None) -> None:
        self.config = config or ManagerConfig()
        self.metrics = Metrics()
        self._connection = connection
        self._client: KubeClient | None = None
        self._discovery: Discovery | None = None
        self._informers: dict[tuple[str, str, str, str | None, str | None, Callable[[Obj], Obj] | None], Informer] = {}
        self._by_kind: dict[tuple[str, str], Informer] = {}
        self._owned: dict[tuple[str, str], Informer] = {}
        self.controllers: dict[str, Controller] = {}
        self.identity = self.config.identity or default_instance()
        self.elector: LeaderElector | None = None
        self._health: HealthServer | None = None
        self._lead_task: asyncio.Task[None] | None = None
        self._catch_up_task: asyncio.Task[None] | None = None
        self.caught_up = asyncio.Event()
        """Set once every controller's queue first drained after the workers started (see `_watch_catch_up`)."""
        self._started = False
        self._lost = asyncio.Event()
        self._stopped = asyncio.Event()
        self._settings_cache: tuple[str, GlobalPolicy] | None = None

    # ---- wiring --------------------------------------------------------------------------------------------

    @property
    def client(self) -> KubeClient:
        if self._client is None:
            connection = self._connection or load_connection(self.config.kubeconfig, self.config.context)
            self._client = KubeClient(
                connection, self.metrics, user_agent="tenantgate-controller", field_manager=FIELD_MANAGER
            )
        return self._client

    @property
    def discovery(self) -> Discovery:
        if self._discovery is None:
            self._discovery = Discovery(self.client, retry_after=self.config.rediscovery_interval)
        return self._discovery

    @functools.cached_property
    def events(self) -> EventRecorder:
        return EventRecorder(self.client, instance=self.identity)

    @functools.cached_property
    def applier(self) -> Applier:
        return Applier(self.client, self.discovery, self.lookup, self.events)

    @functools.cached_property
    def status_writer(self) -> StatusWriter:
        return StatusWriter(self.client)

    @functools.cached_property
    def lifecycle(self) -> LifecycleDispatcher:
        """The lifecycle event dispatcher, with the Tenant and project Namespace caches it reads (created before
        the caches start, by the first controller that emits)."""
        tenants = self.informer(f"{GROUP}/{VERSION}", "Tenant")
        namespaces = self.owned(NAMESPACES.api_version, NAMESPACES.kind)
        return LifecycleDispatcher(
            self.client,
            lambda name: tenants.get("", name),
            lambda name: labels_of(namespaces.get("", name) or {}),
            self.metrics,
            DeliverySettings.from_env(self.config.env, self.settings_namespace),
            allow_http_loopback=lambda: self.settings().events_allow_http_loopback,
        )

    def informer(
        self,
        api_version: str,
        kind: str,
        *,
        namespace: str = "",
        label_selector: str | None = None,
        field_selector: str | None = None,
        transform: Callable[[Obj], Obj] | None = None,
    ) -> Informer:
        """The shared informer for this (kind, namespace, selectors, transform), created on first use. A
        transformed cache holds trimmed objects, so it never stands for the kind (`informer_of`)."""
        key = (api_version, kind, namespace, label_selector, field_selector, transform)
        informer = self._informers.get(key)
        if informer is None:
            informer = Informer(
                self.client,
                self.discovery,
                api_version,
                kind,
                namespace=namespace,
                label_selector=label_selector,
                field_selector=field_selector,
                inventory_label=INVENTORY_LABEL,
                metrics=self.metrics,
                watch_timeout=self.config.watch_timeout,
                rediscovery_interval=self.config.rediscovery_interval,
                transform=transform,
            )
            self._informers[key] = informer
            if not namespace and label_selector is None and field_selector is None and transform is None:
                # Only a whole-kind cache answers "the informer of a kind"; a filtered one would silently
                # hide objects from a reconciler that asked for the kind.
                self._by_kind[(api_version, kind)] = informer
            if self._started:
                informer.start()
        return informer

    def owned(self, api_version: str, kind: str) -> Informer:
        """The informer of children of this kind that tenantgate manages (the applier's cache for the kind)."""
        informer = self.informer(api_version, kind, label_selector=OWNED_SELECTOR)
        self._owned[(api_version, kind)] = informer
        self._by_kind[(api_version, kind)] = informer
        return informer

    def informer_of(self, api_version: str, kind: str) -> Informer:
        """The unfiltered informer of a kind; KeyError when only filtered ones (or none) exist."""
        return self._by_kind[(api_version, kind)]

    def lookup(self, rt: ResourceType) -> Informer | None:
        """The cache the applier reads children of `rt` from: the owned informer of the kind, if any."""
        return self._owned.get((rt.api_version, rt.kind))

    def add_controller(
        self,
        name: str,
        primary: Informer,
        reconcile: ReconcileFunc,
        *,
        degraded_condition: bool = False,
        transitions: Transitions | None = None,
    ) -> Controller:
        """A controller of `primary`; with `transitions`, its status changes become lifecycle events."""
        backoff = Backoff(base=self.config.backoff_base, cap=self.config.backoff_cap)
        context = Context(
            self,
            self.client,
            self.discovery,
            self.applier,
            self.status_writer,
            self.events,
            primary,
            lifecycle=self.lifecycle if transitions is not None else None,
            transitions=transitions,
        )
        controller = Controller(
            name,
            primary,
            reconcile,
            context,
            workers=self.config.workers,
            backoff=backoff,
            metrics=self.metrics,
            dependency_requeue=self.config.rediscovery_interval,
            degraded_condition=degraded_condition,
        )
        self.controllers[name] = controller
        return controller

    # ---- settings ------------------------------------------------------------------------------------------

    @property
    def settings_namespace(self) -> str:
        return self.config.settings_namespace or self.config.lease_namespace

    def settings_informer(self) -> Informer:
        return self.informer(
            CONFIGMAPS.api_version,
            CONFIGMAPS.kind,
            namespace=self.settings_namespace,
            field_selector=f"metadata.name={POLICY_CONFIGMAP}",
        )

    def settings(self) -> GlobalPolicy:
        """The global policy now (ConfigMap kubeop-policy over the environment), parsed once per ConfigMap version."""
        configmap = self.settings_informer().store.get(f"{self.settings_namespace}/{POLICY_CONFIGMAP}")
        version = resource_version_of(configmap) if configmap else ""
        if self._settings_cache is None or self._settings_cache[0] != version:
            data = (configmap or {}).get("data") or {}
            policy = policy_from_configmap_data(data, self.config.env, namespace=self.settings_namespace)
            self._settings_cache = (version, policy)
        return self._settings_cache[1]

    # ---- lifecycle -----------------------------------------------------------------------------------------

    def unsynced(self) -> list[str]:
        return [informer.name for informer in self._informers.values() if not informer.ready]

    @property
    def health_port(self) -> int | None:
        return self._health.port if self._health else None

    async def wait_synced(self) -> None:
        """Until every informer has synced (or is known not to be served); informers created meanwhile count."""
        while True:
            pending = [informer for informer in self._informers.values() if not informer.ready]
            if not pending:
                return
            await asyncio.gather(*(informer.wait_ready() for informer in pending))

    async def start(self) -> None:
        if self._started:
            return
        self._started = True
        if self.config.health_port is not None:
            self._health = HealthServer(
                build_app(self.metrics, self.unsynced), self.config.health_host, self.config.health_port
            )
            await self._health.start()
        for informer in list(self._informers.values()):
            informer.start()
        if self.config.leader_elect:
            self.elector = LeaderElector(
                self.client,
                LeaderConfig(
                    namespace=self.config.lease_namespace,
                    name=self.config.lease_name,
                    identity=self.identity,
                    lease_duration=self.config.lease_duration,
                    renew_deadline=self.config.renew_deadline,
                    retry_period=self.config.retry_period,
                ),
                self.metrics,
            )
        self._lead_task = asyncio.create_task(self._lead(), name="leader")
        log.info(
            "controller manager started",
            extra={"identity": self.identity, "controllers": ",".join(self.controllers), "port": self.health_port},
        )

    async def _lead(self) -> None:
        if self.elector is not None:
            await self.elector.acquire()
        await self.wait_synced()  # reconciling from a partial cache would prune or recreate children wrongly
        started = time.monotonic()  # before the workers: one can drain a queue of no-op reconciles in one go
        for controller in self.controllers.values():
            controller.start()
        self._catch_up_task = asyncio.create_task(self._watch_catch_up(started), name="catch-up")
        if self.elector is not None:
            await self.elector.hold()
            self._lost.set()
            await self._stop_controllers()  # a replica that lost the Lease must stop acting at once

    async def _watch_catch_up(self, started: float) -> None:
        """Mark the end of the initial pass: every key the first lists queued has been reconciled, and the writes
        (and the watch events they caused) have settled. A restarted controller with nothing to change logs this
        after reading every object once; the time is a gauge and a log line."""
        queues = [controller.queue for controller in self.controllers.values()]
        while not all(queue.idle for queue in queues):  # one queue's work can wake another's
            await asyncio.gather(*(queue.wait_idle() for queue in queues))
        seconds = time.monotonic() - started
        self.metrics.caught_up.set(value=seconds)
        self.caught_up.set()
        log.info("controllers caught up", extra={"identity": self.identity, "seconds": round(seconds, 3)})

    async def _stop_controllers(self) -> None:
        await asyncio.gather(
            *(controller.shutdown(self.config.shutdown_timeout) for controller in self.controllers.values())
        )

    async def wait(self, stop: asyncio.Event | None = None) -> bool:
        """Wait until `stop` is set or leadership is lost; True when leadership was lost."""
        waiters = [asyncio.create_task(self._lost.wait()), asyncio.create_task(self._stopped.wait())]
        if stop is not None:
            waiters.append(asyncio.create_task(stop.wait()))
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
        return self._lost.is_set()

    async def shutdown(self) -> None:
        """Graceful stop: no new keys, in-flight reconciles finish, the Lease is released, watches stop."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        for task in (self._lead_task, self._catch_up_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self._stop_controllers()
        if "lifecycle" in self.__dict__:
            await self.lifecycle.close()
        if self.elector is not None:
            await self.elector.release()
        await asyncio.gather(*(informer.stop() for informer in self._informers.values()))
        if self._health is not None:
            await self._health.stop()
        if self._client is not None:
            await self._client.close()
        log.info("controller manager stopped", extra={"identity": self.identity})

    async def run(self, stop: asyncio.Event | None = None) -> int:
        """Start, wait for `stop` (or a lost Lease), shut down. Exit code 1 when leadership was lost."""
        await self.start()
        try:
            lost = await self.wait(stop)
        finally:
            await self.shutdown()
        return 1 if lost else 0


Setup = Callable[[Manager], None]
"""A reconciler's `setup(manager)`: it declares its informers, watches and controller on the Manager."""


def build_manager(config: ManagerConfig, setups: Mapping[str, Setup], connection: Connection | None = None) -> Manager:
    """A Manager with the `setups` named in `config.reconcilers` (all of them when None); unknown names raise
    ValueError. The caller hands the setups over, so the engine never imports the reconcilers it runs."""
    chosen = list(setups) if config.reconcilers is None else list(config.reconcilers)
    unknown = [name for name in chosen if name not in setups]
    if unknown:
        raise ValueError(f"unknown reconciler(s) {', '.join(unknown)}; known: {', '.join(setups)}")
    manager = Manager(config, connection)
    for name in chosen:
        setups[name](manager)
    return manager


async def run_controller(
    config: ManagerConfig, setups: Mapping[str, Setup], install_signal_handlers: bool = False
) -> int:
    """Run the controller until SIGTERM/SIGINT (when `install_signal_handlers`) or leadership loss."""
    manager = build_manager(config, setups)
    stop = asyncio.Event()
    if install_signal_handlers:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(signum, stop.set)
    return await manager.run(stop)
