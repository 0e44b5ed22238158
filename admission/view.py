"""A read-only view of the cluster facts that admission rules need, answered from memory.

Admission never calls the API server (so it is fast, free of side effects, and works while the API server is
slow), so every cross-object fact comes from here: Tenants and Projects by name, Namespaces with their
tenant/project labels, which tenant claims a hostname, the parsed rules of each Tenant, the kubeOP Policies and the
global policy from ConfigMap `kubeop-policy`. Rules depend on the `ClusterView` protocol only;
`InMemoryClusterView` backs unit tests and `tenantgate review`, and `webhook.watched.WatchedClusterView`
feeds the same `ClusterState` from watches in production.

Objects are stored raw (the dicts the API server returned) and handed out as-is: callers must treat them
as read-only. What every request reads parsed is parsed once per watch event instead: a Tenant's rules when the
Tenant changes, the global policy when its ConfigMap changes.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol

from tenancy.hosts import normalize_host
from tenancy.labels import TENANT_LABEL
from tenancy.policy import POLICY_CONFIGMAP, GlobalPolicy, own_namespace, policy_from_configmap_data
from tenancy.tenants import TenantRules, parse_tenant

ResourceKey = tuple[str, str]
"""(API group, kind): `("", "Namespace")`, `("paas.kubeop.io", "Tenant")`, ..."""

TENANT: Final[ResourceKey] = ("paas.kubeop.io", "Tenant")
PROJECT: Final[ResourceKey] = ("paas.kubeop.io", "Project")
NAMESPACE: Final[ResourceKey] = ("", "Namespace")
INGRESS: Final[ResourceKey] = ("networking.k8s.io", "Ingress")
APP: Final[ResourceKey] = ("paas.kubeop.io", "App")
DNS_RECORD: Final[ResourceKey] = ("paas.kubeop.io", "DNSRecord")
CERTIFICATE: Final[ResourceKey] = ("paas.kubeop.io", "Certificate")
DJANGO: Final[ResourceKey] = ("thismatters.github", "Django")
POLICY: Final[ResourceKey] = ("paas.kubeop.io", "Policy")
CONFIGMAP: Final[ResourceKey] = ("", "ConfigMap")
"""Only ConfigMap `kubeop-policy` in tenantgate's namespace is watched: the global policy knobs."""


HOST_SOURCES: Final[tuple[ResourceKey, ...]] = (INGRESS, APP, DNS_RECORD, CERTIFICATE, DJANGO)
"""Kinds whose objects claim hostnames (`blindage.org/v2` Django has no host field)."""

WATCHED: Final[tuple[ResourceKey, ...]] = (TENANT, PROJECT, NAMESPACE, POLICY, CONFIGMAP, *HOST_SOURCES)

ObjectKey = tuple[str, str]
"""(namespace, name); the namespace is empty for cluster-scoped objects."""


@dataclass(frozen=True, slots=True)
class HostClaim:
    """One object that uses a hostname, and the tenant it belongs to (None outside tenant namespaces).

    `host` is the (normalised) host the object claims, which for an overlapping claim differs from the one asked
    about: `*.apps.example` when `shop.apps.example` was asked."""

    host: str
    group: str
    kind: str
    namespace: str
    name: str
    tenant: str | None
    created: str = ""


class ClusterView(Protocol):
    """What admission rules may ask about the rest of the cluster. Every answer comes from memory."""

    @property
    def synced(self) -> bool:
        """True once every watched kind has been listed at least once (`/readyz` reports this)."""
        ...

    def tenant(self, name: str) -> Mapping[str, Any] | None: ...

    def tenant_names(self) -> frozenset[str]: ...

    def project(self, name: str) -> Mapping[str, Any] | None: ...

    def projects_of(self, tenant: str) -> list[Mapping[str, Any]]: ...

    def namespace(self, name: str) -> Mapping[str, Any] | None: ...

    def namespace_labels(self, name: str) -> Mapping[str, str]: ...

    def tenant_of_namespace(self, name: str) -> str | None: ...

    def host_claims(self, host: str) -> tuple[HostClaim, ...]:
        """The objects claiming `host` or a host overlapping it under Ingress wildcard rules, oldest first."""
        ...

    def host_owner(self, host: str) -> str | None: ...

    def tenant_rules(self, name: str) -> TenantRules | None:
        """The parsed guardrail fields of Tenant `name`, if it exists."""
        ...

    def global_policy(self) -> GlobalPolicy:
        """ConfigMap `kubeop-policy` in tenantgate's namespace over the environment."""
        ...

    def policies(self) -> list[Mapping[str, Any]]:
        """The kubeOP `Policy` objects (egress exceptions)."""
        ...


