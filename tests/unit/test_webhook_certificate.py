"""What the webhook says it serves (serial, expiry, fingerprint), read without cryptography's OpenSSL.

The values must be the ones cryptography reads from the same file, for every key type and for a chain file (the
served certificate is the first one); anything that is not a certificate is a `ValueError`, which the reloader
treats as a pair caught mid-update.
"""

from __future__ import annotations

import base64
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.serialization import Encoding

from webhook.tls import ServedCertificate, describe_certificate

pytestmark = pytest.mark.unit


def expected(pem: bytes) -> ServedCertificate:
    cert = x509.load_pem_x509_certificate(pem)
    return ServedCertificate(
        serial=cert.serial_number,
        not_after=cert.not_valid_after_utc.isoformat(),
        sha256=cert.fingerprint(SHA256()).hex(),
    )


@pytest.mark.parametrize("key_type", [trustme.KeyType.ECDSA, trustme.KeyType.RSA])
def test_serial_expiry_and_fingerprint_are_the_ones_cryptography_reads(
    tmp_path: Path, key_type: trustme.KeyType
) -> None:
    leaf = trustme.CA(key_type=key_type).issue_cert("webhook.tenantgate-system.svc", key_type=key_type)
    pem = leaf.cert_chain_pems[0].bytes()
    (tmp_path / "tls.crt").write_bytes(pem)
    assert describe_certificate(tmp_path / "tls.crt") == expected(pem)


def test_a_chain_file_describes_its_first_certificate(tmp_path: Path) -> None:
    intermediate = trustme.CA().create_child_ca()
    leaf = intermediate.issue_cert("webhook.example")
    chain = b"".join(blob.bytes() for blob in leaf.cert_chain_pems)
    assert chain.count(b"BEGIN CERTIFICATE") == 2
    (tmp_path / "tls.crt").write_bytes(b"subject=CN = webhook.example\n" + chain)
    assert describe_certificate(tmp_path / "tls.crt") == expected(leaf.cert_chain_pems[0].bytes())


def test_the_expiry_is_utc_in_iso_form(tmp_path: Path) -> None:
    leaf = trustme.CA().issue_cert("webhook.example")
    (tmp_path / "tls.crt").write_bytes(leaf.cert_chain_pems[0].bytes())
    not_after = describe_certificate(tmp_path / "tls.crt").not_after
    assert datetime.fromisoformat(not_after).utcoffset() == timedelta(0)
    assert "T" in not_after


def _pem(body: bytes) -> bytes:
    return b"-----BEGIN CERTIFICATE-----\n" + base64.encodebytes(body) + b"-----END CERTIFICATE-----\n"


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n",
        b"-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n",
        _pem(b"\x30\x03\x02\x01\x05"),  # a DER SEQUENCE, not a certificate
        _pem(b"\x30\x82\xff\xff"),  # a length running past the end
    ],
    ids=["empty", "key only", "bad base64", "not a certificate", "truncated"],
)
def test_anything_else_is_a_value_error(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "tls.crt").write_bytes(content)
    with pytest.raises(ValueError):  # noqa: PT011 (the reloader catches exactly ValueError)
        describe_certificate(tmp_path / "tls.crt")


def test_trailing_bytes_after_the_certificate_are_refused(tmp_path: Path) -> None:
    leaf = trustme.CA().issue_cert("webhook.example")
    der = x509.load_pem_x509_certificate(leaf.cert_chain_pems[0].bytes()).public_bytes(Encoding.DER)
    (tmp_path / "tls.crt").write_bytes(_pem(der + b"\x00\x00"))
    with pytest.raises(ValueError, match="trailing"):
        describe_certificate(tmp_path / "tls.crt")


SERVE_START_UP = """
import sys
from datetime import datetime, timedelta
from pathlib import Path
from webhook.tls import CertReloader
import webhook.cli
reloader = CertReloader(Path(sys.argv[1]), Path(sys.argv[2]))
print(reloader.served.serial > 0, "cryptography" in sys.modules)
"""


def test_the_webhook_reads_its_certificate_without_loading_cryptography(tmp_path: Path) -> None:
    leaf = trustme.CA().issue_cert("webhook.example")
    leaf.cert_chain_pems[0].write_to_path(str(tmp_path / "tls.crt"))
    leaf.private_key_pem.write_to_path(str(tmp_path / "tls.key"))
    result = subprocess.run(
        [sys.executable, "-c", SERVE_START_UP, str(tmp_path / "tls.crt"), str(tmp_path / "tls.key")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.split() == ["True", "False"]
