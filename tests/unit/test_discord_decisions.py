"""The pure parts of DiscordChannel: rate-limit bookkeeping, URL parsing, adoption, and failure -> condition."""

from __future__ import annotations

import base64

import pytest

from controller.discord import (
    Channel,
    DiscordError,
    NotFound,
    RateLimited,
    RateLimits,
    ServerError,
    Unauthorized,
    Webhook,
    api_url,
    parse_rate_limit_headers,
    route_key,
    webhook_id_of,
    webhook_url,
)
from controller.reconcilers.discordchannel import (
    DiscordSettings,
    adoptable_channels,
    decode_secret_value,
    discord_channel_name,
    failure_outcome,
    ownership_marker,
    reusable_webhook,
    token_secret_key,
    webhook_secret,
)

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("method", "path", "route"),
    [
        ("POST", "/guilds/11/channels", "POST /guilds/11/channels"),
        ("GET", "/channels/22", "GET /channels/22"),
        ("GET", "/channels/22/messages/33", "GET /channels/22/messages/:id"),
        ("GET", "/webhooks/44", "GET /webhooks/44"),
        ("GET", "/users/@me", "GET /users/@me"),
    ],
)
def test_route_keeps_major_ids_and_folds_the_others(method: str, path: str, route: str) -> None:
    assert route_key(method, path) == route


def test_rate_limit_headers_are_parsed_and_malformed_ones_ignored() -> None:
    headers = {
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset-After": "2.5",
        "X-RateLimit-Bucket": "abc",
        "X-RateLimit-Global": "true",
    }
    parsed = parse_rate_limit_headers(headers)
    assert (parsed.remaining, parsed.reset_after, parsed.bucket, parsed.global_) == (0, 2.5, "abc", True)
    assert parse_rate_limit_headers({"X-RateLimit-Remaining": "x"}).remaining is None


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_an_empty_bucket_blocks_its_route_until_reset_and_then_frees_it() -> None:
    clock = Clock()
    limits = RateLimits(clock=clock)
    limits.observe("bot", "GET /channels/1", parse_rate_limit_headers({"X-RateLimit-Remaining": "3"}), None)
    assert limits.delay("bot", "GET /channels/1") == (0.0, False)
    empty = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset-After": "2", "X-RateLimit-Bucket": "b1"}
    limits.observe("bot", "GET /channels/1", parse_rate_limit_headers(empty), None)
    assert limits.delay("bot", "GET /channels/1") == (2.0, False)
    assert limits.delay("other-bot", "GET /channels/1") == (0.0, False)
    clock.now += 2.5
    assert limits.delay("bot", "GET /channels/1") == (0.0, False)


def test_a_429_blocks_for_retry_after_and_a_global_one_blocks_every_route() -> None:
    clock = Clock()
    limits = RateLimits(clock=clock)
    limits.observe("bot", "POST /guilds/1/channels", parse_rate_limit_headers({}), 3.0)
    assert limits.delay("bot", "POST /guilds/1/channels") == (3.0, False)
    assert limits.delay("bot", "GET /channels/2") == (0.0, False)
    limits.observe("bot", "GET /channels/2", parse_rate_limit_headers({}), 5.0, global_=True)
    assert limits.delay("bot", "GET /webhooks/9") == (5.0, True)


@pytest.mark.parametrize(
    ("url", "webhook_id"),
    [
        ("https://discord.com/api/webhooks/123/abc-DEF_ghi", "123"),
        ("https://discord.com/api/v10/webhooks/456/tok/", "456"),
        ("https://discord.com/api/webhooks/123", None),
        ("not a url", None),
    ],
)
def test_webhook_id_is_read_from_the_url(url: str, webhook_id: str | None) -> None:
    assert webhook_id_of(url) == webhook_id


def test_webhook_url_is_discords_or_built_from_id_and_token() -> None:
    assert webhook_url("https://x/api/v10", {"url": "https://u/webhooks/1/t"}) == "https://u/webhooks/1/t"
    assert webhook_url("https://x/api/v10", {"id": "1", "token": "t"}) == "https://x/api/v10/webhooks/1/t"
    assert webhook_url("https://x/api/v10", {"id": "1"}) == ""


def test_webhook_repr_hides_its_url() -> None:
    assert "secret-token" not in repr(Webhook("1", "n", "2", url="https://d/webhooks/1/secret-token"))