# -- pure helpers ------------------------------------------------------------------------------------------


def resource_key(raw: Mapping[str, Any]) -> ResourceKey:
    """(group, kind) of a raw object from its `apiVersion` and `kind`."""
    api_version = str(raw.get("apiVersion") or "")
    group = api_version.rpartition("/")[0] if "/" in api_version else ""
    return group, str(raw.get("kind") or "")


def object_key(raw: Mapping[str, Any]) -> ObjectKey:
    metadata = raw.get("metadata") or {}
    return str(metadata.get("namespace") or ""), str(metadata.get("name") or "")


def labels_of(raw: Mapping[str, Any] | None) -> Mapping[str, str]:
    if not raw:
        return {}
    labels = (raw.get("metadata") or {}).get("labels")
    return labels if isinstance(labels, dict) else {}


SERVER_ALIAS_ANNOTATION: Final = "nginx.ingress.kubernetes.io/server-alias"
"""ingress-nginx serves an Ingress under these names too (comma-separated); they are hosts like the rules' own."""


def server_aliases(raw: Mapping[str, Any]) -> list[str]:
    """The names of an Ingress's server-alias annotation, split as ingress-nginx splits them (at commas; at blanks
    too, which older releases passed through to `server_name` as more names)."""
    annotations = (raw.get("metadata") or {}).get("annotations")
    value = annotations.get(SERVER_ALIAS_ANNOTATION) if isinstance(annotations, dict) else None
    if not isinstance(value, str):
        return []
    return [name for name in value.replace(",", " ").split() if name]


