"""The controller SIGKILLed at random points, 20 times, while DiscordChannels are created, renamed and deleted.

Afterwards the fake Discord holds exactly one channel (with the right name) and one webhook per live
DiscordChannel, nothing for deleted ones, and no deleted object kept its finalizer. The test's DiscordChannels
name a guild of their own: the controllers reconcile every namespace, and a DiscordChannel another test left in
a terminating namespace (with a token this fake accepts) rightly gets its channel made on the shared guild.
The figures (kills, objects, channels and webhooks created, duplicates) are printed for the record.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from collections.abc import Iterator

import pytest
import yaml

from tenantgate.devcluster import ControlPlane
from tests.e2e.discord_support import (
    channels_of,
    controller_factory,
    discord_channel,
    get_dc,
    leads,
    secrets_in,
    token_secret,
    wait_ready,
    webhook_url_in,
)
from tests.e2e.test_controller_support import apply, eventually
from tests.fakes.discord import Fault, ThreadedFakeDiscord

pytestmark = pytest.mark.e2e

KILLS = 20
INITIAL = 4
STANDBYS = 2


@pytest.fixture
def fake() -> Iterator[ThreadedFakeDiscord]:
    running = ThreadedFakeDiscord().start()
    yield running
    running.stop()


def test_random_kills_never_leave_a_second_channel_or_webhook(
    cluster: ControlPlane,
    fake: ThreadedFakeDiscord,
    namespace: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """Replicas as a Deployment with spare pods runs them: the Lease holder is killed at a random point, a warm
    standby takes over when the Lease expires, and a new standby is launched in the dead one's place."""
    rng = random.Random(16)
    started = time.monotonic()
    log_dir = tmp_path_factory.mktemp("kill")
    replica = controller_factory(cluster, fake, log_dir, "kill", DISCORD_RESYNC_SECONDS="5")
    guild = fake.state.add_guild()
    # Creates answer after 0.8 s (Discord performs them even when the caller is dead by then), so kills land
    # inside the windows between a create and the record of its result.
    fake.state.inject(Fault(10_000, status=200, hang=0.8, method="POST"))
    apply(cluster, token_secret(namespace))
    live: dict[str, str] = {}  # name -> wanted channel name
    deleted: list[str] = []
    uids: dict[str, str] = {}
    serial = 0

    def create() -> None:
        nonlocal serial
        serial += 1
        name = f"dc-{serial}"
        live[name] = f"alerts-{serial}"
        document = yaml.safe_dump(discord_channel(name, namespace, live[name], guild))
        uids[name] = cluster.kubectl("apply", "-f", "-", "-o", "jsonpath={.metadata.uid}", stdin=document).stdout

    for _ in range(INITIAL):
        create()
    pool = [replica().launch() for _ in range(STANDBYS + 1)]
    kills = 0
    try:
        for _ in range(KILLS):
            leader = eventually(lambda: next((p for p in pool if leads(p)), None), timeout=90, what="a leader")
            action = rng.choice(["create", "rename", "delete", "rename", "create"])
            if action == "create" or len(live) < 2:
                create()
            elif action == "rename":
                name = rng.choice(sorted(live))
                live[name] = f"{live[name]}-r"
                patch = f'{{"spec":{{"name":"{live[name]}"}}}}'
                cluster.kubectl("patch", "discordchannel", name, "-n", namespace, "--type=merge", "-p", patch)
            else:
                name = rng.choice(sorted(live))
                del live[name]
                deleted.append(name)
                cluster.kubectl("delete", "discordchannel", name, "-n", namespace, "--wait=false")
            time.sleep(rng.uniform(0.0, 1.5))  # the kill lands anywhere in the passes that follow
            leader.kill()
            kills += 1
            pool.remove(leader)
            pool.append(replica().launch())

        for name in live:
            assert wait_ready(cluster, namespace, name, timeout=90)["metadata"]["uid"] == uids[name]
        for name in deleted:
            eventually(lambda n=name: get_dc(cluster, namespace, n) is None, timeout=60, what=f"{name} gone")

        def settled() -> bool:
            return all([c["name"] for c in channels_of(fake, uids[n])] == [wanted] for n, wanted in live.items())

        eventually(settled, timeout=30, what="every live channel renamed as wanted")
        duplicates = 0
        for name, wanted in live.items():
            channels = channels_of(fake, uids[name])
            duplicates += max(len(channels) - 1, 0)
            [channel] = channels
            assert channel["name"] == wanted
            webhooks = fake.state.channel_webhooks(channel["id"])
            duplicates += max(len(webhooks) - 1, 0)
            [webhook] = webhooks
            assert webhook_url_in(cluster, namespace, name).endswith(f"/webhooks/{webhook['id']}/{webhook['token']}")
        for name in deleted:
            assert channels_of(fake, uids[name]) == [], f"{name} was deleted but its channel is left"
        with fake.state.lock:
            on_guild = [
                (c["id"], c["name"], c.get("topic")) for c in fake.state.channels.values() if c["guild_id"] == guild
            ]
            created_channels, created_webhooks = fake.state.created_channels, fake.state.created_webhooks
        assert duplicates == 0
        assert len(on_guild) == len(live), f"live { ({n: uids[n] for n in live}) }, on the guild {on_guild}"
        logs = "".join(path.read_text(errors="replace") for path in log_dir.glob("*.log"))
        assert secrets_in(logs, fake) == []
        events = json.loads(cluster.kubectl("get", "events.events.k8s.io", "-n", namespace, "-o", "json").stdout).get(
            "items", []
        )
        reasons = Counter(
            str(e.get("reason")) for e in events if e.get("regarding", {}).get("kind") == "DiscordChannel"
        )
        print(
            f"\nkill test: adopted={reasons['Adopted']} deleted_events={reasons['Deleted']} kills={kills} "
            f"objects={serial} live={len(live)} deleted={len(deleted)} "
            f"channels_created={created_channels} webhooks_created={created_webhooks} "
            f"channels_on_guild={len(on_guild)} duplicates={duplicates} seconds={time.monotonic() - started:.0f}"
        )
    finally:
        for name in live:  # deleted while a controller runs, so the namespace is not left terminating
            cluster.kubectl("delete", "discordchannel", name, "-n", namespace, "--wait=false", check=False)
        for name in live:
            eventually(lambda n=name: get_dc(cluster, namespace, n) is None, timeout=60, what=f"{name} cleaned up")
        for process in pool:
            process.stop()
