"""The local control plane's own small PKI: one CA, the API server's serving certificate, client certificates.

Client certificates are how the local control plane authenticates everyone: the admin (`system:masters`),
the controller manager, and any user a test mints with groups (certificate O= fields become groups), which
is the only way to act with several groups from the Python client (it cannot send repeated impersonation
headers). Issuance itself is `certs.issue`, the same code that issues the webhook's certificates.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from certs.issue import KeyPair, new_ca, new_client_cert, new_serving_cert

LIFETIME = timedelta(days=7)


def write_pair(pair: KeyPair, directory: Path, stem: str) -> tuple[Path, Path]:
    cert, key = directory / f"{stem}.crt", directory / f"{stem}.key"
    cert.write_bytes(pair.cert_pem)
    key.write_bytes(pair.key_pem)
    key.chmod(0o600)
    return cert, key


class CertificateAuthority:
    """A throw-away CA that lives as long as one control plane."""

    def __init__(self, common_name: str = "tenantgate-dev-ca") -> None:
        self._pair = new_ca(common_name, now=datetime.now(UTC), lifetime=LIFETIME)

    @property
    def cert_pem(self) -> bytes:
        return self._pair.cert_pem

    def serving(self, dns_names: Sequence[str], ips: Sequence[str]) -> KeyPair:
        return new_serving_cert(
            self._pair, dns_names=dns_names, ip_addresses=ips, now=datetime.now(UTC), lifetime=LIFETIME
        )

    def client(self, user: str, groups: Sequence[str] = ()) -> KeyPair:
        return new_client_cert(self._pair, user=user, groups=groups, now=datetime.now(UTC), lifetime=LIFETIME)


def signing_key_pair() -> KeyPair:
    """The service-account token signer: a public key (in `cert_pem`) and its private key, no certificate."""
    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return KeyPair(public, private)
