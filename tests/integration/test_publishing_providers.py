"""The controller's HTTP provider client against the local DNS and ACME providers `tenantgate dev` runs."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from controller.health import build_app
from controller.metrics import Metrics
from controller.reconcilers import certificate, dnsrecord
from controller.reconcilers.publishing import Provider, ProviderError, provider_from_env
from tenancy.labels import TENANT_LABEL
from tenantgate.devcluster.providers import ACME_API, DNS_API, LocalProvider

RECORD = {
    "apiVersion": "paas.kubeop.io/v1alpha1",
    "kind": "DNSRecord",
    "metadata": {"name": "web-local", "uid": "u-1", "labels": {TENANT_LABEL: "acme"}},
    "spec": {"host": "web.local", "target": "10.0.0.10"},
}
CERTIFICATE = {
    "apiVersion": "paas.kubeop.io/v1alpha1",
    "kind": "Certificate",
    "metadata": {"name": "web-local", "uid": "u-2", "labels": {TENANT_LABEL: "acme"}},
    "spec": {"host": "web.local", "dnsRecordRef": "web-local"},
}


@pytest.fixture
async def dns() -> AsyncIterator[LocalProvider]:
    fake = LocalProvider(DNS_API)
    await fake.start()
    yield fake
    await fake.close()


@pytest.fixture
async def acme() -> AsyncIterator[LocalProvider]:
    fake = LocalProvider(ACME_API)
    await fake.start()
    yield fake
    await fake.close()


def dns_provider(fake: LocalProvider) -> Provider:
    provider = provider_from_env({"DNS_MOCK_URL": fake.url + "/"}, "DNS_MOCK_URL", "/v1/dnsrecords", "DNS provider")
    assert provider is not None
    return provider


async def test_upsert_then_delete_reach_the_dns_provider_as_json(dns: LocalProvider) -> None:
    provider = dns_provider(dns)
    await provider.send(dnsrecord.provider_payload(RECORD, "upsert"))
    assert dns.held["web-local"]["target"] == "10.0.0.10"
    await provider.send(dnsrecord.provider_payload(RECORD, "delete"), absent_is_done=True)
    assert dns.held == {}
    assert [(c.method, c.path, c.status, c.body["action"]) for c in dns.calls] == [
        ("POST", "/v1/dnsrecords", 200, "upsert"),
        ("POST", "/v1/dnsrecords", 200, "delete"),
    ]


async def test_the_acme_provider_accepts_the_certificate_payload(acme: LocalProvider) -> None:
    provider = provider_from_env({"ACME_MOCK_URL": acme.url}, "ACME_MOCK_URL", "/v1/certificates", "ACME provider")
    assert provider is not None
    await provider.send(certificate.provider_payload(CERTIFICATE, "upsert"))
    assert acme.held["web-local"]["secretName"] == "web-local-tls"


@pytest.mark.parametrize("status", [500, 503, 429, 301, 400])
async def test_only_2xx_counts_and_the_error_never_shows_the_url(dns: LocalProvider, status: int) -> None:
    dns.fail_next(1, status)
    provider = dns_provider(dns)
    with pytest.raises(ProviderError) as raised:
        await provider.send(dnsrecord.provider_payload(RECORD, "upsert"))
    assert str(status) in str(raised.value)
    assert "127.0.0.1" not in str(raised.value)
    assert dns.held == {}


async def test_deleting_what_the_provider_does_not_hold_is_done_only_when_asked(dns: LocalProvider) -> None:
    provider = dns_provider(dns)
    await provider.send(dnsrecord.provider_payload(RECORD, "delete"), absent_is_done=True)
    with pytest.raises(ProviderError, match="404"):
        await provider.send(dnsrecord.provider_payload(RECORD, "delete"))


async def test_an_unreachable_provider_with_credentials_in_its_url_is_reported_without_them() -> None:
    fake = LocalProvider(DNS_API)
    await fake.start()
    port = fake.url.rsplit(":", 1)[1]
    await fake.close()  # nothing listens on that port any more
    provider = Provider("DNS provider", f"http://user:s3cret-token@127.0.0.1:{port}/v1/dnsrecords", timeout=2)
    with pytest.raises(ProviderError, match="unreachable") as raised:
        await provider.send(dnsrecord.provider_payload(RECORD, "upsert"))
    assert "s3cret" not in str(raised.value)


@pytest.mark.parametrize(
    ("method", "path", "headers", "body", "status"),
    [
        ("PUT", "/v1/dnsrecords", {"Content-Type": "application/json"}, b"{}", 405),
        ("GET", "/v1/dnsrecords", {}, b"{}", 405),
        ("POST", "/v1/other", {"Content-Type": "application/json"}, b"{}", 404),
        ("POST", "/v1/dnsrecords", {"Content-Type": "text/plain"}, b"{}", 415),
        ("POST", "/v1/dnsrecords", {"Content-Type": "application/json"}, b"", 400),
        ("POST", "/v1/dnsrecords", {"Content-Type": "application/json"}, b'{"action":"upsert"}', 400),
    ],
)
async def test_the_local_provider_is_as_strict_as_a_real_api(
    dns: LocalProvider, method: str, path: str, headers: dict[str, str], body: bytes, status: int
) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, dns.url + path, data=body, headers=headers) as response,
    ):
        assert response.status == status
    assert dns.held == {}


async def test_the_local_provider_refuses_unknown_fields_and_wrong_types(dns: LocalProvider) -> None:
    good = dnsrecord.provider_payload(RECORD, "upsert")
    async with aiohttp.ClientSession() as session:
        for bad in ({**good, "extra": 1}, {**good, "ttl": "300"}, {**good, "type": "MX"}, {**good, "action": "x"}):
            async with session.post(dns.url + "/v1/dnsrecords", json=bad) as response:
                assert response.status == 400, bad


async def test_get_lists_what_the_provider_holds_and_changes_nothing(dns: LocalProvider) -> None:
    provider = dns_provider(dns)
    await provider.send(dnsrecord.provider_payload(RECORD, "upsert"))
    async with aiohttp.ClientSession() as session, session.get(dns.url + "/v1/dnsrecords") as response:
        assert response.status == 200
        listing = await response.json()
    assert listing == {"items": [dnsrecord.provider_payload(RECORD, "upsert")]}
    assert [c.method for c in dns.calls] == ["POST"]


async def test_a_host_reaches_the_providers_in_the_form_admission_judged(
    dns: LocalProvider, acme: LocalProvider
) -> None:
    shouted = {**RECORD, "spec": {"host": "WEB.Local.", "target": "10.0.0.10"}}
    await dns_provider(dns).send(dnsrecord.provider_payload(shouted, "upsert"))
    assert dns.held["web-local"]["host"] == "web.local"
    provider = provider_from_env({"ACME_MOCK_URL": acme.url}, "ACME_MOCK_URL", "/v1/certificates", "ACME provider")
    assert provider is not None
    await provider.send(certificate.provider_payload({**CERTIFICATE, "spec": {"host": "WEB.Local."}}, "upsert"))
    assert acme.held["web-local"]["host"] == "web.local"


async def test_provider_calls_are_counted_and_timed_without_urls_and_scraped_from_metrics(dns: LocalProvider) -> None:
    metrics = Metrics()
    secret_url = dns.url.replace("http://", "http://tenantgate:s3cret-token@") + "/v1/dnsrecords"
    provider = Provider("DNS provider", secret_url, label="dns", metrics=metrics)
    await provider.send(dnsrecord.provider_payload(RECORD, "upsert"))
    dns.fail_next(1, 503)
    with pytest.raises(ProviderError):
        await provider.send(dnsrecord.provider_payload(RECORD, "upsert"))
    await provider.send(dnsrecord.provider_payload(RECORD, "delete"), absent_is_done=True)
    await provider.send(dnsrecord.provider_payload(RECORD, "delete"), absent_is_done=True)  # already gone: 404
    unreachable = Provider("DNS provider", "http://127.0.0.1:1/v1/dnsrecords", timeout=2, label="dns", metrics=metrics)
    with pytest.raises(ProviderError):
        await unreachable.send(dnsrecord.provider_payload(RECORD, "upsert"))

    runner = web.AppRunner(build_app(metrics, list))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        health = f"http://127.0.0.1:{runner.addresses[0][1]}/metrics"
        async with aiohttp.ClientSession() as session, session.get(health) as response:
            assert response.status == 200
            text = await response.text()
    finally:
        await runner.cleanup()
    for series, value in [
        ('tenantgate_provider_requests_total{provider="dns",action="upsert",outcome="accepted"}', 1),
        ('tenantgate_provider_requests_total{provider="dns",action="upsert",outcome="http_5xx"}', 1),
        ('tenantgate_provider_requests_total{provider="dns",action="delete",outcome="accepted"}', 1),
        ('tenantgate_provider_requests_total{provider="dns",action="delete",outcome="absent"}', 1),
        ('tenantgate_provider_requests_total{provider="dns",action="upsert",outcome="unreachable"}', 1),
        ('tenantgate_provider_request_duration_seconds_count{provider="dns"}', 5),
    ]:
        assert f"{series} {value}\n" in text, series
    assert "s3cret" not in text
    assert "127.0.0.1" not in text
