"""A fake Discord REST API v10 on aiohttp, as strict as the real one about what a DiscordChannel uses.

Methods and paths (405 for a known path with another method, 404 for an unknown one), the bot token
(`Authorization: Bot <token>`, 401 otherwise), a `User-Agent` of the form Discord asks for, JSON bodies
(`Content-Type: application/json`, 50109 for invalid JSON, 50035 for invalid fields), status codes (201 for a
created channel, 200 for a created webhook, 204 nowhere: Discord answers deletes of channels with the channel),
and the error shape `{"message": ..., "code": ...}`. On demand: 429s with `retry_after` and the
`X-RateLimit-*` headers, 5xx answers, hangs (for client timeouts), a guild that disappears, a bot without
permissions. It counts what it created so tests can prove there never was a second channel or webhook.

State lives behind a lock and handlers never await while holding it, so a test thread can read counts and
change behaviour while the server runs in another thread (`ThreadedFakeDiscord`, for end-to-end tests).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

TOKEN = "fake-bot-token.MTIzNDU2Nzg5.secret-part"
BOT_USER_ID = "900000000000000001"
GUILD_ID = "1187436921458327612"
USER_AGENT = re.compile(r"^DiscordBot \(\S+, \S+\)")


def error(status: int, message: str, code: int = 0, **extra: Any) -> web.Response:
    body = {"message": message, "code": code, **extra}
    return web.json_response(body, status=status)


@dataclass
class Fault:
    """An injected answer for the next `count` matching requests."""

    count: int
    status: int = 500
    hang: float = 0.0
    retry_after: float = 0.0
    global_: bool = False
    method: str | None = None
    path: str | None = None
    """A regular expression the request path must match (searched), or None for any."""

    def matches(self, request: web.Request) -> bool:
        if self.method and request.method != self.method:
            return False
        return not (self.path and not re.search(self.path, request.path))


@dataclass
class FakeDiscordState:
    """Guilds, channels and webhooks, plus what was ever created and what faults are pending."""

    base_url: str = ""
    tokens: dict[str, str] = field(default_factory=lambda: {TOKEN: BOT_USER_ID})
    guilds: set[str] = field(default_factory=lambda: {GUILD_ID})
    forbidden_guilds: set[str] = field(default_factory=set)
    channels: dict[str, dict[str, Any]] = field(default_factory=dict)
    webhooks: dict[str, dict[str, Any]] = field(default_factory=dict)
    created_channels: int = 0
    created_webhooks: int = 0
    deleted_channels: int = 0
    renamed_channels: int = 0
    issued_webhook_tokens: list[str] = field(default_factory=list)
    requests: list[tuple[str, str]] = field(default_factory=list)
    headers_seen: list[dict[str, str]] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1300000000000000000))

    def next_id(self) -> str:
        return str(next(self._ids))

    # ---- what tests read and change ----------------------------------------------------------------------

    def guild_channels(self, guild_id: str = GUILD_ID) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(c) for c in self.channels.values() if c["guild_id"] == guild_id]

    def channel_webhooks(self, channel_id: str) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(w) for w in self.webhooks.values() if w["channel_id"] == channel_id]

    def add_guild(self) -> str:
        """A new guild the bot is a member of; its id."""
        with self.lock:
            guild_id = self.next_id()
            self.guilds.add(guild_id)
            return guild_id

    def add_channel(self, name: str, topic: str = "", guild_id: str = GUILD_ID) -> str:
        """A text channel made outside the API under test (not counted as created); its id."""
        with self.lock:
            channel_id = self.next_id()
            self.channels[channel_id] = {
                "id": channel_id,
                "type": 0,
                "guild_id": guild_id,
                "name": name,
                "topic": topic,
            }
            return channel_id

    def add_webhook(self, channel_id: str, name: str, creator: str = BOT_USER_ID) -> str:
        """A webhook made outside the API under test (not counted as created); its id."""
        with self.lock:
            webhook_id = self.next_id()
            token = f"whtoken-{self.next_id()}-SECRET"
            guild_id = self.channels[channel_id]["guild_id"]
            self.webhooks[webhook_id] = {
                "id": webhook_id,
                "name": name,
                "channel_id": channel_id,
                "guild_id": guild_id,
                "creator": creator,
                "token": token,
            }
            self.issued_webhook_tokens.append(token)
            return webhook_id

    def delete_webhook(self, webhook_id: str) -> None:
        with self.lock:
            self.webhooks.pop(webhook_id, None)

    def delete_guild(self, guild_id: str) -> None:
        """The guild is deleted: its channels and their webhooks go with it."""
        with self.lock:
            self.guilds.discard(guild_id)
            for channel_id in [i for i, c in self.channels.items() if c["guild_id"] == guild_id]:
                self._drop_channel(channel_id)

    def inject(self, fault: Fault) -> None:
        with self.lock:
            self.faults.append(fault)

    def _drop_channel(self, channel_id: str) -> None:
        self.channels.pop(channel_id, None)
        for webhook_id in [i for i, w in self.webhooks.items() if w["channel_id"] == channel_id]:
            del self.webhooks[webhook_id]

    def _take_fault(self, request: web.Request) -> Fault | None:
        for fault in self.faults:
            if fault.count > 0 and fault.matches(request):
                fault.count -= 1
                return fault
        return None


def _normalise_text_channel_name(name: str) -> str:
    """What Discord does to a text channel's name: lower case, whitespace runs become one hyphen."""
    return re.sub(r"\s+", "-", name.strip()).lower()


