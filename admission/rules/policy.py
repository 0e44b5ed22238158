"""The platform-wide knobs every guardrail reads, and where they come from.

kubeOP's four knobs keep their names (`KUBEOP_IMAGE_ALLOWLIST`, `KUBEOP_EGRESS_BASELINE`,
`KUBEOP_QUOTA_MAX_REQUESTS_CPU`, `KUBEOP_QUOTA_MAX_REQUESTS_MEMORY`); tenantgate adds who counts as a platform
admin (`TENANTGATE_ADMIN_GROUPS`, `TENANTGATE_ADMIN_USERS`). Each is read from ConfigMap `kubeop-policy` in
tenantgate's namespace when the key is present there, else from the process environment, so a platform team
changes policy with `kubectl edit configmap` and the next request sees it: no restart, no re-rollout.

Rules never read the environment or the cluster themselves: they call `global_policy(view)` and get one frozen
`GlobalPolicy`. Where it comes from, in order:

1. a view that implements `PolicySource.global_policy()` (the production view may compute it once per
   ConfigMap event);
2. a view with ClusterState's `get(resource, name, namespace)` holding ConfigMap `kubeop-policy` under the key
   `("", "ConfigMap")`: parsed here, and cached by the identity of that ConfigMap object (the store replaces
   the object on every watch event, so an edit is a new identity);
3. otherwise the environment alone.

The environment is re-read on every call (four dictionary lookups) and is part of the cache key.

Values that cannot be parsed are not silently dropped: they are recorded in `problems`, and the rules that
depend on them fail closed with a message that names the knob, so a typo in the ConfigMap never opens a hole.
"""

from __future__ import annotations

import ipaddress
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Final, Protocol, runtime_checkable

from admission.view import (
    CONFIGMAP,
    DEFAULT_NAMESPACE,
    OWN_NAMESPACE_ENV,
    POLICY,
    POLICY_CONFIGMAP,
)
from kube.imageref import normalize_registry_entry
from kube.quantity import QuantityError, parse_quantity

IMAGE_ALLOWLIST: Final = "KUBEOP_IMAGE_ALLOWLIST"
EGRESS_BASELINE: Final = "KUBEOP_EGRESS_BASELINE"
QUOTA_MAX_CPU: Final = "KUBEOP_QUOTA_MAX_REQUESTS_CPU"
QUOTA_MAX_MEMORY: Final = "KUBEOP_QUOTA_MAX_REQUESTS_MEMORY"
ADMIN_GROUPS: Final = "TENANTGATE_ADMIN_GROUPS"
ADMIN_USERS: Final = "TENANTGATE_ADMIN_USERS"
KNOBS: Final = (IMAGE_ALLOWLIST, EGRESS_BASELINE, QUOTA_MAX_CPU, QUOTA_MAX_MEMORY, ADMIN_GROUPS, ADMIN_USERS)

POLICY_KIND: Final = POLICY
DEFAULT_ADMIN_GROUPS: Final = frozenset({"system:masters"})

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def own_service_account(namespace: str = DEFAULT_NAMESPACE) -> str:
    """The username of tenantgate's own controller and webhook: always a platform admin."""
    return f"system:serviceaccount:{namespace}:tenantgate"


@dataclass(frozen=True, slots=True)
class GlobalPolicy:
    """Platform-wide policy, immutable; rules narrow it further with each Tenant's fields."""

    image_allowlist: tuple[str, ...] = ()
    """Normalised registries or repository prefixes; empty allows every registry (kubeOP's meaning)."""
    egress_baseline: tuple[IPNetwork, ...] = ()
    """CIDRs tenant NetworkPolicies may open egress to; empty leaves egress ipBlocks unrestricted."""
    quota_max_requests_cpu: Fraction | None = None
    quota_max_requests_cpu_text: str = ""
    quota_max_requests_memory: Fraction | None = None
    quota_max_requests_memory_text: str = ""
    admin_groups: frozenset[str] = DEFAULT_ADMIN_GROUPS
    admin_users: frozenset[str] = frozenset({own_service_account()})
    tenantgate_user: str = own_service_account()
    problems: Mapping[str, str] = field(default_factory=dict)
    """Knob name -> why its value was rejected; rules that need the knob deny while it is broken."""

    def problem(self, knob: str) -> str | None:
        return self.problems.get(knob)


@runtime_checkable
class PolicySource(Protocol):
    """What a `ClusterView` may additionally provide so rules need not look up the ConfigMap themselves.

    `egress_policies()` returns the raw `paas.kubeop.io` Policy objects (cluster-scoped). A view without
    this protocol is asked through ClusterState's `get`/`objects` instead (see the module docstring).
    """

    def global_policy(self) -> GlobalPolicy: ...

    def egress_policies(self) -> Sequence[Mapping[str, Any]]: ...


