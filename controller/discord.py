"""A small client for Discord's REST API v10: the calls a DiscordChannel needs, with typed failures.

Discord is outside the cluster and holds secrets, so the client is careful about three things. Failures are
typed (`Unauthorized`, `NotFound`, `RateLimited`, `ServerError`, `DiscordTimeout`) so the reconciler can map
each one to a condition and a retry delay instead of a generic error loop. Rate limits are honoured: a 429's
`retry_after` and the `X-RateLimit-*` headers of every answer are remembered per route (and globally) in a
`RateLimits` the process shares, so a bucket known to be empty is not called again before it resets. And no
error, log line or repr carries the bot token or a webhook's token: errors keep only Discord's `message` and
`code`, and `Webhook.url` is excluded from its repr.

Only idempotent calls (GET, PATCH, DELETE) are retried on 5xx and timeouts, with bounded backoff; a create that
timed out may have happened, so it is never retried blindly: the reconciler looks for what it may have created.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import re
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp

DEFAULT_API_URL = "https://discord.com/api/v10"
API_URL_ENV = "DISCORD_API_URL"
TIMEOUT_SECONDS = 15.0
USER_AGENT = "DiscordBot (https://github.com/tenantgate/tenantgate, 0.1.0)"
"""The form Discord asks bots for: `DiscordBot ($url, $versionNumber)`."""

TEXT_CHANNEL = 0
INCOMING_WEBHOOK = 1
MAX_ERROR_MESSAGE = 200

UNKNOWN_GUILD = 10004
UNKNOWN_CHANNEL = 10003
UNKNOWN_WEBHOOK = 10015


def api_url(env: Mapping[str, str]) -> str:
    """The API base URL from the controller's environment, without a trailing slash."""
    return (env.get(API_URL_ENV) or DEFAULT_API_URL).rstrip("/")


# ---- errors ------------------------------------------------------------------------------------------------


class DiscordError(Exception):
    """A failed call: the HTTP status and Discord's own `message`/`code`, never the request's headers."""

    def __init__(self, status: int, message: str, code: int = 0) -> None:
        self.status = status
        self.code = code
        self.message = message[:MAX_ERROR_MESSAGE]
        super().__init__(f"Discord API {status}" + (f" (code {code})" if code else "") + f": {self.message}")


class Unauthorized(DiscordError):
    """401 (the token is not valid) or 403 (the bot lacks a permission on the guild or channel)."""


class NotFound(DiscordError):
    """404: the guild, channel or webhook does not exist (any more)."""


class ServerError(DiscordError):
    """5xx after the retries."""


class DiscordTimeout(DiscordError):
    """No answer within the timeout, after the retries."""

    def __init__(self, seconds: float) -> None:
        super().__init__(0, f"no answer within {seconds:g} s")


class RateLimited(DiscordError):
    """429, or a bucket known to be empty: call again after `retry_after` seconds."""

    def __init__(self, retry_after: float, message: str = "rate limited", *, global_: bool = False, bucket: str = ""):
        self.retry_after = retry_after
        self.global_ = global_
        self.bucket = bucket
        super().__init__(429, f"{message}; retry after {retry_after:.3g} s" + (" (global)" if global_ else ""))


# ---- rate limits -------------------------------------------------------------------------------------------


def route_key(method: str, path: str) -> str:
    """The rate-limit route of a call: Discord buckets per route and per top-level resource (guild, channel,
    webhook id), so ids of those stay and any other id (a message, ...) is folded."""
    parts = path.strip("/").split("/")
    major = len(parts) > 1 and parts[0] in ("guilds", "channels", "webhooks")
    kept = [part if (index == 1 and major) or not part.isdigit() else ":id" for index, part in enumerate(parts)]
    return f"{method} /{'/'.join(kept)}"


@dataclass(frozen=True)
class RateLimitHeaders:
    """The `X-RateLimit-*` headers of one answer (absent ones are None)."""

    remaining: int | None = None
    reset_after: float | None = None
    bucket: str | None = None
    global_: bool = False
    scope: str | None = None


def parse_rate_limit_headers(headers: Mapping[str, str]) -> RateLimitHeaders:
    """Read the rate-limit headers; malformed values count as absent. Pure."""

    def number(name: str) -> float | None:
        value = headers.get(name)
        try:
            return float(value) if value is not None else None
        except ValueError:
            return None

    remaining = number("X-RateLimit-Remaining")
    return RateLimitHeaders(
        remaining=int(remaining) if remaining is not None else None,
        reset_after=number("X-RateLimit-Reset-After"),
        bucket=headers.get("X-RateLimit-Bucket"),
        global_=headers.get("X-RateLimit-Global", "").lower() == "true",
        scope=headers.get("X-RateLimit-Scope"),
    )


