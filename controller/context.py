"""What a reconcile is handed: the client, the shared caches and writers, and its controller's primary kind.

The Manager builds one Context per controller and hands it to every reconcile of that controller. This module
sits between the engine and the reconcilers and imports neither: it reaches the Manager through `ManagerView`,
a protocol the Manager satisfies, so the Manager can build Contexts without a reversed dependency.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from controller.applier import Applier
from controller.config import ManagerConfig
from controller.events import EventRecorder
from controller.lifecycle import LifecycleDispatcher, Transitions, tenant_of
from controller.metrics import Metrics
from controller.status import StatusWriter
from kube.client import Discovery, KubeClient, ResourceType
from kube.informer import Informer
from kube.objects import Obj
from tenancy.policy import GlobalPolicy


class ManagerView(Protocol):
    """The Manager as a reconcile sees it: its configuration, shared informers and the platform settings."""

    config: ManagerConfig
    metrics: Metrics

    @property
    def settings_namespace(self) -> str: ...

    def informer(
        self,
        api_version: str,
        kind: str,
        *,
        namespace: str = "",
        label_selector: str | None = None,
        field_selector: str | None = None,
        transform: Callable[[Obj], Obj] | None = None,
    ) -> Informer: ...

    def informer_of(self, api_version: str, kind: str) -> Informer: ...

    def owned(self, api_version: str, kind: str) -> Informer: ...

    def settings_informer(self) -> Informer: ...

    def settings(self) -> GlobalPolicy: ...


@dataclass(frozen=True)
class Context:
    """What a reconcile may use: caches (through the manager), the client, the applier, status and Events.

    `primary` is the informer of the kind the controller reconciles; the applier, status writer and Event
    recorder are shared by every controller, since what they remember of past writes is the process's.
    """

    manager: ManagerView
    client: KubeClient
    discovery: Discovery
    applier: Applier
    status: StatusWriter
    events: EventRecorder
    primary: Informer
    lifecycle: LifecycleDispatcher | None = None
    """Delivers lifecycle events to tenants' endpoints; None for controllers that emit none."""
    transitions: Transitions | None = None
    """What a status change of the primary kind means as lifecycle events (see `write_status`)."""

    def informer(self, api_version: str, kind: str) -> Informer:
        """The informer registered for a kind (primary, owned or watched); KeyError when none is."""
        return self.manager.informer_of(api_version, kind)

    def owned(self, api_version: str, kind: str) -> Informer:
        """The cache of children of a kind that tenantgate manages (`managed-by=tenantgate`)."""
        return self.manager.owned(api_version, kind)

    def settings(self) -> GlobalPolicy:
        return self.manager.settings()

    async def primary_resource(self) -> ResourceType:
        """The API resource of the primary kind: the informer resolved it before listing what is reconciled,
        so discovery is asked only when the informer has not run (an object written into its cache directly)."""
        primary = self.primary
        return primary.resource or await self.discovery.resolve(primary.api_version, primary.kind)

    async def write_status(self, obj: Obj, status: Mapping[str, Any]) -> bool:
        """Merge `status` into the status subresource of `obj`, a primary object, only where it differs from
        the cached object; True when a write happened."""
        old = obj.get("status") if isinstance(obj.get("status"), dict) else None
        found = self.transitions(old, {**(old or {}), **status}) if self.transitions else []
        written = await self.status.update(await self.primary_resource(), obj, status, self.primary)
        if written:
            for event_type, data in found:
                self.emit(event_type, obj, data)
        return written

    def emit(self, event_type: str, obj: Mapping[str, Any], data: Mapping[str, Any]) -> int:
        """Queue lifecycle event `event_type` about `obj` for its tenant's endpoints (never waits); how many
        deliveries were queued. Status transitions emit on their own through `write_status`; call this for
        events no status write marks, such as `project.deleted`."""
        if self.lifecycle is None:
            return 0
        tenant = tenant_of(obj, self.lifecycle.namespace_labels)
        return self.lifecycle.emit(tenant, event_type, obj, data) if tenant else 0
