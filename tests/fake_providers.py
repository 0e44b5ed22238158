"""Fakes of the HTTP DNS and ACME providers that kubeOP's `DNS_MOCK_URL` and `ACME_MOCK_URL` name.

As strict as a real API about what it accepts: only `POST` on its one path (405 otherwise, 404 for other paths),
`Content-Type: application/json` (415), a JSON object with exactly the documented fields and types (400, naming
the field). It records every call, keeps the records it holds (an upsert stores, a delete removes, a delete of
an unknown record answers 404) and can be told to fail the next N calls with a given status.

`FakeProvider` runs on the caller's event loop (integration tests); `ThreadedProvider` runs one on its own thread
for end-to-end tests, where the controller is another process and the test body is synchronous.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

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
    path: str
    fields: Mapping[str, type]
    key: str
    """The body field naming the object (`record`, `certificate`)."""


DNS_API = Api("/v1/dnsrecords", DNS_FIELDS, "record")
ACME_API = Api("/v1/certificates", ACME_FIELDS, "certificate")


def body_problem(api: Api, body: Any) -> str | None:
    """Why `body` is refused (None: accepted)."""
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
class FakeProvider:
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

    async def _handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        status, answer = self._judge(request, body)
        self.calls.append(Call(request.method, request.path, status, body))
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
        self._runner = web.AppRunner(app)
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
    """A FakeProvider served from a thread of its own; read its state with `provider`."""

    def __init__(self, api: Api) -> None:
        self.provider = FakeProvider(api)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def start(self) -> str:
        self._thread.start()
        return asyncio.run_coroutine_threadsafe(self.provider.start(), self._loop).result(timeout=10)

    def run(self, action: Any) -> Any:
        """Run `action()` on the server's thread (so state is never read mid-update)."""

        async def call() -> Any:
            return action()

        return asyncio.run_coroutine_threadsafe(call(), self._loop).result(timeout=10)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.provider.close(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
