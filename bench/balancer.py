"""A readiness-aware TCP balancer: the local stand-in for the Service in front of the webhook's replicas.

    .venv/bin/python -m bench.balancer --port P --backend 127.0.0.1:A --backend 127.0.0.1:B

Why it exists: a local control plane has no Service network, yet the API server must call two webhook
replicas through one URL. This process listens on that URL's port and passes each connection through, bytes
untouched (TLS ends at the webhook, so the API server verifies the webhook's own certificate), to one ready
replica, round robin: what kube-proxy does with a Service's ready endpoints. A replica is ready while its
`/readyz` answers 200 (polled every 100 ms over TLS without verification, as the kubelet probes); a ready
replica that refuses the connection is skipped for the next one. What one side does, the other sees: a close
is passed on as a close, a reset as a reset. It adds a hop, so `bench failure` measures through it in every
scenario, the undisturbed one included.

On SIGTERM it prints one JSON line of counters (connections per replica, refused, resets passed on) and exits.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import socket
import ssl
import struct
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

PROBE_INTERVAL = 0.1
PROBE_TIMEOUT = 1.0
CHUNK = 64 * 1024


@dataclass
class Backend:
    host: str
    port: int
    ready: bool = False

    @property
    def name(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass
class Balancer:
    backends: list[Backend]
    counters: Counter[str] = field(default_factory=Counter)
    _next: int = 0
    _open: set[asyncio.StreamWriter] = field(default_factory=set)

    def candidates(self) -> list[Backend]:
        """The ready backends, starting with the next one in round-robin order."""
        ready = [backend for backend in self.backends if backend.ready]
        if not ready:
            return []
        start = self._next % len(ready)
        self._next += 1
        return ready[start:] + ready[:start]

    async def handle(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        for backend in self.candidates():
            try:
                backend_reader, backend_writer = await asyncio.open_connection(backend.host, backend.port)
            except OSError:
                self.counters[f"refused {backend.name}"] += 1
                continue
            self.counters[f"connections {backend.name}"] += 1
            self._open |= {client_writer, backend_writer}
            try:
                await self._splice(client_reader, client_writer, backend_reader, backend_writer)
            finally:
                self._open -= {client_writer, backend_writer}
            return
        self.counters["no ready backend"] += 1
        reset(client_writer)

    async def _splice(
        self,
        client_reader: asyncio.StreamReader,
        client_writer: asyncio.StreamWriter,
        backend_reader: asyncio.StreamReader,
        backend_writer: asyncio.StreamWriter,
    ) -> None:
        upstream = asyncio.create_task(self._pump(client_reader, backend_writer, "client"))
        downstream = asyncio.create_task(self._pump(backend_reader, client_writer, "backend"))
        done, pending = await asyncio.wait({upstream, downstream}, return_when=asyncio.FIRST_COMPLETED)
        was_reset = any(task.result() for task in done)
        for writer in (client_writer, backend_writer):
            if was_reset:
                reset(writer)
            else:
                writer.close()
        for task in pending:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, source: str) -> bool:
        """Copy until end of stream; True when `source` reset the connection (to be passed on as a reset)."""
        try:
            while chunk := await reader.read(CHUNK):
                writer.write(chunk)
                await writer.drain()
        except OSError:
            self.counters[f"resets from {source}"] += 1
            return True
        return False

    async def close_all(self) -> None:
        """Reset every connection still open (the process is going away) and let their handlers end."""
        for writer in list(self._open):
            reset(writer)
        for _ in range(100):
            if not self._open:
                return
            await asyncio.sleep(0.02)

    async def probe(self, context: ssl.SSLContext) -> None:
        while True:
            for backend in self.backends:
                ready = await ready_now(backend, context)
                if ready != backend.ready:
                    self.counters[f"{'ready' if ready else 'not ready'} {backend.name}"] += 1
                backend.ready = ready
            await asyncio.sleep(PROBE_INTERVAL)


def reset(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP reset, not a FIN (linger on, zero seconds), so the peer sees what this side saw."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def ready_now(backend: Backend, context: ssl.SSLContext) -> bool:
    """True when the backend answers `GET /readyz` with 200 within the probe timeout."""
    writer = None
    try:
        async with asyncio.timeout(PROBE_TIMEOUT):
            reader, writer = await asyncio.open_connection(backend.host, backend.port, ssl=context)
            writer.write(b"GET /readyz HTTP/1.1\r\nHost: probe\r\nConnection: close\r\n\r\n")
            status = await reader.readline()
            return status.split(b" ")[1:2] == [b"200"]
    except (OSError, TimeoutError, ssl.SSLError):
        return False
    finally:
        if writer is not None:
            writer.transport.abort()


def probe_context() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def parse_backend(text: str) -> Backend:
    host, port = text.rsplit(":", 1)
    return Backend(host, int(port))


async def serve(port: int, backends: Sequence[Backend]) -> Counter[str]:
    balancer = Balancer(list(backends))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    prober = asyncio.create_task(balancer.probe(probe_context()))
    server = await asyncio.start_server(balancer.handle, "127.0.0.1", port, backlog=512)
    print(json.dumps({"listening": port}), flush=True)
    await stop.wait()
    server.close()
    await balancer.close_all()
    prober.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await prober
    return balancer.counters


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.balancer", description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--backend", action="append", required=True, type=parse_backend, help="host:port")
    args = parser.parse_args(argv)
    counters = asyncio.run(serve(args.port, args.backend))
    print(json.dumps(dict(sorted(counters.items()))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
