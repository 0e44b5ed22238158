"""One canonical hostname for admission and the controller: what is judged is what is published."""

from __future__ import annotations

from typing import Any

import pytest

from admission.rules.hosts import hosts_with_paths
from controller.reconcilers import certificate, dnsrecord
from tenancy.hosts import normalize_host

pytestmark = pytest.mark.unit

SPELLINGS = [
    ("web.local", "web.local"),
    ("WEB.Local.", "web.local"),
    (" Shop.Example.COM. ", "shop.example.com"),
    ("*.Apps.Example.", "*.apps.example"),
    ("Bücher.Example", "xn--bcher-kva.example"),
    ("shop.BÜCHER.example.", "shop.xn--bcher-kva.example"),
    ("xn--bcher-kva.example", "xn--bcher-kva.example"),
    ("ÉCOLE.example", "xn--cole-9oa.example"),
]


@pytest.mark.parametrize(("written", "canonical"), SPELLINGS)
def test_normalize_host(written: str, canonical: str) -> None:
    assert normalize_host(written) == canonical
    assert normalize_host(canonical) == canonical


def record(host: str, target: str = "10.0.0.10") -> dict[str, Any]:
    return {
        "apiVersion": "paas.kubeop.io/v1alpha1",
        "kind": "DNSRecord",
        "metadata": {"name": "web-local", "uid": "u-1"},
        "spec": {"host": host, "target": target},
    }


def cert(host: str) -> dict[str, Any]:
    return {
        "apiVersion": "paas.kubeop.io/v1alpha1",
        "kind": "Certificate",
        "metadata": {"name": "web-local", "uid": "u-2"},
        "spec": {"host": host, "dnsRecordRef": "web-local"},
    }


@pytest.mark.parametrize(("written", "canonical"), SPELLINGS)
def test_what_leaves_for_a_host_is_what_admission_judged(written: str, canonical: str) -> None:
    [(_, judged)] = hosts_with_paths("paas.kubeop.io", "DNSRecord", record(written))
    assert judged == canonical
    assert dnsrecord.provider_payload(record(written), "upsert")["host"] == canonical
    [endpoint] = dnsrecord.dns_endpoint(record(written), "ns")["spec"]["endpoints"]
    assert endpoint["dnsName"] == canonical
    assert certificate.provider_payload(cert(written), "upsert")["host"] == canonical
    assert certificate.cert_manager_certificate(cert(written), "ns", "letsencrypt")["spec"]["dnsNames"] == [canonical]


@pytest.mark.parametrize(
    ("target", "published", "record_type"),
    [
        ("LB.Example.NET.", "lb.example.net", "CNAME"),
        ("10.0.0.10", "10.0.0.10", "A"),
        ("2001:db8::1", "2001:db8::1", "AAAA"),
    ],
)
def test_a_hostname_target_is_canonical_too_and_an_address_stays(target: str, published: str, record_type: str) -> None:
    payload = dnsrecord.provider_payload(record("web.local", target), "upsert")
    assert (payload["target"], payload["type"]) == (published, record_type)
