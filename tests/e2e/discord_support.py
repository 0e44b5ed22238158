"""Support for the DiscordChannel end-to-end tests: the fake Discord on loopback and a controller running
under its own ClusterRole (the chart's, `controller.rbac.controller_cluster_role`) with `DISCORD_API_URL`
pointing at it."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from controller.rbac import controller_cluster_role
from controller.reconcilers.discordchannel import ownership_marker
from tenantgate.devcluster import ControlPlane
from tests.conftest import unique
from tests.e2e.test_controller_support import (
    LEASE_NAMESPACE,
    REPO,
    ControllerProcess,
    adoptable_by_the_chart,
    eventually,
    get_json,
    install_platform,
)
from tests.fakes.discord import TOKEN, ThreadedFakeDiscord

SAMPLE = REPO / "tests" / "fixtures" / "manifests" / "shophub" / "discordchannel.yaml"


def controller_factory(
    cluster: ControlPlane, fake: ThreadedFakeDiscord, log_dir: Path, name: str, **env: str
) -> Callable[[], ControllerProcess]:
    """Replicas of a DiscordChannel controller authenticated as a user bound only to the controller's
    ClusterRole, each with its own identity and log file (not started)."""
    install_platform(cluster, LEASE_NAMESPACE)
    user = unique(f"tenantgate-{name}")
    role = adoptable_by_the_chart(controller_cluster_role())
    cluster.kubectl("apply", "-f", "-", stdin=json.dumps(role))
    cluster.kubectl("create", "clusterrolebinding", user, "--clusterrole=tenantgate-controller", f"--user={user}")
    kubeconfig = cluster.mint_user(user)
    extra = {"TENANTGATE_RECONCILERS": "discordchannel", "DISCORD_API_URL": fake.url, **env}

    def replica() -> ControllerProcess:
        return ControllerProcess(
            cluster,
            LEASE_NAMESPACE,
            unique(name),
            log_dir,
            lease_duration=4.0,
            extra_env=extra,
            kubeconfig=kubeconfig,
        )

    return replica


def controller_for(
    cluster: ControlPlane, fake: ThreadedFakeDiscord, log_dir: Path, name: str, **env: str
) -> ControllerProcess:
    return controller_factory(cluster, fake, log_dir, name, **env)()


def leads(process: ControllerProcess) -> bool:
    """Whether the replica holds the Lease (False while it is still starting)."""
    try:
        return process.is_leader()
    except AssertionError:
        return False


def token_secret(namespace: str, name: str = "discord-bot", token: str = TOKEN) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "stringData": {"token": token},
    }


def discord_channel(
    name: str, namespace: str, channel_name: str, guild: str, token_secret: str = "discord-bot"
) -> dict[str, Any]:
    return {
        "apiVersion": "notify.shophub.local/v1",
        "kind": "DiscordChannel",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"guildId": guild, "name": channel_name, "botTokenRef": {"name": token_secret}},
    }


def get_dc(cluster: ControlPlane, namespace: str, name: str) -> dict[str, Any] | None:
    return get_json(cluster, "discordchannel", name, "-n", namespace)


def ready(obj: dict[str, Any] | None) -> tuple[str, str] | None:
    for condition in ((obj or {}).get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Ready":
            return str(condition["status"]), str(condition["reason"])
    return None


def wait_ready(
    cluster: ControlPlane, namespace: str, name: str, reason: str = "Created", timeout: float = 60
) -> dict[str, Any]:
    expected = ("True", "Created") if reason == "Created" else ("False", reason)
    found: dict[str, Any] = eventually(
        lambda: (o := get_dc(cluster, namespace, name)) and ready(o) == expected and o,
        timeout=timeout,
        what=f"DiscordChannel {namespace}/{name} Ready {expected}",
    )
    return found


def webhook_url_in(cluster: ControlPlane, namespace: str, name: str) -> str:
    secret = get_json(cluster, "secret", f"{name}-webhook", "-n", namespace)
    data = (secret or {}).get("data") or {}
    return base64.b64decode(data["webhook-url"]).decode() if "webhook-url" in data else ""


def channels_of(fake: ThreadedFakeDiscord, uid: str) -> list[dict[str, Any]]:
    """Channels on any guild of the fake carrying this DiscordChannel's marker."""
    marker = ownership_marker(uid)
    with fake.state.lock:
        return [dict(c) for c in fake.state.channels.values() if marker in str(c.get("topic") or "")]


def secrets_in(text: str, fake: ThreadedFakeDiscord, extra: tuple[str, ...] = ()) -> list[str]:
    """Which secrets (bot token, any webhook token ever issued) appear in `text`."""
    with fake.state.lock:
        candidates = [TOKEN, *fake.state.issued_webhook_tokens, *extra]
    return [c for c in candidates if c and c in text]
