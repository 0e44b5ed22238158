"""An HTTPS receiver of lifecycle events, for the integration and end-to-end tests.

It serves TLS with a trustme certificate for 127.0.0.1 on its own thread (so synchronous e2e tests and async
integration tests use it alike), verifies every delivery with `verify_delivery` taken from the receiver example in
`docs/controller.md` (the documented code is the code under test), and records every attempt. It is as strict as
a careful receiver: POST on its path only, JSON only, a valid signature and a fresh timestamp, else 401.
`fail_first` makes it answer 503 to the first N attempts of every delivery id, to exercise retries.
"""

from __future__ import annotations

import asyncio
import re
import ssl
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trustme
from aiohttp import web

DOCS = Path(__file__).resolve().parents[1] / "docs" / "controller.md"
PATH = "/kubeop/events"

Verifier = Callable[..., "dict[str, Any] | None"]


def documented_verifier() -> Verifier:
    """`verify_delivery` from the receiver example in docs/controller.md."""
    text = DOCS.read_text(encoding="utf-8")
    match = re.search(r"<!-- receiver-example -->\n```python\n(.*?)```", text, re.S)
    assert match, "docs/controller.md has no receiver example"
    namespace: dict[str, Any] = {}
    exec(compile(match.group(1), str(DOCS), "exec"), namespace)  # our own documentation
    verifier: Verifier = namespace["verify_delivery"]
    return verifier


@dataclass(frozen=True)
class Attempt:
    delivery_id: str
    event_type: str
    body: bytes
    headers: Mapping[str, str]
    status: int
    event: dict[str, Any] | None


class EventReceiver:
    def __init__(self, key: bytes, ca: trustme.CA, *, fail_first: int = 0, status: int = 200) -> None:
        self.key = key
        self.ca = ca
        self.fail_first = fail_first
        self.status = status
        self.verify = documented_verifier()
        self.attempts: list[Attempt] = []
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, name="event-receiver", daemon=True)
        self.port = 0

    # ---- lifecycle -------------------------------------------------------------------------------------

    def start(self) -> EventReceiver:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=30)
        return self

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=context)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(timeout=30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)

    def __enter__(self) -> EventReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}{PATH}"

    def write_ca(self, path: Path) -> Path:
        path.write_bytes(self.ca.cert_pem.bytes())
        return path

    # ---- serving ---------------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.Response:
        if request.path != PATH:
            return web.Response(status=404)
        if request.method != "POST":
            return web.Response(status=405)
        if request.content_type != "application/json":
            return web.Response(status=415)
        body = await request.read()
        headers = {k: v for k, v in request.headers.items()}
        delivery_id = headers.get("X-KubeOP-Delivery", "")
        with self._lock:
            earlier = sum(1 for a in self.attempts if a.delivery_id == delivery_id)
        event = self.verify(self.key, body, request.headers)
        if event is None:
            status = 401
        elif earlier < self.fail_first:
            status = 503
        else:
            status = self.status
        with self._lock:
            self.attempts.append(Attempt(delivery_id, headers.get("X-KubeOP-Event", ""), body, headers, status, event))
        return web.Response(status=status)

    # ---- what arrived ----------------------------------------------------------------------------------

    def accepted(self) -> list[Attempt]:
        """Attempts answered 2xx, first per delivery id (a receiver processes a delivery once)."""
        seen: set[str] = set()
        found = []
        with self._lock:
            for attempt in self.attempts:
                if 200 <= attempt.status < 300 and attempt.delivery_id not in seen:
                    seen.add(attempt.delivery_id)
                    found.append(attempt)
        return found

    def of(self, delivery_id: str) -> list[Attempt]:
        with self._lock:
            return [a for a in self.attempts if a.delivery_id == delivery_id]
