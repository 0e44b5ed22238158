"""`notify.shophub.local/v1` DiscordChannel: a Discord text channel plus a webhook Secret, as in shop-operator.

Names, required fields and printer columns match shop-operator. tenantgate adds what it lacked: conditions
that are actually written (Ready), and `spec.guildId` is immutable because Discord cannot move a channel to
another guild (a changed name renames the channel).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from crds.common import (
    ApiModel,
    Conditions,
    CustomResource,
    Immutable,
    KindInfo,
    PrinterColumn,
    SecretReference,
    age_column,
    condition_column,
    conditions_field,
)

GROUP = "notify.shophub.local"
VERSION = "v1"


class DiscordChannelSpec(ApiModel):
    """The channel to create and the bot allowed to create it."""

    guild_id: Annotated[str, Immutable()] = Field(
        max_length=32,
        description="Discord guild (server) id (a snowflake). Immutable: a channel cannot move between guilds.",
    )
    name: str = Field(description="Name of the text channel to create; a change renames the channel.")
    bot_token_ref: SecretReference = Field(
        description="Secret holding the bot token under key token; its namespace defaults to the "
        "DiscordChannel's. The bot needs the Manage Channels and Manage Webhooks permissions.",
    )


class DiscordChannelStatus(ApiModel):
    """What the controller created on Discord."""

    conditions: Conditions | None = conditions_field("type Ready.")
    channel_id: str | None = Field(default=None, description="Id of the created Discord channel.")
    webhook_secret_name: str | None = Field(
        default=None,
        description="Name of the Secret (<name>-webhook) holding the channel's webhook URL under key webhook-url.",
    )


class DiscordChannel(CustomResource):
    """A DiscordChannel object."""

    spec: DiscordChannelSpec = Field(description="Desired channel.")
    status: DiscordChannelStatus | None = Field(default=None, description="Observed channel.")


DISCORD_CHANNEL = KindInfo(
    group=GROUP,
    version=VERSION,
    kind="DiscordChannel",
    plural="discordchannels",
    singular="discordchannel",
    scope="Namespaced",
    short_names=("dc",),
    categories=("shophub",),
    model=DiscordChannel,
    origin="shop-operator",
    description="DiscordChannel is a Discord text channel with an incoming webhook whose URL is published in a "
    "Secret, for a Shop's alerts.",
    printer_columns=(
        PrinterColumn("GUILD", "string", ".spec.guildId", "Discord guild id."),
        PrinterColumn("NAME", "string", ".spec.name", "Channel name."),
        PrinterColumn("CHANNEL", "string", ".status.channelId", "Created channel id."),
        condition_column("READY"),
        age_column("AGE"),
    ),
    builds="""\
- Finalizer `discordchannel.notify.shophub.local/finalizer`, added before any Discord call.
- Discord REST v10 with the bot token (`Authorization: Bot <token>`): creates the text channel
  (`POST /guilds/{guildId}/channels`) once, with a marker naming the DiscordChannel's uid in its topic, and records
  `status.channelId` before anything else; a lost id is found again by that marker, never a second channel.
  Renames the channel when `spec.name` changes.
- A webhook named `shophub-alerts` on the channel (the bot's existing one is reused) and Secret `<name>-webhook`
  (key `webhook-url`, owned by the DiscordChannel); a webhook deleted on Discord is recreated and the Secret updated.
- On delete: deletes the channel (404 counts as done); when the bot-token Secret is gone the finalizer is removed
  (after one try with the token last used) and a Warning Event names the channel left on Discord.
- Status: `channelId`, `webhookSecretName`, condition `Ready` (reasons `Created`, `TokenMissing`, `Unauthorized`,
  `GuildNotFound`, `RateLimited`, `DiscordError`, `SecretConflict`).
""",
)

KINDS = (DISCORD_CHANNEL,)
