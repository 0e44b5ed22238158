"""How a Manager is told to run: connection, workers, leader election, health server, retry timings.

It is fixed for the life of the process and sits below the Manager and the reconcile `Context`, so both can
carry it without importing each other. The platform policy, which changes at run time, is ConfigMap kubeop-policy
read by `tenancy.policy`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_WORKERS = 16
"""Reconciles in flight per controller. A reconcile mostly waits on the API server (an App's first pass is five
requests in a row), so four workers left a burst of new objects queued while the API server had room to spare;
sixteen keep as many requests in flight as a client applying the same children at concurrency 16
(docs/performance.md, "Controller convergence")."""


@dataclass
class ManagerConfig:
    kubeconfig: Path | None = None
    context: str | None = None
    workers: int = DEFAULT_WORKERS
    leader_elect: bool = True
    lease_namespace: str = "tenantgate-system"
    lease_name: str = "tenantgate-controller"
    identity: str = ""
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0
    health_host: str = "0.0.0.0"
    health_port: int | None = 8081
    """0 picks a free port (see `Manager.health_port`); None runs no server."""
    backoff_base: float = 0.005
    backoff_cap: float = 1000.0
    rediscovery_interval: float = 30.0
    watch_timeout: int = 300
    settings_namespace: str | None = None
    """Where ConfigMap kubeop-policy lives; the Lease namespace when None."""
    reconcilers: Sequence[str] | None = None
    """Names of the reconcilers to run (keys of the setups handed to `build_manager`); all when None."""
    shutdown_timeout: float = 30.0
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
