"""Certificate files on disk: atomic writes, and the local-development helper.

Each file is written to a temporary name in the same directory and renamed over the old one, so a reader
(the webhook's certificate reloader) sees either the old or the new file, never a partial one. The key is
written before the certificate: a reader that catches the pair in between finds a mismatch, keeps the
previous certificate, and retries a second later.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from certs.bundle import CA_CRT, CA_KEY, TLS_CRT, TLS_KEY, CertBundle, InvalidBundle
from certs.issue import LOCAL_HOSTS, split_hosts
from certs.rotation import next_bundle

log = logging.getLogger("tenantgate.certs.files")

_PRIVATE = {TLS_KEY, CA_KEY}
WRITE_ORDER = (CA_KEY, CA_CRT, TLS_KEY, TLS_CRT)


def write_atomic(path: Path, data: bytes, *, mode: int = 0o644) -> None:
    """Replace `path` with `data` in one rename (same directory, fsynced first)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), mode)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_cert_dir(directory: Path, bundle: CertBundle, *, include_ca_key: bool = False) -> None:
    """Write `tls.key`, `tls.crt`, `ca.crt` (and `ca.key` if asked), each atomically."""
    data = bundle.secret_data()
    for name in WRITE_ORDER:
        if name == CA_KEY and not include_ca_key:
            continue
        write_atomic(directory / name, data[name], mode=0o600 if name in _PRIVATE else 0o644)


def read_cert_dir(directory: Path) -> CertBundle | None:
    """The bundle stored in `directory`, or None when absent or unusable."""
    data = {}
    for name in (CA_CRT, CA_KEY, TLS_CRT, TLS_KEY):
        try:
            data[name] = (directory / name).read_bytes()
        except FileNotFoundError:
            return None
    try:
        return CertBundle.from_data(data)
    except InvalidBundle as exc:
        log.warning("certs.local_unusable dir=%s error=%s", directory, exc)
        return None


def ensure_local_certs(
    directory: Path, hosts: Sequence[str] = LOCAL_HOSTS, *, now: datetime | None = None
) -> CertBundle:
    """Certificates for a local webhook (`tenantgate dev`, tests): reuse what is valid, issue what is not.

    Needs no cluster. Writes `tls.crt`, `tls.key`, `ca.crt` and `ca.key` (the key lets later runs renew the
    serving certificate under the same CA, so a caBundle configured once stays valid).
    """
    moment = now or datetime.now(UTC)
    names, addresses = split_hosts(hosts)
    existing = read_cert_dir(directory)
    bundle, decision = next_bundle(existing, dns_names=names, ip_addresses=addresses, now=moment)
    if bundle is not existing:
        write_cert_dir(directory, bundle, include_ca_key=True)
        log.info("certs.local_written dir=%s reasons=%r", directory, "; ".join(decision.reasons) or "bundle pruned")
    return bundle
