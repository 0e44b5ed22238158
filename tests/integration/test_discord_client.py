"""The Discord client against the fake Discord over real TLS: calls, typed failures, retries, rate limits."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator

import aiohttp
import pytest
import trustme

from controller.discord import (
    USER_AGENT,
    DiscordClient,
    DiscordError,
    DiscordTimeout,
    NotFound,
    RateLimited,
    RateLimits,
    ServerError,
    Unauthorized,
)
from tests.fakes.discord import GUILD_ID, TOKEN, Fault, RunningFake, start_fake_discord

pytestmark = pytest.mark.integration


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
async def fake(ca: trustme.CA) -> AsyncIterator[RunningFake]:
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    running = await start_fake_discord(ssl_context=server_context)
    yield running
    await running.runner.cleanup()


def client_for(fake: RunningFake, ca: trustme.CA, token: str = TOKEN, **options: object) -> DiscordClient:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    settings: dict[str, object] = {"backoff": 0.01, "ssl_context": context}
    settings.update(options)
    return DiscordClient(token, base_url=fake.url, **settings)  # type: ignore[arg-type]


async def test_channel_and_webhook_lifecycle_over_tls(fake: RunningFake, ca: trustme.CA) -> None:
    async with client_for(fake, ca) as client:
        channel = await client.create_text_channel(GUILD_ID, "Bike Parts", topic="marker")
        assert (channel.name, channel.type, channel.topic) == ("bike-parts", 0, "marker")
        assert [c.id for c in await client.guild_channels(GUILD_ID)] == [channel.id]
        renamed = await client.rename_channel(channel.id, "tyres")
        assert renamed.name == "tyres"
        webhook = await client.create_webhook(channel.id, "shophub-alerts")
        assert webhook.url.startswith(f"{fake.url}/webhooks/{webhook.id}/")
        assert (await client.get_webhook(webhook.id)).channel_id == channel.id
        [listed] = await client.channel_webhooks(channel.id)
        assert listed.creator_id == await client.current_user_id()
        assert await client.delete_channel(channel.id) is True
        assert await client.delete_channel(channel.id) is False
        with pytest.raises(NotFound) as gone:
            await client.get_webhook(webhook.id)
        assert gone.value.code == 10015
    assert (fake.state.created_channels, fake.state.created_webhooks, fake.state.deleted_channels) == (1, 1, 1)
    headers = fake.state.headers_seen[0]
    assert headers["Authorization"] == f"Bot {TOKEN}"
    assert headers["User-Agent"] == USER_AGENT


async def test_a_wrong_token_is_unauthorized_and_the_error_holds_no_token(fake: RunningFake, ca: trustme.CA) -> None:
    async with client_for(fake, ca, token="wrong-token-value") as client:
        with pytest.raises(Unauthorized) as refused:
            await client.guild_channels(GUILD_ID)
    assert refused.value.status == 401
    assert "wrong-token-value" not in str(refused.value)
    assert "wrong-token-value" not in repr(client)


async def test_missing_permissions_is_unauthorized_and_unknown_guild_is_not_found(
    fake: RunningFake, ca: trustme.CA
) -> None:
    fake.state.forbidden_guilds.add(GUILD_ID)
    async with client_for(fake, ca) as client:
        with pytest.raises(Unauthorized) as forbidden:
            await client.create_text_channel(GUILD_ID, "x")
        assert (forbidden.value.status, forbidden.value.code) == (403, 50013)
        with pytest.raises(NotFound) as unknown:
            await client.guild_channels("42")
        assert unknown.value.code == 10004


async def test_invalid_bodies_are_refused_as_discord_does(fake: RunningFake, ca: trustme.CA) -> None:
    async with client_for(fake, ca) as client:
        channel = await client.create_text_channel(GUILD_ID, "alerts")
        with pytest.raises(DiscordError) as invalid:
            await client.create_webhook(channel.id, "my discord hook")
        assert (invalid.value.status, invalid.value.code) == (400, 50035)
        with pytest.raises(DiscordError) as empty:
            await client.create_text_channel(GUILD_ID, "")
        assert empty.value.code == 50035


async def test_fake_refuses_wrong_methods_missing_auth_and_bad_json(fake: RunningFake, ca: trustme.CA) -> None:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    ua = {"User-Agent": USER_AGENT}
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{fake.url}/guilds/{GUILD_ID}/channels", ssl=context, headers=ua) as response:
            assert response.status == 401
            assert await response.json() == {"message": "401: Unauthorized", "code": 0}
        auth = {**ua, "Authorization": f"Bot {TOKEN}"}
        async with session.put(f"{fake.url}/guilds/{GUILD_ID}/channels", ssl=context, headers=auth) as response:
            assert response.status == 405
        async with session.post(
            f"{fake.url}/guilds/{GUILD_ID}/channels",
            ssl=context,
            headers={**auth, "Content-Type": "application/json"},
            data=b"{not json",
        ) as response:
            assert (response.status, (await response.json())["code"]) == (400, 50109)
        async with session.get(f"{fake.url}/guilds/{GUILD_ID}/channels", ssl=context) as response:
            assert response.status == 401


async def test_a_429_is_raised_with_retry_after_and_the_bucket_is_then_honoured_locally(
    fake: RunningFake, ca: trustme.CA
) -> None:
    limits = RateLimits()
    fake.state.inject(Fault(1, status=429, retry_after=4.0, path="/channels$"))
    async with client_for(fake, ca, limits=limits) as client:
        with pytest.raises(RateLimited) as limited:
            await client.guild_channels(GUILD_ID)
        assert limited.value.retry_after == 4.0
        assert limited.value.bucket == "fake-bucket"
        calls = len(fake.state.requests)
        with pytest.raises(RateLimited) as local:
            await client.guild_channels(GUILD_ID)
        assert 0 < local.value.retry_after <= 4.0
        assert len(fake.state.requests) == calls, "an empty bucket is not called again before it resets"
        await client.current_user_id()  # another route is free


async def test_a_global_429_blocks_every_route(fake: RunningFake, ca: trustme.CA) -> None:
    fake.state.inject(Fault(1, status=429, retry_after=3.0, global_=True))
    async with client_for(fake, ca) as client:
        with pytest.raises(RateLimited):
            await client.current_user_id()
        with pytest.raises(RateLimited) as blocked:
            await client.guild_channels(GUILD_ID)
    assert blocked.value.global_


async def test_a_short_rate_limit_is_waited_out(fake: RunningFake, ca: trustme.CA) -> None:
    fake.state.inject(Fault(1, status=429, retry_after=0.05, method="GET"))
    async with client_for(fake, ca) as client:
        with pytest.raises(RateLimited):
            await client.guild_channels(GUILD_ID)
        assert await client.guild_channels(GUILD_ID) == []


async def test_server_errors_on_reads_are_retried_with_backoff(fake: RunningFake, ca: trustme.CA) -> None:
    fake.state.inject(Fault(2, status=502, method="GET"))
    async with client_for(fake, ca) as client:
        assert await client.guild_channels(GUILD_ID) == []
    assert len(fake.state.requests) == 3


async def test_server_errors_give_up_after_the_attempts(fake: RunningFake, ca: trustme.CA) -> None:
    fake.state.inject(Fault(10, status=500, method="GET"))
    async with client_for(fake, ca, attempts=3) as client:
        with pytest.raises(ServerError):
            await client.guild_channels(GUILD_ID)
    assert len(fake.state.requests) == 3


async def test_creates_are_never_retried(fake: RunningFake, ca: trustme.CA) -> None:
    fake.state.inject(Fault(1, status=503, method="POST"))
    async with client_for(fake, ca) as client:
        with pytest.raises(ServerError):
            await client.create_text_channel(GUILD_ID, "x")
    assert len(fake.state.requests) == 1


async def test_a_hang_times_out_and_reads_are_retried(fake: RunningFake, ca: trustme.CA) -> None:
    fake.state.inject(Fault(1, status=200, hang=6.0, method="GET"))
    async with client_for(fake, ca, timeout=2.0) as client:
        assert await client.guild_channels(GUILD_ID) == []
    fake.state.inject(Fault(5, status=200, hang=6.0, method="POST"))
    async with client_for(fake, ca, timeout=1.0) as client:
        with pytest.raises(DiscordTimeout):
            await client.create_text_channel(GUILD_ID, "x")
