"""DiscordChannel (`notify.shophub.local/v1`): a Discord text channel and a webhook whose URL is a Secret.

Discord keeps no idempotency key, so "never a second channel" rests on two things. The channel's id is written
to `status.channelId` right after the create, before anything else. And every channel this controller creates
carries a marker with the DiscordChannel's uid in its topic, so when the id was lost (the process died between
the create and the status write, or the write failed) the next pass finds the channel on the guild and adopts it
instead of creating another. Webhooks are found again the same way: one named `shophub-alerts`, created by the
bot, on the channel. Creates are never retried blindly (a timed-out create may have happened); the next pass
looks first.

Failures become the `Ready` condition and a retry delay chosen for them: a 429 waits its `retry_after`, a
rejected token (401/403) waits long (the token Secret's watch brings the object back as soon as it changes),
5xx and timeouts are retried by the client and then in 30 s. Neither the bot token nor the webhook URL is ever
put in a log line, an Event, the status or a metric: messages name Secrets and ids only.
"""

from __future__ import annotations

import base64
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from controller.applier import owner_reference
from controller.conditions import Condition, now_rfc3339, set_condition
from controller.context import Context
from controller.discord import (
    UNKNOWN_GUILD,
    Channel,
    DiscordClient,
    DiscordError,
    NotFound,
    RateLimited,
    RateLimits,
    Unauthorized,
    Webhook,
    api_url,
    webhook_id_of,
)
from controller.finalizers import ensure_finalizer, remove_finalizer
from controller.logs import fields
from controller.manager import Manager
from controller.runtime import Mapper, Result, owner_mapper
from kube.client import SECRETS, ApiError
from kube.informer import Informer
from kube.objects import (
    Obj,
    finalizers_of,
    generation_of,
    is_deleting,
    make_key,
    name_of,
    namespace_of,
    object_key,
    owner_references_of,
    uid_of,
)
from tenancy.labels import MANAGED_BY_LABEL, MANAGED_BY_VALUE

log = logging.getLogger(__name__)

DISCORD_CHANNEL = ("notify.shophub.local/v1", "DiscordChannel")
FINALIZER = "discordchannel.notify.shophub.local/finalizer"
TOKEN_KEY = "token"
WEBHOOK_KEY = "webhook-url"
WEBHOOK_NAME = "shophub-alerts"
"""shop-operator's name; Discord refuses webhook names containing "discord"."""
BY_TOKEN_SECRET = "spec.botTokenRef"

RESYNC_ENV = "DISCORD_RESYNC_SECONDS"
RESYNC_SECONDS = 600.0
"""How often a converged channel is looked at again: a webhook or channel deleted on Discord sends no event."""
ERROR_RETRY_SECONDS = 30.0
UNAUTHORIZED_RETRY_SECONDS = 600.0
TOKEN_MISSING_RETRY_SECONDS = 600.0
MIN_RATE_LIMIT_WAIT = 0.5


# ---- pure decisions ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DiscordSettings:
    api_url: str
    resync_seconds: float = RESYNC_SECONDS

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> DiscordSettings:
        try:
            resync = float(env.get(RESYNC_ENV) or RESYNC_SECONDS)
        except ValueError:
            resync = RESYNC_SECONDS
        return cls(api_url=api_url(env), resync_seconds=max(resync, 1.0))