def test_api_url_defaults_to_discord_v10() -> None:
    assert api_url({}) == "https://discord.com/api/v10"
    assert api_url({"DISCORD_API_URL": "http://127.0.0.1:1/api/v10/"}) == "http://127.0.0.1:1/api/v10"


def test_adoption_takes_only_text_channels_with_this_objects_marker_oldest_first() -> None:
    mine = ownership_marker("uid-1")
    channels = [
        Channel("300", "alerts", 0, topic=mine),
        Channel("299", "alerts", 0, topic=mine),
        Channel("100", "alerts", 0, topic="someone else's"),
        Channel("101", "alerts", 2, topic=mine),
        Channel("102", "alerts", 0, topic=ownership_marker("uid-2")),
    ]
    assert [c.id for c in adoptable_channels(channels, "uid-1")] == ["299", "300"]


@pytest.mark.parametrize(
    ("name", "stored"), [("bike-parts", "bike-parts"), ("Bike Parts  Alerts", "bike-parts-alerts")]
)
def test_channel_names_compare_as_discord_stores_them(name: str, stored: str) -> None:
    assert discord_channel_name(name) == stored


def test_reused_webhook_is_the_bots_own_under_our_name() -> None:
    webhooks = [
        Webhook("5", "shophub-alerts", "c", creator_id="someone", url="https://d/webhooks/5/t"),
        Webhook("7", "other", "c", creator_id="bot", url="https://d/webhooks/7/t"),
        Webhook("9", "shophub-alerts", "c", creator_id="bot", url="https://d/webhooks/9/t"),
        Webhook("8", "shophub-alerts", "c", creator_id="bot", url=""),
    ]
    reused = reusable_webhook(webhooks, "bot")
    assert reused is not None
    assert reused.id == "9"
    assert reusable_webhook(webhooks[1:2], "bot") is None


@pytest.mark.parametrize(
    ("error", "reason", "requeue"),
    [
        (RateLimited(7.5), "RateLimited", 7.5),
        (RateLimited(0.0), "RateLimited", 0.5),
        (Unauthorized(401, "401: Unauthorized"), "Unauthorized", 600.0),
        (Unauthorized(403, "Missing Permissions", 50013), "Unauthorized", 600.0),
        (NotFound(404, "Unknown Guild", 10004), "GuildNotFound", 600.0),
        (NotFound(404, "Unknown Channel", 10003), "DiscordError", 30.0),
        (ServerError(502, "Bad Gateway"), "DiscordError", 30.0),
        (DiscordError(400, "Invalid Form Body", 50035), "DiscordError", 30.0),
    ],
)
def test_each_failure_has_its_reason_and_retry_delay(error: DiscordError, reason: str, requeue: float) -> None:
    outcome = failure_outcome(error, "123")
    assert (outcome.condition.status, outcome.condition.reason, outcome.requeue_after) == ("False", reason, requeue)


def test_token_secret_defaults_to_the_objects_namespace() -> None:
    obj = {"metadata": {"name": "a", "namespace": "ns"}, "spec": {"botTokenRef": {"name": "bot"}}}
    assert token_secret_key(obj) == "ns/bot"
    obj["spec"] = {"botTokenRef": {"name": "bot", "namespace": "other"}}
    assert token_secret_key(obj) == "other/bot"
    assert token_secret_key({"metadata": {"namespace": "ns"}, "spec": {}}) is None


def test_webhook_secret_is_owned_and_round_trips_the_url() -> None:
    owner = {
        "apiVersion": "notify.shophub.local/v1",
        "kind": "DiscordChannel",
        "metadata": {"name": "a", "namespace": "n", "uid": "u"},
    }
    secret = webhook_secret(owner, "https://d/webhooks/1/t")
    assert secret["metadata"]["name"] == "a-webhook"
    assert secret["metadata"]["ownerReferences"][0]["uid"] == "u"
    assert decode_secret_value(secret, "webhook-url") == "https://d/webhooks/1/t"
    assert decode_secret_value({"data": {"token": base64.b64encode(b" tok \n").decode()}}, "token") == "tok"
    assert decode_secret_value({"data": {"token": "%%%"}}, "token") == ""
    assert decode_secret_value(None, "token") == ""


def test_resync_interval_comes_from_the_environment() -> None:
    assert DiscordSettings.from_env({}).resync_seconds == 600.0
    assert DiscordSettings.from_env({"DISCORD_RESYNC_SECONDS": "2"}).resync_seconds == 2.0
    assert DiscordSettings.from_env({"DISCORD_RESYNC_SECONDS": "x"}).resync_seconds == 600.0
