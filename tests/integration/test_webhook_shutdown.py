"""Stopping one of two replicas while a client keeps posting reviews: nothing in flight is lost.

The client reaches the replicas the way the API server reaches a name with two addresses: it connects to the
first address that accepts, and reuses keep-alive connections. Like the API server (whose webhook calls are
POSTs that it never retries after a connection fails), it does not retry a failed request, so every review
the stopping replica drops shows up as a failure here.
"""

from __future__ import annotations

import asyncio
import socket
from collections import Counter
from typing import Any

import aiohttp
import pytest
from aiohttp.abc import AbstractResolver, ResolveResult

from tests.integration.conftest import ServerFactory, TLSFiles
from tests.integration.support import dumps, review_body

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

NAME = "localhost"
"""A name the serving certificate covers; the resolver below maps it to the replicas."""


class Replicas(AbstractResolver):
    """Resolve the webhook's name to every replica, in order (one loopback address, one port each)."""

    def __init__(self, ports: list[int]) -> None:
        self.ports = ports

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [
            ResolveResult(
                hostname=host,
                host="127.0.0.1",
                port=replica,
                family=socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
            for replica in self.ports
        ]

    async def close(self) -> None:
        return None


class Load:
    """`writers` keep-alive writers posting reviews until stopped; outcomes counted, nothing retried."""

    def __init__(self, session: aiohttp.ClientSession, url: str, writers: int) -> None:
        self.session = session
        self.url = url
        self.outcomes: Counter[str] = Counter()
        self.answered_closing = 0
        self.pause = 0.005
        self._stop = asyncio.Event()
        self._tasks = [asyncio.create_task(self._write(index)) for index in range(writers)]

    async def _write(self, index: int) -> None:
        sent = 0
        while not self._stop.is_set():
            sent += 1
            body = dumps(review_body(uid=f"w{index}-{sent}"))
            try:
                async with self.session.post(
                    self.url, data=body, headers={"Content-Type": "application/json"}
                ) as response:
                    answer: dict[str, Any] = await response.json()
                    if response.headers.get("Connection", "").lower() == "close":
                        self.answered_closing += 1
                ok = response.status == 200 and answer["response"]["uid"] == f"w{index}-{sent}"
                self.outcomes["ok" if ok else f"HTTP {response.status}"] += 1
            except (aiohttp.ClientError, OSError) as exc:
                self.outcomes[type(exc).__name__] += 1
            # Writers pause now and then, so idle keep-alive connections wait in the pool as they do in the
            # API server's, and the replica stops with some of them idle, some carrying a review.
            await asyncio.sleep(self.pause * (sent % 4))

    async def finish(self) -> Counter[str]:
        self._stop.set()
        await asyncio.gather(*self._tasks)
        return self.outcomes


async def test_stopping_replicas_under_load_fails_no_review(start: ServerFactory, tls: TLSFiles) -> None:
    """Three replicas; the first, then the second is stopped while 16 writers keep posting to the name."""
    first, second, third = await start(), await start(), await start()
    # Addresses tried one after the other, as Go's dialer does for addresses of one family.
    replicas = Replicas([first.port, second.port, third.port])
    connector = aiohttp.TCPConnector(
        ssl=tls.client, limit=16, resolver=replicas, happy_eyeballs_delay=None, use_dns_cache=False
    )
    async with aiohttp.ClientSession(connector=connector) as session:
        load = Load(session, f"https://{NAME}:{first.port}/validate", writers=16)
        await asyncio.sleep(0.5)
        assert first.metrics.requests(endpoint="/validate") > 0, "the first replica carries the load while it runs"
        assert second.metrics.requests(endpoint="/validate") == 0
        await asyncio.wait_for(first.stop(), 10)
        await asyncio.sleep(0.5)
        assert second.metrics.requests(endpoint="/validate") > 0, "new connections went to the next replica"
        await asyncio.wait_for(second.stop(), 10)
        third_after_stops = third.metrics.requests(endpoint="/validate")
        await asyncio.sleep(0.5)
        outcomes = await load.finish()
    assert set(outcomes) == {"ok"}, f"reviews failed while replicas stopped: {dict(outcomes)}"
    assert load.answered_closing > 0, "the stopping replicas answered keep-alive reviews, telling clients to go"
    assert first.metrics.in_flight == second.metrics.in_flight == 0
    assert third.metrics.requests(endpoint="/validate") > third_after_stops


async def test_stop_ends_early_once_clients_have_left(start: ServerFactory, tls: TLSFiles) -> None:
    server = await start(drain_grace=30.0)
    async with aiohttp.ClientSession() as session:
        url = f"https://127.0.0.1:{server.port}/validate"
        headers = {"Content-Type": "application/json"}
        async with session.post(url, data=dumps(review_body()), headers=headers, ssl=tls.client) as response:
            assert response.status == 200
    loop = asyncio.get_running_loop()
    began = loop.time()
    await asyncio.wait_for(server.stop(), 10)
    assert loop.time() - began < 2, "no connection left open: nothing to wait for"
