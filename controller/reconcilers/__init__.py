"""The reconcilers, by name: each module's `setup(manager)` declares its informers, watches and controller."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from controller.reconcilers import app, django, policy, project, registry, shop, tenant

if TYPE_CHECKING:
    from controller.manager import Manager

REGISTRY: dict[str, Callable[[Manager], None]] = {
    "tenant": tenant.setup,
    "project": project.setup,
    "registry": registry.setup,
    "policy": policy.setup,
    "django": django.setup,
    "shop": shop.setup,
    "app": app.setup,
}


def register(manager: Manager, names: Sequence[str] | None = None) -> None:
    """Set up the named reconcilers (all when None); unknown names raise ValueError."""
    chosen = list(REGISTRY) if names is None else list(names)
    unknown = [name for name in chosen if name not in REGISTRY]
    if unknown:
        raise ValueError(f"unknown reconciler(s) {', '.join(unknown)}; known: {', '.join(REGISTRY)}")
    for name in chosen:
        REGISTRY[name](manager)
