"""`tenantgate dev --publishing http`: the providers it starts, what it tells the controller, what it prints."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import aiohttp
import pytest

from controller.reconcilers import dnsrecord
from controller.reconcilers.publishing import provider_from_env
from tenantgate.devcluster import ControlPlane
from tenantgate.devcluster.publishing import DevPublishing

pytestmark = pytest.mark.integration

RECORD = {
    "apiVersion": "paas.kubeop.io/v1alpha1",
    "kind": "DNSRecord",
    "metadata": {"name": "web-local", "uid": "u-1"},
    "spec": {"host": "web.local", "target": "10.0.0.10"},
}


async def test_http_backend_serves_both_providers_and_names_them_to_the_controller(tmp_path: Path) -> None:
    # The http backend needs no control plane: nothing is installed in the cluster.
    publishing = DevPublishing("http", cast(ControlPlane, None), tmp_path / "tenantgate").start()
    try:
        env = publishing.controller_env
        assert set(env) == {"DNS_MOCK_URL", "ACME_MOCK_URL"}
        assert all(url.startswith("http://127.0.0.1:") for url in env.values())
        provider = provider_from_env(env, "DNS_MOCK_URL", "/v1/dnsrecords", "DNS provider")
        assert provider is not None
        await provider.send(dnsrecord.provider_payload(RECORD, "upsert"))

        printed = "\n".join(publishing.describe())
        listing_url = f"{env['DNS_MOCK_URL']}/v1/dnsrecords"
        assert listing_url in printed
        assert str(publishing.provider_log) in printed
        async with aiohttp.ClientSession() as session, session.get(listing_url) as response:
            assert [item["host"] for item in (await response.json())["items"]] == ["web.local"]
    finally:
        publishing.stop()
    logged = publishing.provider_log.read_text()
    assert "provider=dns method=POST path=/v1/dnsrecords status=200 action=upsert name=web-local" in logged


def test_none_backend_starts_nothing(tmp_path: Path) -> None:
    publishing = DevPublishing("none", cast(ControlPlane, None), tmp_path).start()
    assert publishing.controller_env == {}
    assert "DependencyMissing" in " ".join(publishing.describe())
    publishing.stop()


def test_an_unknown_backend_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="http, crds, none"):
        DevPublishing("dns", cast(ControlPlane, None), tmp_path).start()