def _rate_limit_headers(bucket: str, remaining: int, reset_after: float) -> dict[str, str]:
    return {
        "X-RateLimit-Limit": "5",
        "X-RateLimit-Remaining": str(remaining),
        "X-RateLimit-Reset-After": f"{reset_after:.3f}",
        "X-RateLimit-Bucket": bucket,
    }


class FakeDiscord:
    """The aiohttp application over a `FakeDiscordState`."""

    def __init__(self, state: FakeDiscordState | None = None) -> None:
        self.state = state or FakeDiscordState()

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        routes: list[tuple[str, str, Callable[[web.Request], Any]]] = [
            ("GET", "/api/v10/users/@me", self.current_user),
            ("GET", "/api/v10/guilds/{guild}/channels", self.list_channels),
            ("POST", "/api/v10/guilds/{guild}/channels", self.create_channel),
            ("GET", "/api/v10/channels/{channel}", self.get_channel),
            ("PATCH", "/api/v10/channels/{channel}", self.modify_channel),
            ("DELETE", "/api/v10/channels/{channel}", self.delete_channel),
            ("GET", "/api/v10/channels/{channel}/webhooks", self.list_webhooks),
            ("POST", "/api/v10/channels/{channel}/webhooks", self.create_webhook),
            ("GET", "/api/v10/webhooks/{webhook}", self.get_webhook),
            ("DELETE", "/api/v10/webhooks/{webhook}", self.delete_webhook),
        ]
        for method, path, handler in routes:
            app.router.add_route(method, path, handler)
        return app

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Callable[[web.Request], Any]) -> web.StreamResponse:
        state = self.state
        with state.lock:
            state.requests.append((request.method, request.path))
            state.headers_seen.append(dict(request.headers))
            fault = state._take_fault(request)
        if fault is not None and fault.hang:
            await asyncio.sleep(fault.hang)
        if fault is not None and fault.status == 429:
            headers = _rate_limit_headers("fake-bucket", 0, fault.retry_after)
            if fault.global_:
                headers["X-RateLimit-Global"] = "true"
                headers["X-RateLimit-Scope"] = "global"
            body = {"message": "You are being rate limited.", "retry_after": fault.retry_after, "global": fault.global_}
            return web.json_response({**body, "code": 0}, status=429, headers=headers)
        if fault is not None and fault.status >= 500:
            return error(fault.status, f"{fault.status}: Internal Server Error")
        authorization = request.headers.get("Authorization", "")
        if not authorization.startswith("Bot ") or authorization[4:] not in state.tokens:
            return error(401, "401: Unauthorized")
        if not USER_AGENT.match(request.headers.get("User-Agent", "")):
            return error(400, "User-Agent must be of the form DiscordBot ($url, $versionNumber)")
        try:
            response: web.StreamResponse = await handler(request)
        except web.HTTPMethodNotAllowed:
            return error(405, "405: Method Not Allowed")
        except web.HTTPNotFound:
            return error(404, "404: Not Found")
        if not isinstance(response, web.Response) or response.status < 400:
            response.headers.update(_rate_limit_headers(f"bucket-{request.method}", 4, 1.0))
        return response

    # ---- helpers -----------------------------------------------------------------------------------------

    async def _json_body(self, request: web.Request) -> dict[str, Any] | web.Response:
        if request.content_type != "application/json":
            return error(400, "Content-Type must be application/json", 50006)
        try:
            body = json.loads(await request.text())
        except ValueError:
            return error(400, "The request body contains invalid JSON.", 50109)
        if not isinstance(body, dict):
            return error(400, "Invalid Form Body", 50035)
        return body

    def _channel_view(self, channel: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in channel.items() if not k.startswith("_")}

    def _webhook_view(self, webhook: dict[str, Any], with_token: bool) -> dict[str, Any]:
        view = {
            "id": webhook["id"],
            "type": 1,
            "name": webhook["name"],
            "channel_id": webhook["channel_id"],
            "guild_id": webhook["guild_id"],
            "user": {"id": webhook["creator"], "username": "bot", "bot": True},
        }
        if with_token:
            view["token"] = webhook["token"]
            view["url"] = f"{self.state.base_url}/webhooks/{webhook['id']}/{webhook['token']}"
        return view

    def _guild_problem(self, guild_id: str) -> web.Response | None:
        if guild_id not in self.state.guilds:
            return error(404, "Unknown Guild", 10004)
        if guild_id in self.state.forbidden_guilds:
            return error(403, "Missing Permissions", 50013)
        return None

    def _channel_or_error(self, channel_id: str) -> dict[str, Any] | web.Response:
        channel = self.state.channels.get(channel_id)
        if channel is None:
            return error(404, "Unknown Channel", 10003)
        if channel["guild_id"] in self.state.forbidden_guilds:
            return error(403, "Missing Permissions", 50013)
        return channel

    @staticmethod
    def _bot(request: web.Request, state: FakeDiscordState) -> str:
        return state.tokens[request.headers["Authorization"][4:]]

    # ---- routes ------------------------------------------------------------------------------------------

    async def current_user(self, request: web.Request) -> web.Response:
        bot = self._bot(request, self.state)
        return web.json_response({"id": bot, "username": "shophub", "discriminator": "0", "bot": True})

    async def list_channels(self, request: web.Request) -> web.Response:
        guild_id = request.match_info["guild"]
        with self.state.lock:
            problem = self._guild_problem(guild_id)
            if problem is not None:
                return problem
            found = [self._channel_view(c) for c in self.state.channels.values() if c["guild_id"] == guild_id]
        return web.json_response(found)

    async def create_channel(self, request: web.Request) -> web.Response:
        guild_id = request.match_info["guild"]
        body = await self._json_body(request)
        if isinstance(body, web.Response):
            return body
        name, kind, topic = body.get("name"), body.get("type", 0), body.get("topic")
        if not isinstance(name, str) or not 1 <= len(name) <= 100:
            return error(
                400, "Invalid Form Body", 50035, errors={"name": {"_errors": [{"code": "BASE_TYPE_BAD_LENGTH"}]}}
            )
        if kind not in (0, 2, 4, 5, 13, 15, 16) or (
            topic is not None and (not isinstance(topic, str) or len(topic) > 1024)
        ):
            return error(400, "Invalid Form Body", 50035)
        with self.state.lock:
            problem = self._guild_problem(guild_id)
            if problem is not None:
                return problem
            channel = {
                "id": self.state.next_id(),
                "type": kind,
                "guild_id": guild_id,
                "name": _normalise_text_channel_name(name) if kind == 0 else name,
                "topic": topic,
                "position": len(self.state.channels),
                "permission_overwrites": [],
                "nsfw": False,
            }
            self.state.channels[channel["id"]] = channel
            self.state.created_channels += 1
            view = self._channel_view(channel)
        return web.json_response(view, status=201)

    async def get_channel(self, request: web.Request) -> web.Response:
        with self.state.lock:
            channel = self._channel_or_error(request.match_info["channel"])
            if isinstance(channel, web.Response):
                return channel
            return web.json_response(self._channel_view(channel))

    async def modify_channel(self, request: web.Request) -> web.Response:
        body = await self._json_body(request)
        if isinstance(body, web.Response):
            return body
        name = body.get("name")
        if name is not None and (not isinstance(name, str) or not 1 <= len(name) <= 100):
            return error(400, "Invalid Form Body", 50035)
        with self.state.lock:
            channel = self._channel_or_error(request.match_info["channel"])
            if isinstance(channel, web.Response):
                return channel
            if name is not None:
                channel["name"] = _normalise_text_channel_name(name) if channel["type"] == 0 else name
                self.state.renamed_channels += 1
            return web.json_response(self._channel_view(channel))

    async def delete_channel(self, request: web.Request) -> web.Response:
        with self.state.lock:
            channel = self._channel_or_error(request.match_info["channel"])
            if isinstance(channel, web.Response):
                return channel
            self.state._drop_channel(channel["id"])
            self.state.deleted_channels += 1
            return web.json_response(self._channel_view(channel))

    async def list_webhooks(self, request: web.Request) -> web.Response:
        with self.state.lock:
            channel = self._channel_or_error(request.match_info["channel"])
            if isinstance(channel, web.Response):
                return channel
            found = [
                self._webhook_view(w, with_token=True)
                for w in self.state.webhooks.values()
                if w["channel_id"] == channel["id"]
            ]
        return web.json_response(found)

    async def create_webhook(self, request: web.Request) -> web.Response:
        body = await self._json_body(request)
        if isinstance(body, web.Response):
            return body
        name = body.get("name")
        if not isinstance(name, str) or not 1 <= len(name) <= 80:
            return error(400, "Invalid Form Body", 50035)
        if "discord" in name.lower() or "clyde" in name.lower():
            return error(
                400, "Invalid Form Body", 50035, errors={"name": {"_errors": [{"code": "USERNAME_INVALID_CONTAINS"}]}}
            )
        with self.state.lock:
            channel = self._channel_or_error(request.match_info["channel"])
            if isinstance(channel, web.Response):
                return channel
            webhook = {
                "id": self.state.next_id(),
                "name": name,
                "channel_id": channel["id"],
                "guild_id": channel["guild_id"],
                "creator": self._bot(request, self.state),
                "token": f"whtoken-{self.state.next_id()}-SECRET",
            }
            self.state.webhooks[webhook["id"]] = webhook
            self.state.created_webhooks += 1
            self.state.issued_webhook_tokens.append(webhook["token"])
            return web.json_response(self._webhook_view(webhook, with_token=True))

    async def get_webhook(self, request: web.Request) -> web.Response:
        with self.state.lock:
            webhook = self.state.webhooks.get(request.match_info["webhook"])
            if webhook is None:
                return error(404, "Unknown Webhook", 10015)
            return web.json_response(self._webhook_view(webhook, with_token=False))

    async def delete_webhook(self, request: web.Request) -> web.Response:
        with self.state.lock:
            if self.state.webhooks.pop(request.match_info["webhook"], None) is None:
                return error(404, "Unknown Webhook", 10015)
        return web.Response(status=204)