@dataclass
class RateLimits:
    """What the process knows of Discord's buckets: per route (and bucket) when it may call again, and the
    global limit. Shared by every client of the process; Discord counts limits per bot, so keys start with a
    digest of the token (never the token itself)."""

    clock: Callable[[], float] = time.monotonic
    _until: dict[str, float] = field(default_factory=dict)
    _bucket_of: dict[str, str] = field(default_factory=dict)

    def delay(self, identity: str, route: str) -> tuple[float, bool]:
        """Seconds to wait before calling `route` (0 when it may be called now), and whether it is global."""
        now = self.clock()
        global_wait = self._until.get(f"{identity} global", 0.0) - now
        bucket = self._bucket_of.get(f"{identity} {route}", route)
        route_wait = self._until.get(f"{identity} {bucket}", 0.0) - now
        if global_wait > 0 and global_wait >= route_wait:
            return global_wait, True
        return max(route_wait, 0.0), False

    def observe(
        self, identity: str, route: str, headers: RateLimitHeaders, retry_after: float | None, global_: bool = False
    ) -> None:
        """Remember what an answer said: an empty bucket (or a 429) blocks its route until the reset; a global
        429 blocks every route."""
        bucket = headers.bucket or route
        self._bucket_of[f"{identity} {route}"] = bucket
        now = self.clock()
        if retry_after is not None and (global_ or headers.global_):
            self._until[f"{identity} global"] = now + retry_after
            return
        wait = retry_after
        if wait is None and headers.remaining == 0 and headers.reset_after is not None:
            wait = headers.reset_after
        if wait is not None:
            self._until[f"{identity} {bucket}"] = now + wait
        else:
            self._until.pop(f"{identity} {bucket}", None)


# ---- wire objects ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Channel:
    id: str
    name: str
    type: int
    guild_id: str = ""
    topic: str = ""


@dataclass(frozen=True)
class Webhook:
    id: str
    name: str
    channel_id: str
    creator_id: str = ""
    url: str = field(default="", repr=False)
    """Carries the webhook's token: a secret, kept out of repr."""


WEBHOOK_URL = re.compile(r"/webhooks/(?P<id>[0-9]+)/(?P<token>[A-Za-z0-9_.-]+)/?$")


def webhook_id_of(url: str) -> str | None:
    """The webhook id in a webhook URL (`.../webhooks/<id>/<token>`), or None when it is not one. Pure."""
    match = WEBHOOK_URL.search(url.strip())
    return match.group("id") if match else None


def webhook_url(base_url: str, payload: Mapping[str, Any]) -> str:
    """The URL of a created webhook: Discord's `url`, else built from `id` and `token` on the API base."""
    url = payload.get("url")
    if isinstance(url, str) and url:
        return url
    if payload.get("id") and payload.get("token"):
        return f"{base_url}/webhooks/{payload['id']}/{payload['token']}"
    return ""


def _channel(payload: Any) -> Channel:
    if not isinstance(payload, Mapping) or not payload.get("id"):
        raise DiscordError(200, "answer is not a channel object")
    return Channel(
        id=str(payload["id"]),
        name=str(payload.get("name") or ""),
        type=int(payload.get("type") or 0),
        guild_id=str(payload.get("guild_id") or ""),
        topic=str(payload.get("topic") or ""),
    )


def _webhook(base_url: str, payload: Any) -> Webhook:
    if not isinstance(payload, Mapping) or not payload.get("id"):
        raise DiscordError(200, "answer is not a webhook object")
    user = payload.get("user")
    return Webhook(
        id=str(payload["id"]),
        name=str(payload.get("name") or ""),
        channel_id=str(payload.get("channel_id") or ""),
        creator_id=str(user.get("id") or "") if isinstance(user, Mapping) else "",
        url=webhook_url(base_url, payload),
    )


# ---- the client --------------------------------------------------------------------------------------------

Sleep = Callable[[float], Awaitable[None]]
IDEMPOTENT = frozenset({"GET", "PATCH", "DELETE", "PUT"})


