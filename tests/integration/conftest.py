"""Fixtures for integration tests: a trustme CA, certificate files, and servers on ephemeral loopback ports."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trustme

from admission.view import ClusterState, InMemoryClusterView
from tests.integration.support import client_context, probe_registries, write_leaf
from webhook.server import RunningServer, ServerConfig, start_server


@dataclass
class TLSFiles:
    ca: trustme.CA
    cert_dir: Path
    client: ssl.SSLContext


@pytest.fixture
def tls(tmp_path: Path) -> TLSFiles:
    ca = trustme.CA()
    cert_dir = tmp_path / "certs"
    cert_dir.mkdir()
    write_leaf(ca, cert_dir)
    return TLSFiles(ca, cert_dir, client_context(ca))


ServerFactory = Callable[..., Awaitable[RunningServer]]


@pytest.fixture
async def start(tls: TLSFiles) -> AsyncIterator[ServerFactory]:
    """Start servers with the probe registries and short timeouts; every one is stopped afterwards."""
    running: list[RunningServer] = []

    async def factory(view: ClusterState | None = None, **options: Any) -> RunningServer:
        settings: dict[str, Any] = {
            "host": "127.0.0.1",
            "port": 0,
            "registries": probe_registries(),
            "header_timeout": 2.0,
            "body_timeout": 2.0,
            "handshake_timeout": 2.0,
            "shutdown_timeout": 5.0,
            "reload_interval": 0.1,
        }
        settings.update(options)
        server = await start_server(
            ServerConfig.from_cert_dir(tls.cert_dir, **settings),
            view if view is not None else InMemoryClusterView.from_objects([]),
        )
        running.append(server)
        return server

    yield factory
    for server in running:
        await server.stop()
