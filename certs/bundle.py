"""The set of certificates the webhook needs, and how it is stored.

One `CertBundle` holds the current CA (certificate and key: the key is needed to renew the serving
certificate without changing the CA), the serving certificate, and the previous CAs that are still
valid. `ca.crt` carries the current CA followed by those previous CAs: it is exactly the `caBundle`
injected into the webhook configurations, so certificates signed by the old CA stay trusted for as long
as they can still be served, and a CA rotation never breaks a handshake.

Stored as a `kubernetes.io/tls` Secret (or files): `tls.crt`, `tls.key`, `ca.crt`, plus `ca.key`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization

from certs.issue import KeyPair

TLS_CRT = "tls.crt"
TLS_KEY = "tls.key"
CA_CRT = "ca.crt"
CA_KEY = "ca.key"

_BEGIN = b"-----BEGIN CERTIFICATE-----"
_END = b"-----END CERTIFICATE-----"


class InvalidBundle(ValueError):
    """Stored certificate material that cannot be used (missing keys, unparsable PEM, mismatched pairs)."""


def split_pem_certificates(pem: bytes) -> list[bytes]:
    """Each certificate of a PEM bundle as its own PEM block (normalised to end with a newline)."""
    blocks: list[bytes] = []
    start = pem.find(_BEGIN)
    while start != -1:
        end = pem.find(_END, start)
        if end == -1:
            raise InvalidBundle("unterminated PEM certificate")
        blocks.append(pem[start : end + len(_END)] + b"\n")
        start = pem.find(_BEGIN, end)
    return blocks


def public_key_matches(cert_pem: bytes, key_pem: bytes) -> bool:
    """True when the private key belongs to the certificate."""
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
        key = serialization.load_pem_private_key(key_pem, password=None)
    except ValueError:
        return False
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    return bool(cert.public_key().public_bytes(der, spki) == key.public_key().public_bytes(der, spki))


@dataclass(frozen=True, slots=True)
class CertFacts:
    """What the renewal decisions need to know about one certificate."""

    serial: int
    not_before: datetime
    not_after: datetime
    dns_names: frozenset[str]
    ip_addresses: frozenset[str]
    is_ca: bool

    @classmethod
    def of(cls, pem: bytes) -> CertFacts:
        try:
            cert = x509.load_pem_x509_certificate(pem)
        except ValueError as exc:
            raise InvalidBundle(f"unparsable certificate: {exc}") from exc
        try:
            san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            names = frozenset(san.get_values_for_type(x509.DNSName))
            addresses = frozenset(str(a) for a in san.get_values_for_type(x509.IPAddress))
        except x509.ExtensionNotFound:
            names, addresses = frozenset(), frozenset()
        try:
            is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        except x509.ExtensionNotFound:
            is_ca = False
        return cls(cert.serial_number, cert.not_valid_before_utc, cert.not_valid_after_utc, names, addresses, is_ca)


def issued_by(cert_pem: bytes, ca_pem: bytes) -> bool:
    """True when `ca_pem` signed `cert_pem` (signature and issuer name both check out)."""
    try:
        x509.load_pem_x509_certificate(cert_pem).verify_directly_issued_by(x509.load_pem_x509_certificate(ca_pem))
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


@dataclass(frozen=True, slots=True)
class CertBundle:
    ca: KeyPair
    serving: KeyPair
    previous_cas: tuple[bytes, ...] = ()

    @property
    def ca_bundle_pem(self) -> bytes:
        """The trust bundle: the current CA first, then previous CAs still trusted during a rotation."""
        return self.ca.cert_pem + b"".join(self.previous_cas)

    def secret_data(self) -> dict[str, bytes]:
        return {
            CA_CRT: self.ca_bundle_pem,
            CA_KEY: self.ca.key_pem,
            TLS_CRT: self.serving.cert_pem,
            TLS_KEY: self.serving.key_pem,
        }

    @classmethod
    def from_data(cls, data: Mapping[str, bytes]) -> CertBundle:
        """Read a bundle back from Secret data or files; raise `InvalidBundle` when it is not usable."""
        missing = [k for k in (CA_CRT, CA_KEY, TLS_CRT, TLS_KEY) if not data.get(k)]
        if missing:
            raise InvalidBundle(f"missing {', '.join(missing)}")
        cas = split_pem_certificates(data[CA_CRT])
        current = [pem for pem in cas if public_key_matches(pem, data[CA_KEY])]
        if not current:
            raise InvalidBundle("ca.key does not belong to any certificate in ca.crt")
        if not public_key_matches(data[TLS_CRT], data[TLS_KEY]):
            raise InvalidBundle("tls.key does not belong to tls.crt")
        previous = tuple(pem for pem in cas if pem != current[0])
        return cls(KeyPair(current[0], data[CA_KEY]), KeyPair(data[TLS_CRT], data[TLS_KEY]), previous)
