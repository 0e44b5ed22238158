"""Client-certificate authentication of the API server (`client_ca_file`): who may complete the TLS handshake.

With a client CA, a client without a certificate (or with one from another CA) is refused at the handshake
and one with a certificate from that CA is served; without it, any TLS client is served as before. A reload
of the serving certificate keeps the requirement.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from pathlib import Path

import pytest
import trustme

from tenantgate.cli import build_parser
from tests.integration.conftest import ServerFactory, TLSFiles
from tests.integration.support import (
    client_context,
    dumps,
    http_request,
    open_tls,
    read_response,
    review_body,
    write_leaf,
)
from webhook.server import RunningServer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


def client_with_certificate(tls: TLSFiles, issuer: trustme.CA) -> ssl.SSLContext:
    """A client trusting the webhook's CA and presenting a certificate issued by `issuer`."""
    context = client_context(tls.ca)
    issuer.issue_cert("kube-apiserver").configure_cert(context)
    return context


async def review(port: int, context: ssl.SSLContext, uid: str = "auth") -> int:
    """POST one review; its HTTP status (a refused handshake raises)."""
    reader, writer = await open_tls(port, context)
    try:
        writer.write(http_request("/validate", dumps(review_body(uid=uid))))
        await writer.drain()
        status, _, body = await asyncio.wait_for(read_response(reader), 5)
        assert json.loads(body)["response"]["uid"] == uid
        return status
    finally:
        writer.close()


async def refused(port: int, context: ssl.SSLContext) -> bool:
    """True when the server ends the connection at the handshake instead of answering.

    With TLS 1.3 the client's handshake may finish before the server has checked its certificate, so the
    refusal can also arrive as the first read failing.
    """
    try:
        await review(port, context)
    except (ssl.SSLError, ConnectionError, asyncio.IncompleteReadError):
        return True
    return False


@pytest.fixture
def client_ca(tmp_path: Path) -> tuple[trustme.CA, Path]:
    ca = trustme.CA()
    path = tmp_path / "client-ca.crt"
    ca.cert_pem.write_to_path(str(path))
    return ca, path


async def start_authenticating(start: ServerFactory, ca_file: Path) -> RunningServer:
    return await start(client_ca_file=ca_file)


async def test_with_a_client_ca_only_its_clients_are_served(
    start: ServerFactory, tls: TLSFiles, client_ca: tuple[trustme.CA, Path]
) -> None:
    ca, ca_file = client_ca
    server = await start_authenticating(start, ca_file)
    assert await refused(server.port, tls.client), "a client without a certificate was served"
    assert await refused(server.port, client_with_certificate(tls, trustme.CA())), "a foreign CA was accepted"
    assert await review(server.port, client_with_certificate(tls, ca)) == 200
    assert server.metrics.requests() == 1, "only the authenticated client reached the webhook"


async def test_without_a_client_ca_any_tls_client_is_served(start: ServerFactory, tls: TLSFiles) -> None:
    server = await start()
    assert await review(server.port, tls.client) == 200
    assert await review(server.port, client_with_certificate(tls, trustme.CA())) == 200


async def test_a_certificate_reload_keeps_requiring_client_certificates(
    start: ServerFactory, tls: TLSFiles, client_ca: tuple[trustme.CA, Path]
) -> None:
    ca, ca_file = client_ca
    server = await start_authenticating(start, ca_file)
    before = server.reloader.served.serial
    write_leaf(tls.ca, tls.cert_dir)
    for _ in range(100):
        if server.reloader.served.serial != before:
            break
        await asyncio.sleep(0.05)
    assert server.reloader.served.serial != before, "the new certificate was not loaded"
    assert server.reloader.current_context.verify_mode == ssl.CERT_REQUIRED
    assert await refused(server.port, tls.client), "after the reload a client without a certificate was served"
    assert await review(server.port, client_with_certificate(tls, ca)) == 200


async def test_a_rotated_client_ca_is_reloaded(
    start: ServerFactory, tls: TLSFiles, client_ca: tuple[trustme.CA, Path]
) -> None:
    old_ca, ca_file = client_ca
    server = await start_authenticating(start, ca_file)
    new_ca = trustme.CA()
    new_ca.cert_pem.write_to_path(str(ca_file))
    for _ in range(100):
        if server.metrics.cert_reloads:
            break
        await asyncio.sleep(0.05)
    assert server.metrics.cert_reloads == 1
    assert await review(server.port, client_with_certificate(tls, new_ca)) == 200
    assert await refused(server.port, client_with_certificate(tls, old_ca))


def test_the_client_ca_option_and_its_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    args = build_parser().parse_args(["webhook", "--cert-dir", "/certs", "--client-ca-file", "/ca/client.crt"])
    assert args.client_ca_file == Path("/ca/client.crt")
    monkeypatch.setenv("TENANTGATE_CLIENT_CA_FILE", "/from/env.crt")
    assert build_parser().parse_args(["webhook", "--cert-dir", "/certs"]).client_ca_file == Path("/from/env.crt")
    monkeypatch.delenv("TENANTGATE_CLIENT_CA_FILE")
    assert build_parser().parse_args(["webhook", "--cert-dir", "/certs"]).client_ca_file is None
