"""Where pods hide inside workload objects, so image and pod-security rules read every container.

A guardrail that checks `spec.containers` of a Pod but not `spec.jobTemplate.spec.template.spec.initContainers`
of a CronJob is a guardrail with a side door. This table names, once, the pod spec of every kind that carries
one; `containers_of` walks the three container lists of a pod spec (`initContainers`, `containers`,
`ephemeralContainers`) with the field path of each container, so messages point at the exact field.

Pure functions over raw dicts; nothing is copied.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final, NamedTuple

POD_SPEC_PATHS: Final[dict[tuple[str, str], tuple[str, ...]]] = {
    ("", "Pod"): ("spec",),
    ("", "ReplicationController"): ("spec", "template", "spec"),
    ("apps", "Deployment"): ("spec", "template", "spec"),
    ("apps", "StatefulSet"): ("spec", "template", "spec"),
    ("apps", "DaemonSet"): ("spec", "template", "spec"),
    ("apps", "ReplicaSet"): ("spec", "template", "spec"),
    ("batch", "Job"): ("spec", "template", "spec"),
    ("batch", "CronJob"): ("spec", "jobTemplate", "spec", "template", "spec"),
}
"""(group, kind) -> path of the pod spec inside the object."""

WORKLOAD_KINDS: Final = tuple(POD_SPEC_PATHS)
CONTAINER_LISTS: Final = ("initContainers", "containers", "ephemeralContainers")


@dataclass(frozen=True, slots=True)
class PodSpec:
    """A pod spec found in an object: its dotted path, the spec, and the pod's metadata (for annotations)."""

    path: str
    spec: Mapping[str, Any]
    metadata: Mapping[str, Any]


class Container(NamedTuple):
    """One container of a pod spec with its field path (a tuple: built for every container of every review)."""

    path: str
    name: str
    body: Mapping[str, Any]
    list_name: str


def pod_spec_of(group: str, kind: str, obj: Mapping[str, Any]) -> PodSpec | None:
    """The pod spec of a workload object, or None when the kind has none or the object lacks it."""
    path = POD_SPEC_PATHS.get((group, kind))
    if path is None:
        return None
    node: Any = obj
    parent: Any = obj
    for segment in path:
        if not isinstance(node, dict):
            return None
        parent, node = node, node.get(segment)
    if not isinstance(node, dict):
        return None
    metadata = parent.get("metadata")  # the Pod's own, or the template's
    return PodSpec(".".join(path), node, metadata if isinstance(metadata, dict) else {})


def containers_of(pod: PodSpec) -> Iterator[Container]:
    for list_name in CONTAINER_LISTS:
        items = pod.spec.get(list_name)
        if not isinstance(items, list):
            continue
        for index, item in enumerate(items):
            if isinstance(item, dict):
                name = item.get("name")
                yield Container(
                    f"{pod.path}.{list_name}[{index}]", name if isinstance(name, str) else str(index), item, list_name
                )