def _split(value: str) -> list[str]:
    return [item.strip() for item in value.replace("\n", ",").split(",") if item.strip()]


def _quantity(value: str, knob: str, problems: dict[str, str]) -> Fraction | None:
    if not value.strip():
        return None
    try:
        return parse_quantity(value.strip())
    except QuantityError as exc:
        problems[knob] = f"{knob}={value!r} is not a quantity ({exc})"
        return None


def policy_from_configmap_data(
    data: Mapping[str, Any] | None, env: Mapping[str, str], *, namespace: str | None = None
) -> GlobalPolicy:
    """The policy for ConfigMap `data` (None when there is no ConfigMap) over environment `env`.

    A key present in the ConfigMap wins, even when empty (an empty allowlist there means "allow all", as in
    kubeOP's manager API); an absent key falls back to the environment.
    """

    def knob(name: str) -> str:
        if data is not None and name in data:
            value = data[name]
            return value if isinstance(value, str) else str(value or "")
        return env.get(name, "")

    problems: dict[str, str] = {}
    allowlist = tuple(dict.fromkeys(normalize_registry_entry(e) for e in _split(knob(IMAGE_ALLOWLIST))))
    baseline: list[IPNetwork] = []
    for entry in _split(knob(EGRESS_BASELINE)):
        try:
            baseline.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            problems[EGRESS_BASELINE] = f"{EGRESS_BASELINE} entry {entry!r} is not a CIDR"
    cpu_text = knob(QUOTA_MAX_CPU).strip()
    memory_text = knob(QUOTA_MAX_MEMORY).strip()
    own_ns = namespace or env.get(OWN_NAMESPACE_ENV) or DEFAULT_NAMESPACE
    own = own_service_account(own_ns)
    groups_text = knob(ADMIN_GROUPS)
    groups = frozenset(_split(groups_text)) if groups_text.strip() else DEFAULT_ADMIN_GROUPS
    users = frozenset({own, *_split(knob(ADMIN_USERS))})
    return GlobalPolicy(
        image_allowlist=allowlist,
        egress_baseline=tuple(baseline),
        quota_max_requests_cpu=_quantity(cpu_text, QUOTA_MAX_CPU, problems),
        quota_max_requests_cpu_text=cpu_text,
        quota_max_requests_memory=_quantity(memory_text, QUOTA_MAX_MEMORY, problems),
        quota_max_requests_memory_text=memory_text,
        admin_groups=groups,
        admin_users=users,
        tenantgate_user=own,
        problems=problems,
    )


class _Cache:
    """One entry: the last (ConfigMap object, environment values) and the policy built from them.

    Holding the ConfigMap object itself (not its id) keeps identity comparison sound.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.key: tuple[object, tuple[str | None, ...]] | None = None
        self.policy: GlobalPolicy | None = None


_cache = _Cache()


def _policy_configmap(view: object, namespace: str) -> Mapping[str, Any] | None:
    get = getattr(view, "get", None)
    if not callable(get):
        return None
    found = get(CONFIGMAP, POLICY_CONFIGMAP, namespace)
    return found if isinstance(found, Mapping) else None


def global_policy(view: object) -> GlobalPolicy:
    """The policy in force for this request; see the module docstring for the sources, in order."""
    provided = getattr(view, "global_policy", None)
    if callable(provided):  # a PolicySource (getattr: a runtime Protocol check costs more per request)
        policy = provided()
        if isinstance(policy, GlobalPolicy):
            return policy
    env = os.environ
    namespace = env.get(OWN_NAMESPACE_ENV) or DEFAULT_NAMESPACE
    configmap = _policy_configmap(view, namespace)
    key = (configmap, (namespace, *(env.get(k) for k in KNOBS)))
    with _cache.lock:
        if _cache.key is not None and _cache.key[0] is key[0] and _cache.key[1] == key[1] and _cache.policy:
            return _cache.policy
    data = configmap.get("data") if configmap is not None else None
    policy = policy_from_configmap_data(data if isinstance(data, Mapping) else None, env, namespace=namespace)
    with _cache.lock:
        _cache.key, _cache.policy = key, policy
    return policy


def egress_policies(view: object) -> Sequence[Mapping[str, Any]]:
    """The `paas.kubeop.io` Policy objects the view knows (none when it does not watch them)."""
    provided = getattr(view, "egress_policies", None)
    if callable(provided):
        policies = provided()
        return policies if isinstance(policies, Sequence) else ()
    objects = getattr(view, "objects", None)
    if not callable(objects):
        return ()
    found = objects(POLICY_KIND)
    return found if isinstance(found, list) else ()
