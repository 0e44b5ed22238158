"""Certificate issuance: key type, names, usages, chain, lifetimes."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from certs.bundle import CertBundle, InvalidBundle, issued_by, public_key_matches, split_pem_certificates
from certs.issue import KeyPair, new_ca, new_serving_cert, service_dns_names, split_hosts

pytestmark = pytest.mark.unit

NOW = datetime(2025, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def ca() -> KeyPair:
    return new_ca("test-ca", now=NOW, lifetime=timedelta(days=30))


def test_service_dns_names_cover_every_in_cluster_form() -> None:
    assert service_dns_names("tenantgate-webhook", "tenantgate-system") == [
        "tenantgate-webhook",
        "tenantgate-webhook.tenantgate-system",
        "tenantgate-webhook.tenantgate-system.svc",
        "tenantgate-webhook.tenantgate-system.svc.cluster.local",
    ]


def test_split_hosts_separates_ip_addresses() -> None:
    assert split_hosts(["localhost", "127.0.0.1", "::1", "svc.ns"]) == (["localhost", "svc.ns"], ["127.0.0.1", "::1"])


def test_ca_is_an_ecdsa_p256_ca_limited_to_signing_leaf_certificates(ca: KeyPair) -> None:
    cert = x509.load_pem_x509_certificate(ca.cert_pem)
    key = cert.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    assert key.curve.name == "secp256r1"
    constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical
    assert constraints.value.ca is True
    assert constraints.value.path_length == 0
    assert cert.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign


def test_serving_certificate_names_usage_and_chain(ca: KeyPair) -> None:
    names = service_dns_names("svc", "ns")
    pair = new_serving_cert(ca, dns_names=names, ip_addresses=["127.0.0.1"], now=NOW)
    cert = x509.load_pem_x509_certificate(pair.cert_pem)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == names
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    assert cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value == x509.ExtendedKeyUsage(
        [ExtendedKeyUsageOID.SERVER_AUTH]
    )
    assert issued_by(pair.cert_pem, ca.cert_pem)
    assert public_key_matches(pair.cert_pem, pair.key_pem)


def test_serving_certificate_never_outlives_its_ca(ca: KeyPair) -> None:
    pair = new_serving_cert(ca, dns_names=["a"], now=NOW, lifetime=timedelta(days=365))
    cert = x509.load_pem_x509_certificate(pair.cert_pem)
    ca_cert = x509.load_pem_x509_certificate(ca.cert_pem)
    assert cert.not_valid_after_utc == ca_cert.not_valid_after_utc


def test_certificates_are_backdated_for_clock_skew(ca: KeyPair) -> None:
    pair = new_serving_cert(ca, dns_names=["a"], now=NOW)
    assert x509.load_pem_x509_certificate(pair.cert_pem).not_valid_before_utc < NOW


def test_serving_certificate_needs_a_name(ca: KeyPair) -> None:
    with pytest.raises(ValueError, match="at least one"):
        new_serving_cert(ca, dns_names=[], now=NOW)


def test_other_ca_did_not_issue(ca: KeyPair) -> None:
    other = new_ca("other", now=NOW)
    pair = new_serving_cert(ca, dns_names=["a"], now=NOW)
    assert not issued_by(pair.cert_pem, other.cert_pem)


def test_bundle_round_trips_through_secret_data(ca: KeyPair) -> None:
    old = new_ca("old", now=NOW)
    serving = new_serving_cert(ca, dns_names=["a"], now=NOW)
    bundle = CertBundle(ca, serving, (old.cert_pem,))
    data = bundle.secret_data()
    assert set(data) == {"ca.crt", "ca.key", "tls.crt", "tls.key"}
    assert split_pem_certificates(data["ca.crt"]) == [ca.cert_pem, old.cert_pem]
    assert CertBundle.from_data(data) == bundle


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.pop("tls.key"), "missing tls.key"),
        (lambda d: d.update({"ca.key": d["tls.key"]}), "ca.key does not belong"),
        (lambda d: d.update({"tls.key": d["ca.key"]}), "tls.key does not belong"),
    ],
    ids=["missing_key", "ca_key_mismatch", "serving_key_mismatch"],
)
def test_unusable_bundles_are_rejected(ca: KeyPair, mutate: Callable[[dict[str, bytes]], object], message: str) -> None:
    serving = new_serving_cert(ca, dns_names=["a"], now=NOW)
    data = CertBundle(ca, serving).secret_data()
    mutate(data)
    with pytest.raises(InvalidBundle, match=message):
        CertBundle.from_data(data)


def test_short_lived_certificates_are_backdated_proportionally(ca: KeyPair) -> None:
    """A 6 s certificate backdated by 5 minutes would be due for renewal the moment it is issued."""
    pair = new_serving_cert(ca, dns_names=["a"], now=NOW, lifetime=timedelta(seconds=60))
    cert = x509.load_pem_x509_certificate(pair.cert_pem)
    assert NOW - cert.not_valid_before_utc <= timedelta(seconds=3)
