"""What a tenant's projects consume now: requests and limits of their pods, storage of their claims, pod counts.

Counted the way the API server's quota admission counts (so the numbers add up with a ResourceQuota's
`status.used`): a pod counts until it reaches a terminal phase (`Succeeded`, `Failed`), whether or not a node
runs it, with its effective requests and limits: the larger of its containers' sum (plus sidecar init containers,
which keep running) and its largest ordinary init container, plus `spec.overhead`. A PersistentVolumeClaim counts
its `spec.resources.requests.storage` until it is gone.

The caches of Pods and claims hold trimmed copies (`trim_pod`, `trim_claim`): only the fields counted here, so
a cluster's pods cost a few hundred bytes each in the controller, not their full specs. Everything here is pure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from fractions import Fraction
from typing import Any, Final

from kube.objects import Obj
from kube.quantity import QuantityError, format_quantity, parse_quantity

COMPUTE: Final = ("cpu", "memory")
USAGE_RESOURCES: Final = (
    "requests.cpu",
    "limits.cpu",
    "requests.memory",
    "limits.memory",
    "requests.storage",
    "pods",
)
TERMINAL_PHASES: Final = frozenset({"Succeeded", "Failed"})


def _metadata(obj: Mapping[str, Any]) -> dict[str, Any]:
    metadata = obj.get("metadata") or {}
    kept = {k: metadata[k] for k in ("name", "namespace", "uid", "resourceVersion") if k in metadata}
    return kept


def _resources(container: Mapping[str, Any]) -> dict[str, Any]:
    resources = container.get("resources") or {}
    return {k: resources[k] for k in ("requests", "limits") if isinstance(resources.get(k), dict)}


def trim_pod(pod: Obj) -> Obj:
    """The fields of a Pod that usage counts (informer transform)."""
    spec = pod.get("spec") or {}
    trimmed_spec: dict[str, Any] = {
        "containers": [{"resources": _resources(c)} for c in spec.get("containers") or [] if isinstance(c, dict)],
        "initContainers": [
            {"resources": _resources(c), **({"restartPolicy": c["restartPolicy"]} if c.get("restartPolicy") else {})}
            for c in spec.get("initContainers") or []
            if isinstance(c, dict)
        ],
    }
    if isinstance(spec.get("overhead"), dict):
        trimmed_spec["overhead"] = spec["overhead"]
    phase = (pod.get("status") or {}).get("phase")
    return {
        "apiVersion": pod.get("apiVersion", "v1"),
        "kind": pod.get("kind", "Pod"),
        "metadata": _metadata(pod),
        "spec": trimmed_spec,
        "status": {"phase": phase} if phase else {},
    }


def trim_claim(claim: Obj) -> Obj:
    """The fields of a PersistentVolumeClaim that usage counts (informer transform)."""
    requests = ((claim.get("spec") or {}).get("resources") or {}).get("requests") or {}
    storage = requests.get("storage") if isinstance(requests, dict) else None
    return {
        "apiVersion": claim.get("apiVersion", "v1"),
        "kind": claim.get("kind", "PersistentVolumeClaim"),
        "metadata": _metadata(claim),
        "spec": {"resources": {"requests": {"storage": storage}}} if storage is not None else {},
    }


def counted_fields_changed(old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> bool:
    """Whether a trimmed object's counted fields differ (a pod's status moves often; usage seldom)."""
    if old is None or new is None:
        return True
    return {k: v for k, v in old.items() if k != "metadata"} != {k: v for k, v in new.items() if k != "metadata"}


def _amount(resources: Mapping[str, Any], section: str, name: str) -> Fraction:
    value = (resources.get(section) or {}).get(name)
    if value is None:
        return Fraction(0)
    try:
        return parse_quantity(value)
    except QuantityError:
        return Fraction(0)


def counts(pod: Mapping[str, Any]) -> bool:
    """Whether a pod still counts: it has not reached a terminal phase."""
    return (pod.get("status") or {}).get("phase") not in TERMINAL_PHASES


def pod_usage(pod: Mapping[str, Any]) -> dict[str, Fraction]:
    """Effective requests and limits of one pod, as quota admission computes them."""
    spec = pod.get("spec") or {}
    containers = [c for c in spec.get("containers") or [] if isinstance(c, dict)]
    inits = [c for c in spec.get("initContainers") or [] if isinstance(c, dict)]
    sidecars = [c for c in inits if c.get("restartPolicy") == "Always"]
    ordinary = [c for c in inits if c.get("restartPolicy") != "Always"]
    overhead = spec.get("overhead") or {}
    found: dict[str, Fraction] = {}
    for section in ("requests", "limits"):
        for name in COMPUTE:
            running = sum((_amount(_resources(c), section, name) for c in containers + sidecars), Fraction(0))
            peak = max((_amount(_resources(c), section, name) for c in ordinary), default=Fraction(0))
            extra = _amount({"o": overhead}, "o", name)
            found[f"{section}.{name}"] = max(running, peak) + extra
    return found


def namespace_usage(pods: Iterable[Mapping[str, Any]], claims: Iterable[Mapping[str, Any]]) -> dict[str, Fraction]:
    """Every resource of `USAGE_RESOURCES` over one namespace's pods and claims (zeros included)."""
    totals = dict.fromkeys(USAGE_RESOURCES, Fraction(0))
    for pod in pods:
        if not counts(pod):
            continue
        totals["pods"] += 1
        for name, amount in pod_usage(pod).items():
            totals[name] += amount
    for claim in claims:
        requests = ((claim.get("spec") or {}).get("resources") or {}).get("requests") or {}
        totals["requests.storage"] += _amount({"r": requests}, "r", "storage")
    return totals


def add_usage(parts: Iterable[Mapping[str, Fraction]]) -> dict[str, Fraction]:
    totals = dict.fromkeys(USAGE_RESOURCES, Fraction(0))
    for part in parts:
        for name, amount in part.items():
            totals[name] = totals.get(name, Fraction(0)) + amount
    return totals


def render_usage(amounts: Mapping[str, Fraction]) -> dict[str, str]:
    """Quantities as Kubernetes writes them (`1500m`, `3Gi`), in `USAGE_RESOURCES` order."""
    return {name: format_quantity(amounts.get(name, Fraction(0)), name) for name in USAGE_RESOURCES}


def gauge_value(amount: Fraction) -> float:
    """Cores for CPU, bytes for memory and storage, a count for pods."""
    return float(amount)
