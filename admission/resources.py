"""The resources admission rules judge: what a rule's (group, kind) is as the API server routes it.

A rule is registered for kinds; the API server routes requests by resource (group, version, plural, scope). This
catalogue joins the two, so the webhook configurations are generated from the registered rules
(`admission.configuration`) and a kind that is judged but not routed, or routed but not judged, cannot happen.
The custom kinds come from the models (`crds.registry`); the built-in kinds are the ones tenant workloads use,
described by the runtime (`kube.client`).
"""

from __future__ import annotations

from typing import Final

from crds.registry import KINDS
from kube.client import (
    CRON_JOBS,
    DAEMON_SETS,
    DEPLOYMENTS,
    INGRESSES,
    JOBS,
    LIMIT_RANGES,
    NAMESPACES,
    NETWORK_POLICIES,
    PODS,
    PVCS,
    REPLICA_SETS,
    REPLICATION_CONTROLLERS,
    RESOURCE_QUOTAS,
    SERVICES,
    STATEFUL_SETS,
    ResourceType,
)

BUILTIN_RESOURCES: Final = (
    NAMESPACES,
    PODS,
    REPLICATION_CONTROLLERS,
    SERVICES,
    RESOURCE_QUOTAS,
    LIMIT_RANGES,
    PVCS,
    DEPLOYMENTS,
    STATEFUL_SETS,
    DAEMON_SETS,
    REPLICA_SETS,
    JOBS,
    CRON_JOBS,
    INGRESSES,
    NETWORK_POLICIES,
)
"""The built-in kinds tenantgate judges; tenant workloads among them are routed from tenant namespaces only."""

CUSTOM_RESOURCES: Final = tuple(
    ResourceType(info.group, info.version, info.kind, info.plural, info.scope == "Namespaced") for info in KINDS
)
"""tenantgate's own kinds, routed from every namespace but the system ones."""


def kind_key(resource: ResourceType) -> tuple[str, str]:
    """(group, kind): how rules are registered."""
    return resource.group, resource.kind


def scope_of(resource: ResourceType) -> str:
    """The scope as webhook rules name it."""
    return "Namespaced" if resource.namespaced else "Cluster"


CUSTOM_KINDS: Final = tuple(kind_key(resource) for resource in CUSTOM_RESOURCES)
TENANT_WORKLOAD_KINDS: Final = tuple(kind_key(r) for r in BUILTIN_RESOURCES if r.namespaced)
"""The built-in kinds of a tenant's namespaces: labelled with their tenancy, frozen with a cordoned tenant."""

_BY_KEY: Final = {kind_key(resource): resource for resource in (*BUILTIN_RESOURCES, *CUSTOM_RESOURCES)}


class UnroutableKind(LookupError):
    """A rule is registered for a kind the catalogue cannot route."""


def resource_of(group: str, kind: str) -> ResourceType:
    found = _BY_KEY.get((group, kind))
    if found is None:
        raise UnroutableKind(
            f"{kind}.{group or 'core'} has admission rules but no route: add it to admission.resources so the API "
            "server sends it to the webhook"
        )
    return found
