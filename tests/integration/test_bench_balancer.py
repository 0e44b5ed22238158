"""`bench.balancer` on loopback: bytes pass untouched, a close arrives as a close and a reset as a reset, and a
replica that refuses is skipped, so the failure benchmark sees what the API server would see."""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

balancer = importlib.import_module("bench.balancer")

pytestmark = [pytest.mark.integration, pytest.mark.timeout(30)]

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def listen(handler: Handler) -> tuple[asyncio.Server, int]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def echo_then_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Echo one line, then close the connection cleanly (as a webhook answering `Connection: close`)."""
    writer.write(await reader.readline())
    await writer.drain()
    writer.close()


async def echo_then_reset(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Echo one line, then reset the connection once more arrives (as a killed process holding unread bytes)."""
    writer.write(await reader.readline())
    await writer.drain()
    await reader.readline()
    balancer.reset(writer)


@pytest.fixture
async def servers() -> AsyncIterator[list[asyncio.Server]]:
    started: list[asyncio.Server] = []
    yield started
    for server in started:
        server.close()


async def through(servers: list[asyncio.Server], *backends: object) -> int:
    chooser = balancer.Balancer(list(backends))
    front, port = await listen(chooser.handle)
    servers.append(front)
    return port


async def test_bytes_pass_through_and_a_close_arrives_as_a_close(servers: list[asyncio.Server]) -> None:
    backend, backend_port = await listen(echo_then_close)
    servers.append(backend)
    port = await through(servers, balancer.Backend("127.0.0.1", backend_port, ready=True))
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"review\n")
    assert await asyncio.wait_for(reader.readline(), 5) == b"review\n"
    assert await asyncio.wait_for(reader.read(), 5) == b"", "the backend's close reaches the client as end of stream"
    writer.close()


async def test_a_reset_arrives_as_a_reset(servers: list[asyncio.Server]) -> None:
    backend, backend_port = await listen(echo_then_reset)
    servers.append(backend)
    port = await through(servers, balancer.Backend("127.0.0.1", backend_port, ready=True))
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"review\n")
    assert await asyncio.wait_for(reader.readline(), 5) == b"review\n"
    writer.write(b"second review, never answered\n")
    with pytest.raises(ConnectionResetError):
        await asyncio.wait_for(reader.read(), 5)
    writer.transport.abort()


async def test_a_refusing_replica_is_skipped_and_no_ready_replica_means_a_reset(servers: list[asyncio.Server]) -> None:
    closed, closed_port = await listen(echo_then_close)
    closed.close()
    await closed.wait_closed()
    backend, backend_port = await listen(echo_then_close)
    servers.append(backend)
    gone = balancer.Backend("127.0.0.1", closed_port, ready=True)
    live = balancer.Backend("127.0.0.1", backend_port, ready=True)
    port = await through(servers, gone, live)
    for _ in range(2):  # round robin starts once with each: both connections reach the live replica
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"review\n")
        assert await asyncio.wait_for(reader.readline(), 5) == b"review\n"
        writer.close()
    live.ready = False
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    with pytest.raises(ConnectionResetError):
        await asyncio.wait_for(reader.read(), 5)
    writer.transport.abort()
