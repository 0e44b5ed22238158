"""Local certificates without a cluster: issue once, reuse, renew under the same CA, atomic files."""

from __future__ import annotations

import ssl
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from certs.bundle import CertFacts
from certs.files import ensure_local_certs, read_cert_dir, write_atomic

pytestmark = pytest.mark.unit

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def test_issues_ca_and_serving_certificate_for_local_hosts(tmp_path: Path) -> None:
    bundle = ensure_local_certs(tmp_path, ["localhost", "127.0.0.1"], now=T0)
    assert {p.name for p in tmp_path.iterdir()} == {"tls.crt", "tls.key", "ca.crt", "ca.key"}
    facts = CertFacts.of((tmp_path / "tls.crt").read_bytes())
    assert facts.dns_names == {"localhost"}
    assert facts.ip_addresses == {"127.0.0.1"}
    assert read_cert_dir(tmp_path) == bundle
    context = ssl.create_default_context(cafile=str(tmp_path / "ca.crt"))
    context.load_cert_chain(tmp_path / "tls.crt", tmp_path / "tls.key")  # the pair matches


def test_private_keys_are_owner_only(tmp_path: Path) -> None:
    ensure_local_certs(tmp_path, now=T0)
    for name, mode in (("tls.key", 0o600), ("ca.key", 0o600), ("tls.crt", 0o644), ("ca.crt", 0o644)):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == mode, name


def test_valid_certificates_are_reused_untouched(tmp_path: Path) -> None:
    first = ensure_local_certs(tmp_path, now=T0)
    before = (tmp_path / "tls.crt").stat().st_ino
    second = ensure_local_certs(tmp_path, now=T0 + timedelta(days=1))
    assert second == first
    assert (tmp_path / "tls.crt").stat().st_ino == before


def test_new_host_reissues_serving_certificate_under_the_same_ca(tmp_path: Path) -> None:
    first = ensure_local_certs(tmp_path, ["localhost"], now=T0)
    second = ensure_local_certs(tmp_path, ["localhost", "127.0.0.1"], now=T0)
    assert second.ca == first.ca
    assert second.serving != first.serving
    assert "127.0.0.1" in CertFacts.of(second.serving.cert_pem).ip_addresses


def test_unusable_directory_content_is_replaced(tmp_path: Path) -> None:
    for name in ("tls.crt", "tls.key", "ca.crt", "ca.key"):
        (tmp_path / name).write_bytes(b"junk")
    bundle = ensure_local_certs(tmp_path, now=T0)
    assert read_cert_dir(tmp_path) == bundle


def test_atomic_write_leaves_no_temporary_files(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "file"
    write_atomic(target, b"one")
    old_inode = target.stat().st_ino
    write_atomic(target, b"two")
    assert target.read_bytes() == b"two"
    assert target.stat().st_ino != old_inode, "replaced by rename, not rewritten in place"
    assert [p.name for p in target.parent.iterdir()] == ["file"]