class DiscordClient:
    """One bot token's view of the API. Cheap to build per reconcile; share `session` and `limits`."""

    def __init__(
        self,
        token: str,
        *,
        base_url: str = DEFAULT_API_URL,
        session: aiohttp.ClientSession | None = None,
        limits: RateLimits | None = None,
        timeout: float = TIMEOUT_SECONDS,
        attempts: int = 3,
        backoff: float = 0.5,
        backoff_cap: float = 4.0,
        max_limit_wait: float = 1.0,
        ssl_context: ssl.SSLContext | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._token = token
        self.base_url = base_url.rstrip("/")
        self._session = session
        self._owns_session = session is None
        self.limits = limits or RateLimits()
        self.timeout = timeout
        self.attempts = max(1, attempts)
        self.backoff = backoff
        self.backoff_cap = backoff_cap
        self.max_limit_wait = max_limit_wait
        self._ssl: ssl.SSLContext | bool = ssl_context if ssl_context is not None else True
        self._sleep = sleep
        self._identity = hashlib.sha256(token.encode()).hexdigest()[:16]
        """Keys this token's rate limits; a digest, so the shared `RateLimits` holds no token."""

    def __repr__(self) -> str:
        return f"DiscordClient(base_url={self.base_url!r})"

    async def __aenter__(self) -> DiscordClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return self._session

    # ---- calls -----------------------------------------------------------------------------------------

    async def current_user_id(self) -> str:
        payload = await self.request("GET", "/users/@me")
        return str(payload.get("id") or "") if isinstance(payload, Mapping) else ""

    async def guild_channels(self, guild_id: str) -> list[Channel]:
        payload = await self.request("GET", f"/guilds/{guild_id}/channels")
        return [_channel(item) for item in payload or []]

    async def create_text_channel(self, guild_id: str, name: str, topic: str = "") -> Channel:
        body: dict[str, Any] = {"name": name, "type": TEXT_CHANNEL}
        if topic:
            body["topic"] = topic
        return _channel(await self.request("POST", f"/guilds/{guild_id}/channels", body))

    async def get_channel(self, channel_id: str) -> Channel:
        return _channel(await self.request("GET", f"/channels/{channel_id}"))

    async def rename_channel(self, channel_id: str, name: str) -> Channel:
        return _channel(await self.request("PATCH", f"/channels/{channel_id}", {"name": name}))

    async def delete_channel(self, channel_id: str) -> bool:
        """Delete a channel; False when it was already gone."""
        try:
            await self.request("DELETE", f"/channels/{channel_id}")
        except NotFound:
            return False
        return True

    async def channel_webhooks(self, channel_id: str) -> list[Webhook]:
        payload = await self.request("GET", f"/channels/{channel_id}/webhooks")
        return [_webhook(self.base_url, item) for item in payload or []]

    async def create_webhook(self, channel_id: str, name: str) -> Webhook:
        return _webhook(self.base_url, await self.request("POST", f"/channels/{channel_id}/webhooks", {"name": name}))

    async def get_webhook(self, webhook_id: str) -> Webhook:
        return _webhook(self.base_url, await self.request("GET", f"/webhooks/{webhook_id}"))

    # ---- transport -------------------------------------------------------------------------------------

    async def request(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        """One call with rate limits honoured and idempotent calls retried on 5xx and timeouts."""
        route = route_key(method, path)
        attempt = 0
        while True:
            attempt += 1
            await self._wait_for_bucket(route)
            try:
                return await self._once(method, path, route, body)
            except (ServerError, DiscordTimeout):
                if method not in IDEMPOTENT or attempt >= self.attempts:
                    raise
            delay = min(self.backoff * 2 ** (attempt - 1), self.backoff_cap)
            await self._sleep(delay * random.uniform(0.8, 1.0))

    async def _wait_for_bucket(self, route: str) -> None:
        delay, global_ = self.limits.delay(self._identity, route)
        if delay <= 0:
            return
        if delay > self.max_limit_wait:
            raise RateLimited(delay, "bucket exhausted", global_=global_)
        await self._sleep(delay)

    async def _once(self, method: str, path: str, route: str, body: Mapping[str, Any] | None) -> Any:
        headers = {"Authorization": f"Bot {self._token}", "User-Agent": USER_AGENT}
        if body is not None:
            headers["Content-Type"] = "application/json"
        try:
            async with self._http().request(
                method,
                self.base_url + path,
                json=body,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                ssl=self._ssl,
                allow_redirects=False,
            ) as response:
                text = await response.text()
                payload = _json(text)
                limit = parse_rate_limit_headers(response.headers)
                retry_after = _retry_after(payload, response.headers) if response.status == 429 else None
                global_ = limit.global_ or (isinstance(payload, Mapping) and payload.get("global") is True)
                self.limits.observe(self._identity, route, limit, retry_after, global_)
                if response.status < 300:
                    return payload
                raise _error(response.status, payload, retry_after, limit)
        except TimeoutError as error:
            raise DiscordTimeout(self.timeout) from error
        except aiohttp.ClientError as error:
            # Connection refused or reset: as retryable as a 5xx. The message names no header.
            raise ServerError(0, f"connection failed: {type(error).__name__}") from None


def _json(text: str) -> Any:
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def _retry_after(payload: Any, headers: Mapping[str, str]) -> float:
    """Seconds from the body's `retry_after`, else `Retry-After` / `X-RateLimit-Reset-After`, else 1."""
    candidates: list[Any] = []
    if isinstance(payload, Mapping):
        candidates.append(payload.get("retry_after"))
    candidates += [headers.get("X-RateLimit-Reset-After"), headers.get("Retry-After")]
    for candidate in candidates:
        try:
            if candidate is not None:
                return max(float(candidate), 0.0)
        except (TypeError, ValueError):
            continue
    return 1.0


def _error(status: int, payload: Any, retry_after: float | None, limit: RateLimitHeaders) -> DiscordError:
    message, code = "", 0
    if isinstance(payload, Mapping):
        message = str(payload.get("message") or "")
        raw_code = payload.get("code")
        code = raw_code if isinstance(raw_code, int) else 0
    message = message or f"HTTP {status}"
    if status == 429:
        global_ = limit.global_ or (isinstance(payload, Mapping) and payload.get("global") is True)
        return RateLimited(retry_after or 1.0, message, global_=global_, bucket=limit.bucket or "")
    if status in (401, 403):
        return Unauthorized(status, message, code)
    if status == 404:
        return NotFound(status, message, code)
    if status >= 500:
        return ServerError(status, message, code)
    return DiscordError(status, message, code)