def host_fields(resource: ResourceKey, raw: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Every (field path, host as written) an object claims, in document order; pure.

    Ingress: `spec.rules[].host`, `spec.tls[].hosts[]` and the server-alias annotation; the custom kinds:
    `spec.host`. The host index and the host rule both read hosts here, so what is judged is what is indexed.
    """
    raw_spec = raw.get("spec")
    spec: Mapping[str, Any] = raw_spec if isinstance(raw_spec, dict) else {}
    found: list[tuple[str, str]] = []
    if resource == INGRESS:
        rules = spec.get("rules")
        for index, rule in enumerate(rules if isinstance(rules, list) else []):
            if isinstance(rule, dict) and isinstance(rule.get("host"), str) and rule["host"].strip():
                found.append((f"spec.rules[{index}].host", rule["host"]))
        tls_entries = spec.get("tls")
        for index, tls in enumerate(tls_entries if isinstance(tls_entries, list) else []):
            if not isinstance(tls, dict) or not isinstance(tls.get("hosts"), list):
                continue
            for position, host in enumerate(tls["hosts"]):
                if isinstance(host, str) and host.strip():
                    found.append((f"spec.tls[{index}].hosts[{position}]", host))
        path = f'metadata.annotations["{SERVER_ALIAS_ANNOTATION}"]'
        found.extend((path, alias) for alias in server_aliases(raw))
    elif resource in HOST_SOURCES:
        host = spec.get("host")
        if isinstance(host, str) and host.strip():
            found.append(("spec.host", host))
    return found


def hosts_of(resource: ResourceKey, raw: Mapping[str, Any]) -> frozenset[str]:
    """The normalised hostnames an object claims (see `host_fields`)."""
    return frozenset(normalize_host(host) for _, host in host_fields(resource, raw))


def parent_domain(host: str) -> str:
    """`apps.example` for `shop.apps.example` and for `*.apps.example`; empty for a single label."""
    return host.partition(".")[2]


def overlapping_hosts(host: str, hosts_below: Callable[[str], Iterable[str]]) -> list[str]:
    """The other (normalised) hosts that name some of the same names as `host`, as Ingress wildcards match.

    A wildcard `*.apps.example` covers exactly one label in its place: `shop.apps.example`, not `apps.example` nor
    `a.shop.apps.example`. So a concrete host overlaps the wildcard one level up, and a wildcard overlaps the
    concrete hosts directly below its parent, which `hosts_below(parent)` lists from an index.
    """
    parent = parent_domain(host)
    if not parent:
        return []
    if host.startswith("*."):
        return [h for h in hosts_below(parent) if h != host]
    return [f"*.{parent}"]


# -- the store ---------------------------------------------------------------------------------------------


class ClusterState:
    """Thread-safe stores of the watched kinds plus the host index; implements `ClusterView`.

    Informer threads write, the event loop reads; one lock guards both because every operation is a few
    dictionary steps (well under a microsecond of holding time).
    """

    def __init__(self, kinds: Iterable[ResourceKey] = WATCHED, env: Mapping[str, str] | None = None) -> None:
        self._env = env if env is not None else os.environ
        self._policy: GlobalPolicy | None = None
        self._tenant_rules: dict[str, TenantRules] = {}
        self._lock = threading.RLock()
        self._stores: dict[ResourceKey, dict[ObjectKey, Mapping[str, Any]]] = {k: {} for k in kinds}
        self._listed: set[ResourceKey] = set()
        self._hosts: dict[str, set[tuple[ResourceKey, ObjectKey]]] = {}
        self._hosts_below: dict[str, set[str]] = {}
        """Parent domain -> the claimed concrete hosts one label below it: what a wildcard there covers."""

    # writes (informers) -------------------------------------------------------------------------------

    def replace(self, resource: ResourceKey, objects: Iterable[Mapping[str, Any]]) -> None:
        """Swap in the full result of a list call and mark the kind as listed."""
        fresh = {object_key(obj): obj for obj in objects}
        with self._lock:
            store = self._stores.setdefault(resource, {})
            for key in [k for k in store if k not in fresh]:
                self._unindex(resource, key, store.pop(key))
            for key, obj in fresh.items():
                self._put(resource, key, obj)
            self._listed.add(resource)

    def upsert(self, resource: ResourceKey, obj: Mapping[str, Any]) -> None:
        with self._lock:
            self._stores.setdefault(resource, {})
            self._put(resource, object_key(obj), obj)

    def delete(self, resource: ResourceKey, obj: Mapping[str, Any]) -> None:
        key = object_key(obj)
        with self._lock:
            old = self._stores.get(resource, {}).pop(key, None)
            if old is not None:
                self._unindex(resource, key, old)

    def mark_listed(self, resource: ResourceKey) -> None:
        with self._lock:
            self._listed.add(resource)

    def _put(self, resource: ResourceKey, key: ObjectKey, obj: Mapping[str, Any]) -> None:
        store = self._stores[resource]
        old = store.get(key)
        if old is not None:
            self._unindex(resource, key, old)
        store[key] = obj
        if resource == TENANT:
            self._tenant_rules[key[1]] = parse_tenant(obj)
        elif resource == CONFIGMAP:
            self._policy = None
        if resource in HOST_SOURCES:
            for host in hosts_of(resource, obj):
                claimants = self._hosts.setdefault(host, set())
                if not claimants and not host.startswith("*.") and (parent := parent_domain(host)):
                    self._hosts_below.setdefault(parent, set()).add(host)
                claimants.add((resource, key))

    def _unindex(self, resource: ResourceKey, key: ObjectKey, obj: Mapping[str, Any]) -> None:
        if resource == TENANT:
            self._tenant_rules.pop(key[1], None)
        elif resource == CONFIGMAP:
            self._policy = None
        if resource not in HOST_SOURCES:
            return
        for host in hosts_of(resource, obj):
            owners = self._hosts.get(host)
            if owners is None:
                continue
            owners.discard((resource, key))
            if owners:
                continue
            del self._hosts[host]
            parent = parent_domain(host)
            below = self._hosts_below.get(parent)
            if below is not None:
                below.discard(host)
                if not below:
                    del self._hosts_below[parent]

    # reads (admission) --------------------------------------------------------------------------------

    @property
    def synced(self) -> bool:
        with self._lock:
            return all(kind in self._listed for kind in self._stores)

    def unsynced_kinds(self) -> list[ResourceKey]:
        with self._lock:
            return [kind for kind in self._stores if kind not in self._listed]

    def get(self, resource: ResourceKey, name: str, namespace: str = "") -> Mapping[str, Any] | None:
        with self._lock:
            return self._stores.get(resource, {}).get((namespace, name))

    def objects(self, resource: ResourceKey) -> list[Mapping[str, Any]]:
        with self._lock:
            return list(self._stores.get(resource, {}).values())

    def tenant(self, name: str) -> Mapping[str, Any] | None:
        return self.get(TENANT, name)

    def tenant_names(self) -> frozenset[str]:
        with self._lock:
            return frozenset(name for _, name in self._stores.get(TENANT, {}))

    def project(self, name: str) -> Mapping[str, Any] | None:
        return self.get(PROJECT, name)

    def projects_of(self, tenant: str) -> list[Mapping[str, Any]]:
        return [p for p in self.objects(PROJECT) if (p.get("spec") or {}).get("tenantRef") == tenant]

    def namespace(self, name: str) -> Mapping[str, Any] | None:
        return self.get(NAMESPACE, name)

    def namespace_labels(self, name: str) -> Mapping[str, str]:
        return labels_of(self.namespace(name))

    def tenant_of_namespace(self, name: str) -> str | None:
        tenant = self.namespace_labels(name).get(TENANT_LABEL)
        return tenant or None

    def host_claims(self, host: str) -> tuple[HostClaim, ...]:
        """Every object claiming `host` or a host overlapping it (the wildcard that covers it; for a wildcard, the
        hosts it covers: see `overlapping_hosts`), oldest first. Each claim names the host it claims. Tenants are
        resolved now, so relabelled namespaces are reflected without re-indexing.

        Two dictionary lookups for a concrete host; for a wildcard, one per claimed host directly below its parent
        (from the parent index), never a scan of every host."""
        wanted = normalize_host(host)
        with self._lock:
            keys = [wanted, *overlapping_hosts(wanted, lambda parent: self._hosts_below.get(parent, ()))]
            entries = [
                (claimed, res, key, self._stores[res][key])
                for claimed in keys
                for res, key in self._hosts.get(claimed, ())
            ]
        claims = [self._claim(claimed, res, key, obj) for claimed, res, key, obj in entries]
        claims.sort(key=lambda c: (c.created, c.group, c.kind, c.namespace, c.name, c.host))
        return tuple(claims)

    def host_owner(self, host: str) -> str | None:
        """The tenant of the oldest claim on `host` (or on a host overlapping it) that belongs to a tenant, or None."""
        for claim in self.host_claims(host):
            if claim.tenant:
                return claim.tenant
        return None

    def tenant_rules(self, name: str) -> TenantRules | None:
        with self._lock:
            return self._tenant_rules.get(name)

    def global_policy(self) -> GlobalPolicy:
        """Parsed on first use after each change of ConfigMap `kubeop-policy` (and at start, from the environment)."""
        with self._lock:
            policy = self._policy
            if policy is None:
                namespace = own_namespace(self._env)
                configmap = self._stores.get(CONFIGMAP, {}).get((namespace, POLICY_CONFIGMAP))
                data = configmap.get("data") if configmap is not None else None
                policy = self._policy = policy_from_configmap_data(
                    data if isinstance(data, Mapping) else None, self._env, namespace=namespace
                )
            return policy

    def policies(self) -> list[Mapping[str, Any]]:
        return self.objects(POLICY)

    def _claim(self, host: str, resource: ResourceKey, key: ObjectKey, obj: Mapping[str, Any]) -> HostClaim:
        namespace, name = key
        tenant = self.tenant_of_namespace(namespace) if namespace else labels_of(obj).get(TENANT_LABEL)
        created = str((obj.get("metadata") or {}).get("creationTimestamp") or "")
        return HostClaim(host, resource[0], resource[1], namespace, name, tenant or None, created)


class InMemoryClusterView(ClusterState):
    """A `ClusterView` filled from a list of raw objects: unit tests and offline `tenantgate review`."""

    @classmethod
    def from_objects(cls, objects: Iterable[Mapping[str, Any]], *, synced: bool = True) -> InMemoryClusterView:
        """Index the objects of the watched kinds (others are ignored); `synced=False` mimics a cold start."""
        view = cls()
        grouped: dict[ResourceKey, list[Mapping[str, Any]]] = {kind: [] for kind in WATCHED}
        for obj in objects:
            kind = resource_key(obj)
            if kind in grouped:
                grouped[kind].append(obj)
        for kind, items in grouped.items():
            if synced:
                view.replace(kind, items)
            else:
                for item in items:
                    view.upsert(kind, item)
        return view
