"""`tenantgate controller`: run the companion controller until SIGTERM, JSON logs on stderr.

A few settings without a command-line option (the parser is shared by every subcommand) can be tuned from the
environment: TENANTGATE_HEALTH_ADDR (`host:port` of /healthz, /readyz, /metrics; default `0.0.0.0:8081`),
TENANTGATE_LEASE_DURATION / TENANTGATE_RENEW_DEADLINE / TENANTGATE_RETRY_PERIOD (seconds),
TENANTGATE_IDENTITY (leader-election identity; default hostname-pid) and TENANTGATE_RECONCILERS (comma list).
Reconcilers read their own settings from the same environment (`ManagerConfig.env`): the Shop's
DEFAULT_SHOP_IMAGE and INGRESS_*, the DiscordChannel's DISCORD_API_URL and DISCORD_RESYNC_SECONDS.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from collections.abc import Mapping
from pathlib import Path

from controller import logs
from controller.config import DEFAULT_WORKERS, ManagerConfig
from controller.manager import Setup, run_controller
from controller.reconcilers import (
    app,
    certificate,
    discordchannel,
    django,
    dnsrecord,
    policy,
    project,
    registry,
    shop,
    tenant,
    wallet,
)

RECONCILERS: dict[str, Setup] = {
    "tenant": tenant.setup,
    "project": project.setup,
    "registry": registry.setup,
    "policy": policy.setup,
    "django": django.setup,
    "shop": shop.setup,
    "app": app.setup,
    "dnsrecord": dnsrecord.setup,
    "certificate": certificate.setup,
    "discordchannel": discordchannel.setup,
    "wallet": wallet.setup,
}
"""Every reconciler the command can run, by the name TENANTGATE_RECONCILERS selects it with."""


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    try:
        return float(env[name]) if env.get(name) else default
    except ValueError:
        return default


def config_from_args(args: argparse.Namespace, env: Mapping[str, str]) -> ManagerConfig:
    """The ManagerConfig for parsed arguments plus the environment knobs listed in the module docstring."""
    host, _, port = env.get("TENANTGATE_HEALTH_ADDR", "0.0.0.0:8081").rpartition(":")
    reconcilers = [r.strip() for r in env.get("TENANTGATE_RECONCILERS", "").split(",") if r.strip()]
    kubeconfig = getattr(args, "kubeconfig", None)
    return ManagerConfig(
        kubeconfig=Path(kubeconfig) if kubeconfig else None,
        workers=int(getattr(args, "workers", DEFAULT_WORKERS) or DEFAULT_WORKERS),
        lease_namespace=str(getattr(args, "namespace", "tenantgate-system")),
        leader_elect=not bool(getattr(args, "no_leader_elect", False)),
        identity=env.get("TENANTGATE_IDENTITY", ""),
        lease_duration=_float(env, "TENANTGATE_LEASE_DURATION", 15.0),
        renew_deadline=_float(env, "TENANTGATE_RENEW_DEADLINE", 10.0),
        retry_period=_float(env, "TENANTGATE_RETRY_PERIOD", 2.0),
        health_host=host or "0.0.0.0",
        health_port=int(port) if port.isdigit() else 8081,
        reconcilers=reconcilers or None,
        env=dict(env),
    )


def run_cli(args: argparse.Namespace) -> int:
    logs.configure(getattr(args, "log_level", "INFO"))
    config = config_from_args(args, os.environ)
    return asyncio.run(run_controller(config, RECONCILERS, install_signal_handlers=True))
