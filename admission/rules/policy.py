"""The global policy in force for one request, read from the cluster view.

`tenancy.policy` parses ConfigMap `kubeop-policy` over the environment (one parser, shared with the controller);
this module finds the ConfigMap in the view. Where it comes from, in order:

1. a view that implements `PolicySource.global_policy()` (the production view may compute it once per
   ConfigMap event);
2. a view with ClusterState's `get(resource, name, namespace)` holding ConfigMap `kubeop-policy` under the key
   `("", "ConfigMap")`: parsed here, and cached by the identity of that ConfigMap object (the store replaces
   the object on every watch event, so an edit is a new identity);
3. otherwise the environment alone.

The environment is re-read on every call (a few dictionary lookups) and is part of the cache key.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping, Sequence
from typing import Any, Final, Protocol, runtime_checkable

from admission.view import CONFIGMAP, POLICY
from tenancy.policy import (
    EGRESS_BASELINE,
    KNOBS,
    OWN_NAMESPACE_ENV,
    POLICY_CONFIGMAP,
    GlobalPolicy,
    IPNetwork,
    own_namespace,
    policy_from_configmap_data,
)

__all__ = [
    "CONFIGMAP",
    "EGRESS_BASELINE",
    "KNOBS",
    "OWN_NAMESPACE_ENV",
    "POLICY_CONFIGMAP",
    "GlobalPolicy",
    "IPNetwork",
    "PolicySource",
    "egress_policies",
    "global_policy",
    "policy_from_configmap_data",
]


POLICY_KIND: Final = POLICY


@runtime_checkable
class PolicySource(Protocol):
    """What a `ClusterView` may additionally provide so rules need not look up the ConfigMap themselves.

    `egress_policies()` returns the raw `paas.kubeop.io` Policy objects (cluster-scoped). A view without
    this protocol is asked through ClusterState's `get`/`objects` instead (see the module docstring).
    """

    def global_policy(self) -> GlobalPolicy: ...

    def egress_policies(self) -> Sequence[Mapping[str, Any]]: ...


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
    namespace = own_namespace(env)
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
