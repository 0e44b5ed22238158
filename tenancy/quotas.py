"""A Project's effective quota, decided once: admission judges the quota the controller will build.

The effective `hard` of a Project comes whole from the first level that sets a non-empty one: the Project's
`spec.quota.hard`, else the Tenant's `spec.quota.projectDefaults.hard`, else the platform's default
(`PROJECT_QUOTA_FALLBACK`). Every resource the Tenant's `spec.quota.hard` bounds is then bounded in it too: a
resource the chosen level omits is filled from the Tenant's projectDefaults, else the platform default, else `0`,
so no project namespace is ever unbounded in something its tenant bounds (admission denies a Project quota that
omits one; the fill covers Projects stored before that rule and projectDefaults that omit one).

ResourceQuota treats `cpu` as `requests.cpu` and `memory` as `requests.memory`; comparisons use `canonical`
names, while the values keep the names they were written with.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from crds.kubeop import PROJECT_QUOTA_FALLBACK
from kube.quantity import QuantityError, parse_quantity

ALIASES: Final = {"cpu": "requests.cpu", "memory": "requests.memory"}
UNBOUNDED_FILL: Final = "0"
"""What a bounded resource gets when neither the Tenant's projectDefaults nor the platform default name it."""

PROJECT: Final = "project"
DEFAULTS: Final = "defaults"
PLATFORM: Final = "platform"


def canonical(resource: str) -> str:
    """ResourceQuota treats `cpu` as `requests.cpu` and `memory` as `requests.memory`."""
    return ALIASES.get(resource, resource)


def canonical_names(hard: object) -> dict[str, Any]:
    """A ResourceList with canonical resource names (empty when it is not a mapping)."""
    return {canonical(str(k)): v for k, v in hard.items()} if isinstance(hard, Mapping) else {}


@dataclass(frozen=True, slots=True)
class EffectiveHard:
    """The hard limits of a project namespace, where they come from, and which bounded resources were filled."""

    hard: dict[str, Any]
    """Resource names as written at the chosen level, plus the filled ones (canonical names)."""
    source: str
    """`project`, `defaults` or `platform`: the level `hard` was taken from."""
    filled: tuple[str, ...] = ()
    """Canonical names of resources the tenant bounds that the chosen level omitted, filled in."""


def effective_hard(project_hard: object, default_hard: object, tenant_hard: object) -> EffectiveHard:
    """The effective `hard` of a Project (see the module docstring); pure."""
    if isinstance(project_hard, Mapping) and project_hard:
        hard, source = dict(project_hard), PROJECT
    elif isinstance(default_hard, Mapping) and default_hard:
        hard, source = dict(default_hard), DEFAULTS
    else:
        hard, source = dict(PROJECT_QUOTA_FALLBACK), PLATFORM
    present = set(canonical_names(hard))
    defaults = canonical_names(default_hard)
    filled = []
    for resource in sorted(canonical_names(tenant_hard)):
        if resource in present:
            continue
        hard[resource] = defaults.get(resource, PROJECT_QUOTA_FALLBACK.get(resource, UNBOUNDED_FILL))
        filled.append(resource)
    return EffectiveHard(hard, source, tuple(filled))


def missing_bounds(hard: object, tenant_hard: object) -> list[str]:
    """The canonical resources `tenant_hard` bounds that `hard` does not name, sorted; pure."""
    present = set(canonical_names(hard))
    return sorted(resource for resource in canonical_names(tenant_hard) if resource not in present)


def is_negative(value: object) -> bool:
    """True when `value` is a quantity below zero (`-8`, `-1Gi`); anything else, malformed included, is not."""
    try:
        return parse_quantity(value) < 0
    except QuantityError:
        return False


def without_negatives(hard: Mapping[str, Any]) -> dict[str, Any]:
    """`hard` with every negative quantity replaced by `0`: a quota bounds from above, and below zero it would
    only stop the namespace's ResourceQuota from being written at all (the API server rejects it)."""
    return {resource: UNBOUNDED_FILL if is_negative(value) else value for resource, value in hard.items()}
