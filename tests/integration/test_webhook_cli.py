"""`tenantgate webhook` as a process: serves over TLS, drains in-flight reviews on SIGTERM and exits 0."""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import TLSFiles
from tests.integration.support import dumps, http_request, review_body

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def spawn(cert_dir: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    command = [
        sys.executable,
        "-m",
        "tenantgate.cli",
        "webhook",
        "--cert-dir",
        str(cert_dir),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-cluster-view",
    ]
    with log.open("wb") as output:
        return subprocess.Popen(
            command, stdout=output, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"}
        )


def wait_ready(port: int, context: ssl.SSLContext, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()
        try:
            with urllib.request.urlopen(f"https://127.0.0.1:{port}/readyz", timeout=2, context=context) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"webhook not ready:\n{log.read_text()}")


@pytest.fixture
def webhook(tls: TLSFiles, tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], int, Path]]:
    port = free_port()
    log = tmp_path / "webhook.log"
    process = spawn(tls.cert_dir, port, log)
    try:
        wait_ready(port, tls.client, process, log)
        yield process, port, log
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def read_http_response(sock: ssl.SSLSocket) -> tuple[int, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed early: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    length = next(int(line.split(b":")[1]) for line in lines if line.lower().startswith(b"content-length"))
    while len(body) < length:
        body += sock.recv(65536)
    return int(head.split()[1]), body


def test_sigterm_drains_in_flight_review_and_exits_zero(
    webhook: tuple[subprocess.Popen[bytes], int, Path], tls: TLSFiles
) -> None:
    process, port, log = webhook
    payload = dumps(review_body(uid="drained"))
    raw = socket.create_connection(("127.0.0.1", port))
    sock = tls.client.wrap_socket(raw, server_hostname="127.0.0.1")
    sock.sendall(http_request("/validate", payload[:25], content_length=len(payload)))
    time.sleep(0.3)
    process.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    assert process.poll() is None, "the process waits for the in-flight review"
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2)
    sock.sendall(payload[25:])
    status, body = read_http_response(sock)
    assert status == 200
    assert json.loads(body)["response"]["uid"] == "drained"
    sock.close()
    assert process.wait(timeout=15) == 0, log.read_text()
    assert "server.stopped" in log.read_text()


def test_idle_process_exits_zero_on_sigterm(webhook: tuple[subprocess.Popen[bytes], int, Path]) -> None:
    process, _, log = webhook
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=15) == 0, log.read_text()


def test_missing_certificate_exits_1_with_a_hint(tmp_path: Path) -> None:
    log = tmp_path / "webhook.log"
    process = spawn(tmp_path / "nowhere", free_port(), log)
    assert process.wait(timeout=30) == 1
    text = log.read_text()
    assert "webhook.no_certificate" in text
    assert "tenantgate certs ensure" in text