@dataclass
class RunningFake:
    """A started fake: its API base URL (what `DISCORD_API_URL` is set to) and its state."""

    url: str
    state: FakeDiscordState
    runner: web.AppRunner


async def start_fake_discord(
    state: FakeDiscordState | None = None, ssl_context: Any = None, host: str = "127.0.0.1"
) -> RunningFake:
    """Serve a fake on a free loopback port (HTTPS when `ssl_context` is given)."""
    fake = FakeDiscord(state)
    runner = web.AppRunner(fake.app(), access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, host, 0, ssl_context=ssl_context)
    await site.start()
    port = runner.addresses[0][1]
    scheme = "https" if ssl_context is not None else "http"
    url = f"{scheme}://{host}:{port}/api/v10"
    fake.state.base_url = url
    return RunningFake(url, fake.state, runner)


class ThreadedFakeDiscord:
    """The fake in a thread with its own event loop, for synchronous (end-to-end) tests."""

    def __init__(self) -> None:
        self.state = FakeDiscordState()
        self.url = ""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fake-discord", daemon=True)
        self._running: RunningFake | None = None

    def start(self) -> ThreadedFakeDiscord:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(start_fake_discord(self.state), self._loop)
        self._running = future.result(timeout=10)
        self.url = self._running.url
        return self

    def stop(self) -> None:
        if self._running is not None:
            asyncio.run_coroutine_threadsafe(self._running.runner.cleanup(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