def _spec(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    spec = obj.get("spec")
    return spec if isinstance(spec, Mapping) else {}


def _status(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    status = obj.get("status")
    return status if isinstance(status, Mapping) else {}


def token_secret_key(obj: Mapping[str, Any]) -> str | None:
    """`namespace/name` of the bot-token Secret (namespace defaulting to the DiscordChannel's), or None."""
    ref = _spec(obj).get("botTokenRef")
    if not isinstance(ref, Mapping) or not ref.get("name"):
        return None
    return make_key(str(ref.get("namespace") or namespace_of(obj)), str(ref["name"]))


def index_by_token_secret(obj: Mapping[str, Any]) -> list[str]:
    key = token_secret_key(obj)
    return [key] if key else []


def webhook_secret_name(name: str) -> str:
    return f"{name}-webhook"


def ownership_marker(uid: str) -> str:
    """The channel topic marking a channel as this DiscordChannel's: what lets a lost id be found again."""
    return f"Managed by tenantgate for DiscordChannel uid {uid}"


def adoptable_channels(channels: Iterable[Channel], uid: str) -> list[Channel]:
    """Text channels of a guild that carry this DiscordChannel's marker, oldest (smallest snowflake) first."""
    marker = ownership_marker(uid)
    found = [c for c in channels if c.type == 0 and marker in c.topic]
    return sorted(found, key=lambda c: (len(c.id), c.id))


def discord_channel_name(name: str) -> str:
    """The name Discord stores for a text channel: lower case, whitespace runs as one hyphen. Comparing with it
    keeps a name Discord rewrites from being renamed on every pass."""
    return re.sub(r"\s+", "-", name.strip()).lower()


def reusable_webhook(webhooks: Iterable[Webhook], bot_id: str) -> Webhook | None:
    """A webhook on the channel the bot made under our name, with its URL (oldest first), or None."""
    found = [w for w in webhooks if w.name == WEBHOOK_NAME and w.url and (not bot_id or w.creator_id == bot_id)]
    return min(found, key=lambda w: (len(w.id), w.id)) if found else None


@dataclass(frozen=True)
class Outcome:
    """The Ready condition for a pass and when to look again."""

    condition: Condition
    requeue_after: float


def failure_outcome(error: DiscordError, guild_id: str) -> Outcome:
    """The condition and retry delay for a Discord failure. Messages carry Discord's message, never a secret."""
    if isinstance(error, RateLimited):
        wait = max(error.retry_after, MIN_RATE_LIMIT_WAIT)
        return Outcome(
            Condition("Ready", "False", "RateLimited", f"Discord rate limit; retrying in {wait:.3g} s"), wait
        )
    if isinstance(error, Unauthorized):
        message = (
            f"Discord refused the bot token ({error.status}: {error.message}); fix the token or the bot's permissions"
        )
        return Outcome(Condition("Ready", "False", "Unauthorized", message), UNAUTHORIZED_RETRY_SECONDS)
    if isinstance(error, NotFound) and error.code == UNKNOWN_GUILD:
        message = f"guild {guild_id} does not exist or the bot is not a member of it"
        return Outcome(Condition("Ready", "False", "GuildNotFound", message), UNAUTHORIZED_RETRY_SECONDS)
    return Outcome(Condition("Ready", "False", "DiscordError", str(error)), ERROR_RETRY_SECONDS)


def decode_secret_value(secret: Mapping[str, Any] | None, key: str) -> str:
    """A Secret's value under `key` ("" when absent or not decodable)."""
    data = (secret or {}).get("data")
    raw = data.get(key) if isinstance(data, Mapping) else None
    if not isinstance(raw, str):
        return ""
    try:
        return base64.b64decode(raw).decode().strip()
    except ValueError:
        return ""


def webhook_secret(owner: Mapping[str, Any], url: str) -> dict[str, Any]:
    """Secret `<name>-webhook`, owned by the DiscordChannel (garbage-collected with it)."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": webhook_secret_name(name_of(owner)),
            "namespace": namespace_of(owner),
            "labels": {MANAGED_BY_LABEL: MANAGED_BY_VALUE},
            "ownerReferences": [owner_reference(owner)],
        },
        "data": {WEBHOOK_KEY: base64.b64encode(url.encode()).decode()},
    }


def owned_by(child: Mapping[str, Any], owner: Mapping[str, Any]) -> bool:
    return any(ref.get("uid") == uid_of(owner) for ref in owner_references_of(child))


# ---- reconcile ---------------------------------------------------------------------------------------------


class SecretConflict(Exception):
    """Secret `<name>-webhook` exists and belongs to someone else: it is never overwritten."""


@dataclass
class Pass:
    """One reconcile's handles: the object (refreshed as status is written), the context and the client."""

    obj: Obj
    ctx: Context
    client: DiscordClient

    @property
    def key(self) -> str:
        return object_key(self.obj)

    async def record(self, status: Mapping[str, Any]) -> None:
        self.obj = await _record(self.ctx, self.obj, status)


async def _record(ctx: Context, obj: Obj, status: Mapping[str, Any]) -> Obj:
    """Write status fields; the object as the cache now holds it."""
    await ctx.write_status(obj, status)
    return ctx.primary.store.get(object_key(obj)) or obj


async def _report(ctx: Context, obj: Obj, outcome: Outcome, extra: Mapping[str, Any] | None = None) -> Result:
    """Write the Ready condition (with `extra` status fields) and ask to be looked at again when it says."""
    conditions = set_condition(_status(obj).get("conditions"), outcome.condition, generation_of(obj), now_rfc3339())
    await _record(ctx, obj, {**(extra or {}), "conditions": conditions})
    return Result(requeue_after=outcome.requeue_after)


def _read_token(ctx: Context, obj: Obj) -> str:
    key = token_secret_key(obj)
    if key is None:
        return ""
    namespace, _, name = key.partition("/")
    secrets = ctx.manager.informer(SECRETS.api_version, SECRETS.kind)  # unfiltered: the user's Secret
    return decode_secret_value(secrets.get(namespace, name), TOKEN_KEY)


async def _ensure_channel(run: Pass) -> Channel:
    """The channel: the recorded one (renamed if needed), else an adopted one, else a new one recorded at once."""
    spec = _spec(run.obj)
    guild_id, wanted = str(spec.get("guildId") or ""), str(spec.get("name") or "")
    recorded = str(_status(run.obj).get("channelId") or "")
    channel: Channel | None = None
    if recorded:
        try:
            channel = await run.client.get_channel(recorded)
        except NotFound:
            await run.ctx.events.warning(run.obj, "ChannelMissing", f"Channel {recorded} no longer exists on Discord")
    if channel is None:
        adopted = adoptable_channels(await run.client.guild_channels(guild_id), uid_of(run.obj))
        if adopted:
            channel = adopted[0]
            await run.record({"channelId": channel.id})
            await run.ctx.events.normal(run.obj, "Adopted", f"Adopted channel {channel.id} created earlier", "Adopt")
        else:
            channel = await run.client.create_text_channel(guild_id, wanted, ownership_marker(uid_of(run.obj)))
            await run.record({"channelId": channel.id})
            await run.ctx.events.normal(
                run.obj, "Created", f"Created channel {channel.id} on guild {guild_id}", "Create"
            )
    if channel.name != discord_channel_name(wanted):
        channel = await run.client.rename_channel(channel.id, wanted)
        await run.ctx.events.normal(run.obj, "Renamed", f"Renamed channel {channel.id} to {channel.name}", "Update")
    return channel


async def _current_webhook(run: Pass, channel: Channel, url: str) -> bool:
    """Whether the stored URL's webhook still exists on this channel."""
    webhook_id = webhook_id_of(url) if url else None
    if webhook_id is None:
        return False
    try:
        webhook = await run.client.get_webhook(webhook_id)
    except NotFound:
        await run.ctx.events.warning(run.obj, "WebhookMissing", f"Webhook {webhook_id} no longer exists on Discord")
        return False
    return webhook.channel_id == channel.id


async def _ensure_webhook(run: Pass, channel: Channel) -> str:
    """Secret `<name>-webhook` holding the URL of a live webhook on the channel; returns the Secret's name."""
    ctx, obj = run.ctx, run.obj
    secret_name = webhook_secret_name(name_of(obj))
    live = ctx.owned(SECRETS.api_version, SECRETS.kind).get(namespace_of(obj), secret_name)
    if live is None:
        live = await ctx.client.get(SECRETS, secret_name, namespace_of(obj))
    if live is not None and not owned_by(live, obj):
        raise SecretConflict(f"Secret {secret_name} exists and is not owned by this DiscordChannel; not overwritten")
    if live is not None and await _current_webhook(run, channel, decode_secret_value(live, WEBHOOK_KEY)):
        return secret_name
    bot_id = await run.client.current_user_id()
    webhook = reusable_webhook(await run.client.channel_webhooks(channel.id), bot_id)
    if webhook is None:
        webhook = await run.client.create_webhook(channel.id, WEBHOOK_NAME)
        await ctx.events.normal(obj, "Created", f"Created webhook {webhook.id} on channel {channel.id}", "Create")
    if not webhook.url:
        raise DiscordError(200, f"webhook {webhook.id} came without a token")
    body = webhook_secret(obj, webhook.url)
    if live is None:
        try:
            await ctx.client.create(SECRETS, body)
        except ApiError as error:
            if not error.conflict:
                raise
            live = await ctx.client.get(SECRETS, secret_name, namespace_of(obj))
            if live is None or not owned_by(live, obj):
                raise SecretConflict(f"Secret {secret_name} appeared meanwhile; not overwritten") from None
    if live is not None:
        await ctx.client.patch(SECRETS, secret_name, {"data": body["data"]}, namespace_of(obj), patch_type="merge")
    await ctx.events.normal(obj, "WebhookStored", f"Stored webhook {webhook.id} in Secret {secret_name}", "Update")
    return secret_name


@dataclass
class Runtime:
    """What outlives one reconcile: settings, Discord's rate limits as last seen, and the last token each
    DiscordChannel (by uid) was reconciled with, in memory only. Deleting a namespace deletes the token Secret
    and the DiscordChannel together; the remembered token still lets the channel be deleted on Discord."""

    settings: DiscordSettings
    limits: RateLimits = field(default_factory=RateLimits)
    tokens: dict[str, str] = field(default_factory=dict, repr=False)

    def client(self, token: str) -> DiscordClient:
        return DiscordClient(token, base_url=self.settings.api_url, limits=self.limits)


async def _delete_channels(client: DiscordClient, ctx: Context, obj: Obj) -> None:
    """Delete the recorded channel, or when none is recorded (created, never recorded) the marked ones."""
    recorded = str(_status(obj).get("channelId") or "")
    targets = [recorded] if recorded else []
    if not targets:
        try:
            channels = await client.guild_channels(str(_spec(obj).get("guildId") or ""))
        except NotFound:
            channels = []  # the guild is gone, and its channels with it
        targets = [c.id for c in adoptable_channels(channels, uid_of(obj))]
    for channel_id in targets:
        if await client.delete_channel(channel_id):
            await ctx.events.normal(obj, "Deleted", f"Deleted channel {channel_id}", "Delete")


async def _finalize(obj: Obj, ctx: Context, runtime: Runtime) -> Result:
    """Delete the channel (404 counts as gone), then let the object go.

    With the token Secret (or its key) gone, the token remembered from the last pass is tried once; failing
    that, or with no token at all, the finalizer is removed and an Event says what was left on Discord. With
    the Secret present but the token refused, the finalizer stays (the refusal may be a passing permission
    problem) and the condition says so; deleting the Secret lets the object go.
    """
    if FINALIZER not in finalizers_of(obj):
        return Result()
    rt = await ctx.primary_resource()
    uid = uid_of(obj)
    token = _read_token(ctx, obj)
    remembered = "" if token else runtime.tokens.get(uid, "")
    if token or remembered:
        async with runtime.client(token or remembered) as client:
            try:
                await _delete_channels(client, ctx, obj)
            except DiscordError as error:
                log.warning("channel cleanup failed", extra=fields("DiscordChannel", object_key(obj), error=str(error)))
                if token:
                    return await _report(ctx, obj, failure_outcome(error, str(_spec(obj).get("guildId") or "")))
                await _cleanup_skipped(ctx, obj, f"the remembered bot token failed ({error.status})")
    else:
        await _cleanup_skipped(ctx, obj, f"bot token Secret {token_secret_key(obj)} is gone")
    await remove_finalizer(ctx.client, rt, obj, FINALIZER, ctx.primary)
    runtime.tokens.pop(uid, None)
    return Result()


async def _cleanup_skipped(ctx: Context, obj: Obj, why: str) -> None:
    recorded = str(_status(obj).get("channelId") or "")
    if recorded:
        await ctx.events.warning(obj, "CleanupSkipped", f"Channel {recorded} left on Discord: {why}", "Delete")


async def reconcile(obj: Obj, ctx: Context, runtime: Runtime) -> Result:
    if is_deleting(obj):
        return await _finalize(obj, ctx, runtime)
    obj = await ensure_finalizer(ctx.client, await ctx.primary_resource(), obj, FINALIZER, ctx.primary)
    token = _read_token(ctx, obj)
    guild_id = str(_spec(obj).get("guildId") or "")
    if not token:
        message = f"Secret {token_secret_key(obj)} has no {TOKEN_KEY!r} key (or does not exist)"
        outcome = Outcome(Condition("Ready", "False", "TokenMissing", message), TOKEN_MISSING_RETRY_SECONDS)
        return await _report(ctx, obj, outcome)
    runtime.tokens[uid_of(obj)] = token
    async with runtime.client(token) as client:
        run = Pass(obj, ctx, client)
        try:
            channel = await _ensure_channel(run)
            secret_name = await _ensure_webhook(run, channel)
        except DiscordError as error:
            log.warning("discord call failed", extra=fields("DiscordChannel", run.key, error=str(error)))
            return await _report(ctx, run.obj, failure_outcome(error, guild_id))
        except SecretConflict as conflict:
            outcome = Outcome(Condition("Ready", "False", "SecretConflict", str(conflict)), TOKEN_MISSING_RETRY_SECONDS)
            return await _report(ctx, run.obj, outcome)
        message = f"Channel {channel.id} ({channel.name}) with its webhook in Secret {secret_name}"
        ready = Outcome(Condition("Ready", "True", "Created", message), runtime.settings.resync_seconds)
        return await _report(ctx, run.obj, ready, {"channelId": channel.id, "webhookSecretName": secret_name})


# ---- wiring ------------------------------------------------------------------------------------------------


def token_secret_mapper(channels: Informer) -> Mapper:
    """Secret -> the DiscordChannels whose bot token it holds."""

    def mapper(secret: Obj) -> Iterable[str]:
        return channels.store.index_keys(BY_TOKEN_SECRET, object_key(secret))

    return mapper


def setup(manager: Manager) -> None:
    channels = manager.informer(*DISCORD_CHANNEL)
    channels.store.add_index(BY_TOKEN_SECRET, index_by_token_secret)
    runtime = Runtime(DiscordSettings.from_env(manager.config.env))

    async def run(obj: Obj, ctx: Context) -> Result:
        return await reconcile(obj, ctx, runtime)

    controller = manager.add_controller("DiscordChannel", channels, run)
    controller.watch(manager.informer(SECRETS.api_version, SECRETS.kind), token_secret_mapper(channels))
    controller.watch(manager.owned(SECRETS.api_version, SECRETS.kind), owner_mapper(channels))
