"""Certificate hot reload over real TLS: rotations under continuous traffic lose no request.

The rotation test drives the production pieces end to end with short lifetimes on the real clock:
`certs.rotation.next_bundle` decides (renew at 2/3 of the lifetime, rotate the CA with an overlap),
`certs.files.write_cert_dir` replaces the files atomically, and the server's `CertReloader` swaps the
context that new handshakes use, while a pool of clients keeps sending reviews.
"""

from __future__ import annotations

import asyncio
import os
import ssl
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from cryptography import x509

from certs.bundle import CertBundle
from certs.files import write_cert_dir
from certs.rotation import next_bundle
from tests.integration.conftest import ServerFactory, TLSFiles
from tests.integration.support import dumps, http_request, open_tls, read_response, review_body, write_leaf
from webhook.metrics import Metrics

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

SERVING_LIFETIME = timedelta(seconds=6)
CA_LIFETIME = timedelta(seconds=15)
HOSTS = {"dns_names": ["localhost"], "ip_addresses": ["127.0.0.1"]}


def serial(pem_or_der: bytes) -> int:
    if pem_or_der.startswith(b"-----"):
        return x509.load_pem_x509_certificate(pem_or_der).serial_number
    return x509.load_der_x509_certificate(pem_or_der).serial_number


def peer_serial(writer: asyncio.StreamWriter) -> int:
    der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
    return serial(der)


class Trust:
    """What the API server trusts: the caBundle, updated before the new certificate is served."""

    def __init__(self, bundle: CertBundle) -> None:
        self.pem = bundle.ca_bundle_pem
        self._contexts: dict[bytes, ssl.SSLContext] = {}
        self.shared = ssl.create_default_context(cadata=self.pem.decode())

    def update(self, bundle: CertBundle) -> None:
        self.pem = bundle.ca_bundle_pem
        self.shared.load_verify_locations(cadata=self.pem.decode())  # keep-alive clients learn the new CA too

    def context(self) -> ssl.SSLContext:
        if self.pem not in self._contexts:
            self._contexts[self.pem] = ssl.create_default_context(cadata=self.pem.decode())
        return self._contexts[self.pem]


async def test_three_rotations_under_continuous_traffic_lose_no_request(start: ServerFactory, tls: TLSFiles) -> None:
    bundle, _ = next_bundle(
        None, now=datetime.now(UTC), ca_lifetime=CA_LIFETIME, serving_lifetime=SERVING_LIFETIME, **HOSTS
    )
    write_cert_dir(tls.cert_dir, bundle)
    trust = Trust(bundle)
    server = await start(reload_interval=0.1, header_timeout=30.0)
    written = [serial(bundle.serving.cert_pem)]
    reasons: list[str] = []
    served: list[tuple[float, int]] = []
    failures: list[str] = []
    done = asyncio.Event()
    enough = asyncio.Event()
    counter = {"requests": 0}

    def count() -> None:
        counter["requests"] += 1
        if counter["requests"] >= 200:
            enough.set()

    async def rotate() -> None:
        nonlocal bundle
        while len(written) < 4:
            await asyncio.sleep(0.1)
            renewed, decision = next_bundle(
                bundle, now=datetime.now(UTC), ca_lifetime=CA_LIFETIME, serving_lifetime=SERVING_LIFETIME, **HOSTS
            )
            if renewed is bundle:
                continue
            trust.update(renewed)  # trust first (caBundle injection), then serve (Secret/files)
            write_cert_dir(tls.cert_dir, renewed)
            bundle = renewed
            written.append(serial(renewed.serving.cert_pem))
            reasons.append("; ".join(decision.reasons))
            # A real rotation is months apart, and an old CA leaves the bundle only when it expires, long after
            # every replica serves the new certificate. Compressed to seconds here, the next trust change must
            # likewise wait until the server serves what was just written (it polls every 0.1 s).
            for _ in range(200):  # at most 10 s
                if server.reloader.served.serial == written[-1]:
                    break
                await asyncio.sleep(0.05)

    async def fresh_connection_worker(worker: int) -> None:
        number = 0
        while not done.is_set():
            number += 1
            uid = f"w{worker}-{number}"
            try:
                reader, writer = await open_tls(server.port, trust.context())
                served.append((time.monotonic(), peer_serial(writer)))
                writer.write(http_request("/validate", dumps(review_body(uid=uid))))
                await writer.drain()
                status, _, body = await asyncio.wait_for(read_response(reader), 10)
                writer.close()
                if status != 200 or uid.encode() not in body:
                    failures.append(f"{uid}: HTTP {status} {body[:200]!r}")
                count()
            except (TimeoutError, OSError, ssl.SSLError, asyncio.IncompleteReadError) as exc:
                failures.append(f"{uid}: {type(exc).__name__}: {exc}")

    async def keep_alive_worker(worker: int) -> None:
        number = 0
        connector = aiohttp.TCPConnector(limit=1, ssl=trust.shared)
        async with aiohttp.ClientSession(connector=connector) as session:
            while not done.is_set():
                number += 1
                uid = f"k{worker}-{number}"
                try:
                    async with session.post(
                        f"https://127.0.0.1:{server.port}/validate",
                        data=dumps(review_body(uid=uid)),
                        headers={"Content-Type": "application/json"},
                    ) as response:
                        text = await response.text()
                        if response.status != 200 or uid not in text:
                            failures.append(f"{uid}: HTTP {response.status} {text[:200]}")
                        count()
                except (TimeoutError, aiohttp.ClientError) as exc:
                    failures.append(f"{uid}: {type(exc).__name__}: {exc}")
                await asyncio.sleep(0.005)

    rotation = asyncio.create_task(rotate())
    workers = [asyncio.create_task(fresh_connection_worker(i)) for i in range(6)]
    workers += [asyncio.create_task(keep_alive_worker(i)) for i in range(2)]
    await asyncio.wait_for(rotation, 60)
    rotated_at = time.monotonic()
    await asyncio.wait_for(enough.wait(), 60)
    await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - rotated_at)))  # traffic after the last swap
    done.set()
    await asyncio.gather(*workers)

    assert failures == []
    assert counter["requests"] >= 200
    assert len(set(written)) == 4
    assert any("CA reached 2/3" in r for r in reasons), f"one rotation must be a CA rotation: {reasons}"
    served_serials = {s for _, s in served}
    assert set(written) <= served_serials, "every certificate written was actually served"
    late = [s for t, s in served if t > rotated_at + 0.5]
    assert late, "traffic continued after the last swap"
    assert set(late) == {written[-1]}, "after the last swap only the newest certificate is served"
    assert server.metrics.cert_reloads == 3


