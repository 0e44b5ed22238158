"""Local DNS and ACME HTTP providers: what a laptop has instead of the services `DNS_MOCK_URL` and `ACME_MOCK_URL`
name.

`tenantgate dev --publishing http` serves one of each on a free loopback port and the end-to-end and integration
tests use the same ones, so the controller is always tested against what developers run. Each is as strict as a
real API about what it changes: only `POST` on its one path changes anything (other methods 405, other paths 404),
with `Content-Type: application/json` (415) and a JSON object of exactly the documented fields and types (400,
naming the field). An upsert stores, a delete removes, a delete of an unknown name answers 404. `GET` on the same
path lists what the provider holds (`{"items": [...]}`), so a developer can see what was published; every call
is logged as one `key=value` line. Tests can make the next N calls fail with a given status.

`LocalProvider` runs on the caller's event loop; `ThreadedProvider` runs one on a thread of its own, for a
synchronous caller (`tenantgate dev`, end-to-end tests) while the controller is another process.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import web

from kube.logfmt import kv

log = logging.getLogger(__name__)

T = TypeVar("T")

DNS_FIELDS: Mapping[str, type] = {
    "action": str,
    "record": str,
    "tenant": str,
    "host": str,
    "target": str,
    "type": str,
    "ttl": int,
}
ACME_FIELDS: Mapping[str, type] = {
    "action": str,
    "certificate": str,
    "tenant": str,
    "host": str,
    "dnsRecord": str,
    "secretName": str,
}
NON_EMPTY = {"record", "certificate", "host", "target"}


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    status: int
    body: Any


@dataclass(frozen=True)
class Api:
    role: str
    """`dns` or `acme`: how the provider is named in its log lines."""
    path: str
    fields: Mapping[str, type]
    key: str
    """The body field naming the object (`record`, `certificate`)."""


DNS_API = Api("dns", "/v1/dnsrecords", DNS_FIELDS, "record")
ACME_API = Api("acme", "/v1/certificates", ACME_FIELDS, "certificate")


def body_problem(api: Api, body: Any) -> str | None:
    """Why `body` is refused (None: accepted). Pure."""
    if not isinstance(body, dict):
        return "body must be a JSON object"
    unknown = sorted(set(body) - set(api.fields))
    if unknown:
        return f"unknown fields: {', '.join(unknown)}"
    for name, kind in api.fields.items():
        value = body.get(name)
        if not isinstance(value, kind) or isinstance(value, bool):
            return f"field {name} must be a {kind.__name__}"
        if name in NON_EMPTY and not value:
            return f"field {name} must not be empty"
    if body["action"] not in ("upsert", "delete"):
        return "field action must be upsert or delete"
    if api is DNS_API and (body["type"] not in ("A", "AAAA", "CNAME") or body["ttl"] <= 0):
        return "field type must be A, AAAA or CNAME and ttl positive"
    return None


@dataclass
class LocalProvider:
    api: Api
    calls: list[Call] = field(default_factory=list)
    held: dict[str, dict[str, Any]] = field(default_factory=dict)
    failures: list[int] = field(default_factory=list)
    url: str = ""
    _runner: web.AppRunner | None = None

    def fail_next(self, count: int, status: int = 503) -> None:
        self.failures.extend([status] * count)

    def bodies(self, action: str, name: str | None = None) -> list[dict[str, Any]]:
        """Accepted bodies of `action` (for object `name`)."""
        return [
            c.body
            for c in self.calls
            if 200 <= c.status < 300
            and isinstance(c.body, dict)
            and c.body.get("action") == action
            and (name is None or c.body.get(self.api.key) == name)
        ]

    def attempts(self, action: str, name: str) -> list[Call]:
        """Every call of `action` for `name`, failed or not."""
        return [
            c
            for c in self.calls
            if isinstance(c.body, dict) and c.body.get("action") == action and c.body.get(self.api.key) == name
        ]

    def listing(self) -> dict[str, Any]:
        """What `GET` answers: the held bodies, by name."""
        return {"items": [self.held[name] for name in sorted(self.held)]}

    async def _handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        if request.method == "GET" and request.path == self.api.path and not raw:
            return web.json_response(self.listing())
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        status, answer = self._judge(request, body)
        self.calls.append(Call(request.method, request.path, status, body))
        summary = body if isinstance(body, dict) else {}
        log.info(
            kv(
                "provider call",
                provider=self.api.role,
                method=request.method,
                path=request.path,
                status=status,
                action=summary.get("action", ""),
                name=summary.get(self.api.key, ""),
                host=summary.get("host", ""),
                error=answer.get("error", ""),
            )
        )
        return web.json_response(answer, status=status)

    def _judge(self, request: web.Request, body: Any) -> tuple[int, dict[str, Any]]:
        if request.path != self.api.path:
            return 404, {"error": f"no route {request.path}"}
        if request.method != "POST":
            return 405, {"error": f"method {request.method} not allowed"}
        if request.content_type != "application/json":
            return 415, {"error": f"content type {request.content_type} not accepted"}
        problem = body_problem(self.api, body)
        if problem is not None:
            return 400, {"error": problem}
        if self.failures:
            return self.failures.pop(0), {"error": "injected failure"}
        name = body[self.api.key]
        if body["action"] == "delete":
            if self.held.pop(name, None) is None:
                return 404, {"error": f"{name} not found"}
            return 200, {"deleted": name}
        self.held[name] = body
        return 200, {"upserted": name}

    async def start(self) -> str:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


class ThreadedProvider:
    """A LocalProvider served from a thread of its own; read its state with `run`."""

    def __init__(self, api: Api) -> None:
        self.provider = LocalProvider(api)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=f"{api.role}-provider", daemon=True)

    @property
    def url(self) -> str:
        return self.provider.url

    def start(self) -> str:
        self._thread.start()
        return asyncio.run_coroutine_threadsafe(self.provider.start(), self._loop).result(timeout=10)

    def run(self, action: Callable[[], T]) -> T:
        """Run `action()` on the server's thread (so state is never read mid-update)."""

        async def call() -> T:
            return action()

        return asyncio.run_coroutine_threadsafe(call(), self._loop).result(timeout=10)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.provider.close(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()
