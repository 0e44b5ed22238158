"""DiscordChannel on the real control plane: `tenantgate controller` (under its own ClusterRole) against the fake
Discord on loopback. shop-operator's sample applies unchanged and converges; renames, a webhook deleted on
Discord, a missing or refused token, rate limits, a deleted guild; and no secret in logs, Events, status or
metrics."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from controller.reconcilers.discordchannel import ownership_marker
from tenantgate.devcluster import ControlPlane
from tests.conftest import unique
from tests.e2e.discord_support import (
    SAMPLE,
    channels_of,
    controller_for,
    discord_channel,
    get_dc,
    secrets_in,
    token_secret,
    wait_ready,
    webhook_url_in,
)
from tests.e2e.test_controller_support import ControllerProcess, apply, eventually, get_json
from tests.fakes.discord import GUILD_ID, Fault, ThreadedFakeDiscord

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def fake() -> Iterator[ThreadedFakeDiscord]:
    running = ThreadedFakeDiscord().start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def controller(
    cluster: ControlPlane, fake: ThreadedFakeDiscord, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ControllerProcess]:
    process = controller_for(
        cluster, fake, tmp_path_factory.mktemp("discord"), "discord", DISCORD_RESYNC_SECONDS="2"
    ).start()
    eventually(process.is_leader, timeout=60, what="leadership")
    yield process
    assert process.stop() == 0, process.log_tail()


def test_sample_converges_renames_recreates_its_webhook_and_is_deleted(
    cluster: ControlPlane, controller: ControllerProcess, fake: ThreadedFakeDiscord, namespace: str
) -> None:
    apply(cluster, token_secret(namespace))
    cluster.kubectl("apply", "-n", namespace, "-f", str(SAMPLE))
    name = "bike-parts-alerts"
    converged = wait_ready(cluster, namespace, name)
    uid = converged["metadata"]["uid"]
    assert converged["metadata"]["finalizers"] == ["discordchannel.notify.shophub.local/finalizer"]
    status = converged["status"]
    [channel] = channels_of(fake, uid)
    assert (status["channelId"], status["webhookSecretName"]) == (channel["id"], f"{name}-webhook")
    assert (channel["name"], channel["guild_id"], channel["type"]) == ("bike-parts-alerts", GUILD_ID, 0)
    [webhook] = fake.state.channel_webhooks(channel["id"])
    assert webhook["name"] == "shophub-alerts"
    assert webhook_url_in(cluster, namespace, name) == f"{fake.url}/webhooks/{webhook['id']}/{webhook['token']}"
    secret = get_json(cluster, "secret", f"{name}-webhook", "-n", namespace)
    assert secret is not None
    assert [ref["uid"] for ref in secret["metadata"]["ownerReferences"]] == [uid]

    cluster.kubectl(
        "patch", "discordchannel", name, "-n", namespace, "--type=merge", "-p", '{"spec":{"name":"Bike Tyres"}}'
    )
    eventually(lambda: [c["name"] for c in channels_of(fake, uid)] == ["bike-tyres"], what="channel renamed")
    assert [c["id"] for c in channels_of(fake, uid)] == [channel["id"]], "renamed in place, not recreated"

    fake.state.delete_webhook(webhook["id"])
    eventually(
        lambda: (
            len(fake.state.channel_webhooks(channel["id"])) == 1
            and webhook["id"] not in webhook_url_in(cluster, namespace, name)
            and fake.state.channel_webhooks(channel["id"])[0]["id"] in webhook_url_in(cluster, namespace, name)
        ),
        timeout=30,
        what="webhook recreated and stored",
    )

    cluster.kubectl("delete", "discordchannel", name, "-n", namespace, "--wait=false")
    eventually(lambda: get_dc(cluster, namespace, name) is None, what="DiscordChannel gone")
    assert channels_of(fake, uid) == []


def test_missing_token_is_reported_then_converges_and_deletion_completes_without_the_token_secret(
    cluster: ControlPlane, controller: ControllerProcess, fake: ThreadedFakeDiscord, namespace: str
) -> None:
    name = unique("dc")
    apply(cluster, discord_channel(name, namespace, name, GUILD_ID))
    waiting = wait_ready(cluster, namespace, name, "TokenMissing")
    assert "discord-bot" in ready_message(waiting)
    assert channels_of(fake, waiting["metadata"]["uid"]) == []
    apply(cluster, token_secret(namespace))
    converged = wait_ready(cluster, namespace, name)
    [channel] = channels_of(fake, converged["metadata"]["uid"])
    assert channel["name"] == name
    cluster.kubectl("delete", "secret", "discord-bot", "-n", namespace)
    cluster.kubectl("delete", "discordchannel", name, "-n", namespace, "--wait=false")
    eventually(lambda: get_dc(cluster, namespace, name) is None, what="deleted without its token Secret")
    # The token this process last used for the object still deletes the channel (as when a namespace goes).
    assert channels_of(fake, converged["metadata"]["uid"]) == []


def ready_message(obj: dict[str, object]) -> str:
    status = obj.get("status")
    assert isinstance(status, dict)
    return " ".join(str(c.get("message")) for c in status.get("conditions") or [] if c.get("type") == "Ready")


def test_refused_token_is_unauthorized_without_a_hot_loop(
    cluster: ControlPlane, controller: ControllerProcess, fake: ThreadedFakeDiscord, namespace: str
) -> None:
    name = unique("dc")
    wrong = unique("wrong-token")
    apply(cluster, token_secret(namespace, token=wrong), discord_channel(name, namespace, name, GUILD_ID))
    wait_ready(cluster, namespace, name, "Unauthorized")
    time.sleep(1)  # the pass woken by its own status write

    def refused_calls() -> int:
        with fake.state.lock:
            return sum(1 for h in fake.state.headers_seen if h.get("Authorization") == f"Bot {wrong}")

    before = refused_calls()
    time.sleep(6)  # three resync periods of this controller
    assert refused_calls() == before, "a refused token waits for a long backoff or a change of its Secret"
    cluster.kubectl("delete", "discordchannel", name, "-n", namespace, "--wait=false")
    # Deleting with a refused token waits (it might be a transient permission problem); removing the Secret
    # lets the object go.
    cluster.kubectl("delete", "secret", "discord-bot", "-n", namespace)
    eventually(lambda: get_dc(cluster, namespace, name) is None, what="deleted once the token Secret is gone")
    assert secrets_in(controller.log_path.read_text(), fake, (wrong,)) == []


def test_rate_limit_is_honoured_then_converges(
    cluster: ControlPlane, controller: ControllerProcess, fake: ThreadedFakeDiscord, namespace: str
) -> None:
    name = unique("dc")
    path = f"/guilds/{GUILD_ID}/channels$"
    create = ("POST", f"/api/v10/guilds/{GUILD_ID}/channels")

    def creates() -> int:
        with fake.state.lock:
            return fake.state.requests.count(create)

    before = creates()
    fake.state.inject(Fault(1, status=429, retry_after=3.0, method="POST", path=path))
    apply(cluster, token_secret(namespace), discord_channel(name, namespace, name, GUILD_ID))
    wait_ready(cluster, namespace, name, "RateLimited", timeout=30)
    converged = wait_ready(cluster, namespace, name, timeout=30)
    assert len(channels_of(fake, converged["metadata"]["uid"])) == 1
    assert creates() - before == 2, "one refused with 429, one after retry_after: no hot loop"
    cluster.kubectl("delete", "discordchannel", name, "-n", namespace, "--wait=false")
    eventually(lambda: get_dc(cluster, namespace, name) is None, what="deleted")


def test_deleted_guild_does_not_block_deletion(
    cluster: ControlPlane, controller: ControllerProcess, fake: ThreadedFakeDiscord, namespace: str
) -> None:
    guild = "1100000000000000042"
    with fake.state.lock:
        fake.state.guilds.add(guild)
    name = unique("dc")
    apply(cluster, token_secret(namespace), discord_channel(name, namespace, name, guild))
    converged = wait_ready(cluster, namespace, name)
    fake.state.delete_guild(guild)
    wait_ready(cluster, namespace, name, "GuildNotFound", timeout=30)
    cluster.kubectl("delete", "discordchannel", name, "-n", namespace, "--wait=false")
    eventually(lambda: get_dc(cluster, namespace, name) is None, what="deleted with its guild gone")
    assert channels_of(fake, converged["metadata"]["uid"]) == []


def test_a_channel_and_webhook_created_before_a_crash_are_adopted_not_duplicated(
    cluster: ControlPlane, controller: ControllerProcess, fake: ThreadedFakeDiscord, namespace: str
) -> None:
    """The crash windows, made deterministic: the channel exists on Discord with this object's marker but its id
    never reached the status, and the bot's webhook exists but never reached the Secret."""
    name = unique("dc")
    apply(cluster, discord_channel(name, namespace, name, GUILD_ID))
    uid = wait_ready(cluster, namespace, name, "TokenMissing")["metadata"]["uid"]
    stranger = fake.state.add_channel(name)  # same name, someone else's: never taken
    channel_id = fake.state.add_channel(name, topic=ownership_marker(uid))
    fake.state.add_webhook(channel_id, "shophub-alerts", creator="123")  # not the bot's: not reused
    webhook_id = fake.state.add_webhook(channel_id, "shophub-alerts")
    with fake.state.lock:
        created = (fake.state.created_channels, fake.state.created_webhooks)
    apply(cluster, token_secret(namespace))
    converged = wait_ready(cluster, namespace, name)
    assert converged["status"]["channelId"] == channel_id
    assert f"/webhooks/{webhook_id}/" in webhook_url_in(cluster, namespace, name)
    with fake.state.lock:
        assert (fake.state.created_channels, fake.state.created_webhooks) == created
    cluster.kubectl("delete", "discordchannel", name, "-n", namespace, "--wait=false")
    eventually(lambda: get_dc(cluster, namespace, name) is None, what="deleted")
    assert [c["id"] for c in fake.state.guild_channels() if c["id"] in (stranger, channel_id)] == [stranger]


def test_no_secret_in_logs_events_status_or_metrics(
    cluster: ControlPlane, controller: ControllerProcess, fake: ThreadedFakeDiscord, namespace: str
) -> None:
    """Runs last in this module: by now the controller has created, renamed, recreated and failed."""
    name = unique("dc")
    apply(cluster, token_secret(namespace), discord_channel(name, namespace, name, GUILD_ID))
    wait_ready(cluster, namespace, name)
    assert fake.state.issued_webhook_tokens, "the scan needs webhook tokens to look for"
    events = cluster.kubectl("get", "events.events.k8s.io", "-A", "-o", "json").stdout
    statuses = json.dumps(get_json(cluster, "discordchannels", "-A") or {})
    metrics = controller._get("/metrics")[1]
    for where, text in [
        ("log", controller.log_path.read_text()),
        ("events", events),
        ("status", statuses),
        ("metrics", metrics),
    ]:
        assert secrets_in(text, fake) == [], f"a secret appears in the controller's {where}"
    assert "DiscordChannel" in metrics or "discordchannel" in metrics.lower()
    assert controller.errors() == [], controller.log_tail()
    assert "forbidden" not in controller.log_path.read_text().lower(), controller.log_tail()