@pytest.mark.parametrize("server_hostname", ["127.0.0.1", "localhost"], ids=["no_sni", "sni"])
async def test_new_handshakes_get_the_new_certificate_with_and_without_sni(
    start: ServerFactory, tls: TLSFiles, server_hostname: str
) -> None:
    server = await start(reload_interval=0.05)
    first = serial((tls.cert_dir / "tls.crt").read_bytes())
    _, before = await asyncio.open_connection("127.0.0.1", server.port, ssl=tls.client, server_hostname=server_hostname)
    assert peer_serial(before) == first
    second = serial(write_leaf(tls.ca, tls.cert_dir))
    await wait_for_reload(server.metrics, 1)
    _, after = await asyncio.open_connection("127.0.0.1", server.port, ssl=tls.client, server_hostname=server_hostname)
    assert peer_serial(after) == second != first
    before.close()
    after.close()


async def test_established_connection_keeps_working_across_a_swap(start: ServerFactory, tls: TLSFiles) -> None:
    server = await start(reload_interval=0.05, header_timeout=30.0)
    reader, writer = await open_tls(server.port, tls.client)
    old = peer_serial(writer)
    write_leaf(tls.ca, tls.cert_dir)
    await wait_for_reload(server.metrics, 1)
    writer.write(http_request("/validate", dumps(review_body(uid="same-connection"))))
    await writer.drain()
    status, _, body = await asyncio.wait_for(read_response(reader), 5)
    assert status == 200
    assert b"same-connection" in body
    assert peer_serial(writer) == old
    writer.close()


async def test_mismatched_pair_keeps_the_old_certificate_until_fixed(start: ServerFactory, tls: TLSFiles) -> None:
    server = await start(reload_interval=0.05)
    original = serial((tls.cert_dir / "tls.crt").read_bytes())
    good_key = (tls.cert_dir / "tls.key").read_bytes()
    other = tls.ca.issue_cert("127.0.0.1")
    (tls.cert_dir / "tls.crt").write_bytes(other.cert_chain_pems[0].bytes())  # key not updated: mismatch
    await wait_for(lambda: server.metrics.cert_reload_failures >= 1)
    _, writer = await open_tls(server.port, tls.client)
    assert peer_serial(writer) == original, "a broken pair never replaces a working certificate"
    writer.close()
    assert (tls.cert_dir / "tls.key").read_bytes() == good_key
    other.private_key_pem.write_to_path(str(tls.cert_dir / "tls.key"))
    await wait_for_reload(server.metrics, 1)
    _, writer = await open_tls(server.port, tls.client)
    assert peer_serial(writer) == serial(other.cert_chain_pems[0].bytes())
    writer.close()


async def test_kubelet_style_symlink_swap_is_detected(start: ServerFactory, tls: TLSFiles, tmp_path: Path) -> None:
    """A mounted Secret is `tls.crt -> ..data/tls.crt` with `..data` an atomically replaced symlink."""
    mount = tmp_path / "mount"
    mount.mkdir()
    first_dir = mount / "..2025_01_01_00_00_00.1"
    first_dir.mkdir()
    for name in ("tls.crt", "tls.key"):
        (first_dir / name).write_bytes((tls.cert_dir / name).read_bytes())
    (mount / "..data").symlink_to(first_dir.name)
    for name in ("tls.crt", "tls.key"):
        (mount / name).symlink_to(f"..data/{name}")
    tls.cert_dir = mount
    server = await start(reload_interval=0.05)
    second_dir = mount / "..2025_01_01_00_00_01.2"
    second_dir.mkdir()
    leaf = tls.ca.issue_cert("127.0.0.1")
    (second_dir / "tls.crt").write_bytes(leaf.cert_chain_pems[0].bytes())
    (second_dir / "tls.key").write_bytes(leaf.private_key_pem.bytes())
    (mount / "..data_tmp").symlink_to(second_dir.name)
    os.replace(mount / "..data_tmp", mount / "..data")
    await wait_for_reload(server.metrics, 1)
    _, writer = await open_tls(server.port, tls.client)
    assert peer_serial(writer) == serial(leaf.cert_chain_pems[0].bytes())
    writer.close()


async def wait_for(condition: Callable[[], bool], limit_seconds: float = 5.0) -> None:
    deadline = time.monotonic() + limit_seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


async def wait_for_reload(metrics: Metrics, count: int) -> None:
    await wait_for(lambda: metrics.cert_reloads >= count)
