"""Serve the newest certificate files without a restart and without failing a handshake.

Certificates rotate (`tenantgate certs ensure`, cert-manager, or the kubelet updating a mounted Secret),
and a webhook that needs a restart to pick them up fails admission for every request in between.

How the swap works: the listening socket keeps one *base* `SSLContext` for its whole life; its SNI callback
runs inside every new handshake (OpenSSL calls it whether or not the client sent a server name: Go clients
connecting to an IP address send none) and points that connection at the newest context
(`SSLObject.context = current`). Each new context is built complete and checked (certificate and key
must match) before it becomes current, so a half-written file or a certificate/key pair caught mid-update
is simply retried on the next poll while the previous certificate keeps serving. Connections that already
finished their handshake keep the context they negotiated; nothing in flight is touched.

Change detection polls `stat()` of the files (inode, mtime, size, device) once a second: it works for
atomic renames, for the kubelet's `..data` symlink swap, and needs no inotify.

With a client CA file (`client_ca_file`), every context, the first and each reloaded one, asks the client
for a certificate and refuses the handshake unless it is signed by that CA; the CA file is watched like
the certificate, so rotating it needs no restart either.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import logging
import os
import re
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path

from pyasn1.codec.der import decoder as der_decoder
from pyasn1.error import PyAsn1Error
from pyasn1_modules import rfc5280

from kube.logfmt import kv

log = logging.getLogger("tenantgate.webhook.tls")

FileSignature = tuple[tuple[int, int, int, int], ...]


def make_server_context(cert_file: Path, key_file: Path, client_ca_file: Path | None = None) -> ssl.SSLContext:
    """A TLS 1.2+ server context for the given PEM files (raises `ssl.SSLError`/`OSError` when unusable).

    With `client_ca_file`, a client must present a certificate signed by one of its CAs, or the handshake fails.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.options |= ssl.OP_NO_COMPRESSION
    context.set_alpn_protocols(["http/1.1"])  # the server speaks HTTP/1.1 only; say so instead of guessing
    context.load_cert_chain(cert_file, key_file)
    if client_ca_file is not None:
        context.load_verify_locations(cafile=client_ca_file)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


@dataclass(frozen=True, slots=True)
class ServedCertificate:
    """What is being served, for logs and tests."""

    serial: int
    not_after: str
    sha256: str


_PEM_CERTIFICATE = re.compile(rb"-----BEGIN CERTIFICATE-----(.+?)-----END CERTIFICATE-----", re.DOTALL)


def first_certificate_der(pem: bytes) -> bytes:
    """The DER bytes of the first certificate in a PEM file (the served one; a chain may follow)."""
    found = _PEM_CERTIFICATE.search(pem)
    if found is None:
        raise ValueError("no PEM certificate in the file")
    try:
        return base64.b64decode(b"".join(found.group(1).split()), validate=True)
    except binascii.Error as error:
        raise ValueError(f"the PEM certificate is not base64: {error}") from None


def describe_der_certificate(der: bytes) -> ServedCertificate:
    # pyasn1 rather than cryptography: cryptography carries its own OpenSSL, 11 MiB of the webhook's memory
    # (an eighth of it under load) to read two fields; the webhook builds its TLS contexts with `ssl` anyway.
    try:
        certificate, rest = der_decoder.decode(der, asn1Spec=rfc5280.Certificate())
    except PyAsn1Error as error:
        raise ValueError(f"not an X.509 certificate: {error}") from None
    if rest:
        raise ValueError("trailing bytes after the certificate")
    tbs = certificate["tbsCertificate"]
    not_after = tbs["validity"]["notAfter"].getComponent().asDateTime.astimezone(UTC)
    return ServedCertificate(
        serial=int(tbs["serialNumber"]),
        not_after=not_after.isoformat(),
        sha256=hashlib.sha256(der).hexdigest(),
    )


def describe_certificate(cert_file: Path) -> ServedCertificate:
    return describe_der_certificate(first_certificate_der(cert_file.read_bytes()))


def file_signature(*paths: Path) -> FileSignature:
    """Identity of the files' current contents as cheaply as `stat()` allows (follows symlinks)."""
    result = []
    for path in paths:
        st = os.stat(path)
        result.append((st.st_ino, st.st_mtime_ns, st.st_size, st.st_dev))
    return tuple(result)


class CertReloader:
    """Owns the TLS contexts of one listener; see the module docstring for the mechanism."""

    def __init__(
        self,
        cert_file: Path,
        key_file: Path,
        *,
        client_ca_file: Path | None = None,
        interval: float = 1.0,
        on_reload: Callable[[bool], None] | None = None,
    ) -> None:
        self.cert_file = cert_file
        self.key_file = key_file
        self.client_ca_file = client_ca_file
        self.interval = interval
        self._on_reload = on_reload
        self._signature = file_signature(*self._watched)
        self._base = make_server_context(cert_file, key_file, client_ca_file)
        self._base.sni_callback = self._select_context
        self._current = self._base
        self.served = describe_certificate(cert_file)
        self._failed_signature: FileSignature | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def _watched(self) -> tuple[Path, ...]:
        extra = (self.client_ca_file,) if self.client_ca_file is not None else ()
        return (self.cert_file, self.key_file, *extra)

    @property
    def listener_context(self) -> ssl.SSLContext:
        """The context to give the listening socket (once; later certificates arrive through it)."""
        return self._base

    @property
    def current_context(self) -> ssl.SSLContext:
        return self._current

    def _select_context(
        self, ssl_object: ssl.SSLObject | ssl.SSLSocket, server_name: str | None, base: ssl.SSLContext
    ) -> None:
        current = self._current
        if current is not base:
            ssl_object.context = current

    def check(self) -> bool:
        """Poll once: when the files changed and load cleanly, make them current. True when swapped."""
        try:
            signature = file_signature(*self._watched)
        except OSError as exc:
            self._report_failure(None, exc)
            return False
        if signature == self._signature:
            return False
        try:
            # The same client authentication as the first context: a reload never relaxes who may connect.
            context = make_server_context(self.cert_file, self.key_file, self.client_ca_file)
            served = describe_certificate(self.cert_file)
        except (OSError, ssl.SSLError, ValueError) as exc:
            # Typically a pair caught mid-update; keep serving the previous certificate and retry.
            self._report_failure(signature, exc)
            return False
        self._current = context
        self._signature = signature
        self._failed_signature = None
        previous, self.served = self.served, served
        log.info(
            kv(
                "tls.reloaded",
                cert=self.cert_file,
                serial=f"{served.serial:x}",
                previous_serial=f"{previous.serial:x}",
                not_after=served.not_after,
            )
        )
        if self._on_reload is not None:
            self._on_reload(True)
        return True

    def _report_failure(self, signature: FileSignature | None, exc: BaseException) -> None:
        if signature is None or signature != self._failed_signature:
            log.warning(
                kv(
                    "tls.reload_failed",
                    cert=self.cert_file,
                    key=self.key_file,
                    error=exc,
                    effect="still serving the previous certificate; retrying",
                )
            )
            if self._on_reload is not None:
                self._on_reload(False)
        self._failed_signature = signature

    async def run(self) -> None:
        """Poll until cancelled."""
        while True:
            await asyncio.sleep(self.interval)
            self.check()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self.run(), name="cert-reloader")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
