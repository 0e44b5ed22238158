"""The resources admission rules judge: what a rule's (group, kind) is as the API server routes it.

A rule is registered for kinds; the API server routes requests by resource (group, version, plural, scope). This
catalogue joins the two, so the webhook configurations are generated from the registered rules
(`admission.configuration`) and a kind that is judged but not routed, or routed but not judged, cannot happen.
The custom kinds come from the models (`crds.registry`); the built-in kinds are the ones tenant workloads use.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from crds.registry import KINDS


@dataclass(frozen=True, slots=True)
class Resource:
    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool

    @property
    def key(self) -> tuple[str, str]:
        return self.group, self.kind

    @property
    def scope(self) -> str:
        return "Namespaced" if self.namespaced else "Cluster"


BUILTIN_RESOURCES: Final = (
    Resource("", "v1", "Namespace", "namespaces", False),
    Resource("", "v1", "Pod", "pods", True),
    Resource("", "v1", "ReplicationController", "replicationcontrollers", True),
    Resource("", "v1", "Service", "services", True),
    Resource("", "v1", "ResourceQuota", "resourcequotas", True),
    Resource("", "v1", "LimitRange", "limitranges", True),
    Resource("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", True),
    Resource("apps", "v1", "Deployment", "deployments", True),
    Resource("apps", "v1", "StatefulSet", "statefulsets", True),
    Resource("apps", "v1", "DaemonSet", "daemonsets", True),
    Resource("apps", "v1", "ReplicaSet", "replicasets", True),
    Resource("batch", "v1", "Job", "jobs", True),
    Resource("batch", "v1", "CronJob", "cronjobs", True),
    Resource("networking.k8s.io", "v1", "Ingress", "ingresses", True),
    Resource("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", True),
)
"""The built-in kinds tenantgate judges; tenant workloads among them are routed from tenant namespaces only."""

CUSTOM_RESOURCES: Final = tuple(
    Resource(info.group, info.version, info.kind, info.plural, info.scope == "Namespaced") for info in KINDS
)
"""tenantgate's own kinds, routed from every namespace but the system ones."""

CUSTOM_KINDS: Final = tuple(resource.key for resource in CUSTOM_RESOURCES)
TENANT_WORKLOAD_KINDS: Final = tuple(r.key for r in BUILTIN_RESOURCES if r.namespaced)
"""The built-in kinds of a tenant's namespaces: labelled with their tenancy, frozen with a cordoned tenant."""

_BY_KEY: Final = {resource.key: resource for resource in (*BUILTIN_RESOURCES, *CUSTOM_RESOURCES)}


class UnroutableKind(LookupError):
    """A rule is registered for a kind the catalogue cannot route."""


def resource_of(group: str, kind: str) -> Resource:
    found = _BY_KEY.get((group, kind))
    if found is None:
        raise UnroutableKind(
            f"{kind}.{group or 'core'} has admission rules but no route: add it to admission.resources so the API "
            "server sends it to the webhook"
        )
    return found
