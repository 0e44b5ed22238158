"""The production `ClusterView`: informers (one list + watch per kind) feeding a `ClusterState`.

Admission must never call the API server on a request, so every cross-object fact comes from caches kept
current by watches. The webhook uses the runtime's informer (`kube.informer`), the controller's too: the same
list, bookmark-resumed watch, relist on 410 Gone, and tolerance of kinds that are not served (a kind whose CRD
is absent counts as listed and empty, so it never holds `/readyz` hostage). The informers run in the server's
own event loop, so the state they update is only ever touched from one thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from admission.view import (
    APP,
    CERTIFICATE,
    CONFIGMAP,
    DJANGO,
    DNS_RECORD,
    INGRESS,
    NAMESPACE,
    POLICY,
    PROJECT,
    TENANT,
    WATCHED,
    ClusterState,
    ResourceKey,
)
from kube.client import Discovery, KubeClient, load_connection
from kube.informer import Informer
from kube.store import Change
from tenancy.labels import FIELD_MANAGER
from tenancy.policy import POLICY_CONFIGMAP, own_namespace

KUBEOP: Final = "paas.kubeop.io/v1alpha1"


@dataclass(frozen=True)
class WatchSpec:
    api_version: str
    namespace: str = ""
    field_selector: str | None = None


def watch_specs(namespace: str) -> dict[ResourceKey, WatchSpec]:
    """What to list and watch per kind; of ConfigMaps, only `kubeop-policy` in tenantgate's namespace."""
    return {
        TENANT: WatchSpec(KUBEOP),
        PROJECT: WatchSpec(KUBEOP),
        APP: WatchSpec(KUBEOP),
        DNS_RECORD: WatchSpec(KUBEOP),
        CERTIFICATE: WatchSpec(KUBEOP),
        POLICY: WatchSpec(KUBEOP),
        DJANGO: WatchSpec("thismatters.github/v1alpha"),
        NAMESPACE: WatchSpec("v1"),
        INGRESS: WatchSpec("networking.k8s.io/v1"),
        CONFIGMAP: WatchSpec("v1", namespace, f"metadata.name={POLICY_CONFIGMAP}"),
    }


def apply_change(state: ClusterState, resource: ResourceKey, change: Change) -> None:
    """Mirror one informer change into the view's state (indexes included)."""
    if change.new is None:
        if change.old is not None:
            state.delete(resource, change.old)
    else:
        state.upsert(resource, change.new)


class WatchedClusterView(ClusterState):
    """A `ClusterView` whose every watched kind is fed by an informer; `synced` once each has listed."""

    def __init__(self, client: KubeClient, namespace: str | None = None) -> None:
        specs = watch_specs(namespace or own_namespace(os.environ))
        if set(specs) != set(WATCHED):
            raise AssertionError("every watched kind needs a watch spec")
        super().__init__(specs.keys())
        self.client = client
        discovery = Discovery(client)
        self.informers: dict[ResourceKey, Informer] = {}
        for resource, spec in specs.items():
            informer = Informer(
                client,
                discovery,
                spec.api_version,
                resource[1],
                namespace=spec.namespace,
                field_selector=spec.field_selector,
            )
            informer.add_handler(functools.partial(apply_change, self, resource))
            self.informers[resource] = informer
        self._tasks: list[asyncio.Task[None]] = []

    @classmethod
    def from_kubeconfig(cls, kubeconfig: Path | None) -> WatchedClusterView:
        """In-cluster credentials when `kubeconfig` is None (the webhook's service account)."""
        return cls(
            KubeClient(load_connection(kubeconfig), user_agent="tenantgate-webhook", field_manager=FIELD_MANAGER)
        )

    async def _mark_listed_when_ready(self, resource: ResourceKey, informer: Informer) -> None:
        await informer.wait_ready()
        self.mark_listed(resource)

    def start(self) -> None:
        """Start every informer in the running event loop."""
        for resource, informer in self.informers.items():
            self._tasks.append(informer.start())
            self._tasks.append(asyncio.create_task(self._mark_listed_when_ready(resource, informer)))

    async def wait_synced(self) -> None:
        await asyncio.gather(*(informer.wait_ready() for informer in self.informers.values()))

    async def stop(self) -> None:
        for informer in self.informers.values():
            await informer.stop()
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        await self.client.close()


async def snapshot(kubeconfig: Path | None, limit_seconds: float = 60) -> ClusterState:
    """List every watched kind once (the informers' first step) and stop: `tenantgate review --cluster`.

    Raises TimeoutError when the cluster does not answer within `limit_seconds`.
    """
    view = WatchedClusterView.from_kubeconfig(kubeconfig)
    view.start()
    try:
        async with asyncio.timeout(limit_seconds):
            await view.wait_synced()
    finally:
        await view.stop()
    return view
