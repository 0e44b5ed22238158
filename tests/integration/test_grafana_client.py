"""The Grafana client against the fake Grafana, over real TLS (a trustme CA the client is told to trust)."""

from __future__ import annotations

import base64
import json
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import trustme
from aiohttp import web

from controller.reconcilers.shop_dashboard import dashboard, dashboard_configmap
from controller.reconcilers.shop_grafana import LOKI_UID, PROMETHEUS_UID, GrafanaClient, GrafanaError, grafana_settings
from tests.fakes.grafana import FakeGrafana
from tests.integration.support import client_context

PASSWORD = "grafana-admin-secret"


class Served:
    def __init__(self, fake: FakeGrafana, url: str, ca_file: Path, ca: trustme.CA) -> None:
        self.fake, self.url, self.ca_file, self.ca = fake, url, ca_file, ca

    def client(self, **env: str) -> GrafanaClient:
        base = {"GRAFANA_URL": self.url, "GRAFANA_ADMIN_PASSWORD": PASSWORD, "GRAFANA_CA_FILE": str(self.ca_file)}
        settings = grafana_settings({**base, **env})
        assert settings is not None
        return GrafanaClient(settings)


@pytest.fixture
async def grafana(tmp_path: Path) -> AsyncIterator[Served]:
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(server_context)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    fake = FakeGrafana(password=PASSWORD)
    runner = web.AppRunner(fake.app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_context)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield Served(fake, f"https://127.0.0.1:{port}", ca_file, ca)
    finally:
        await runner.cleanup()


async def raw(served: Served, method: str, path: str, auth: bool = True, **kwargs: Any) -> tuple[int, Any]:
    headers = dict(kwargs.pop("headers", {}))
    if auth:
        headers["Authorization"] = "Basic " + base64.b64encode(f"admin:{PASSWORD}".encode()).decode()
    connector = aiohttp.TCPConnector(ssl=client_context(served.ca))
    async with (
        aiohttp.ClientSession(connector=connector) as session,
        session.request(method, served.url + path, headers=headers, **kwargs) as response,
    ):
        return response.status, await response.json(content_type=None)


async def test_sync_creates_the_tenant_org_its_datasources_and_the_dashboard(grafana: Served) -> None:
    async with grafana.client() as client:
        await client.sync("shop-ns", dashboard("shop-ns", "tea"))
    org = grafana.fake.org_named("shop-ns")
    assert org is not None
    assert set(org.datasources) == {PROMETHEUS_UID, LOKI_UID}
    assert org.datasources[PROMETHEUS_UID]["isDefault"] is True
    assert org.datasources[PROMETHEUS_UID]["access"] == "proxy"
    assert org.datasources[LOKI_UID]["type"] == "loki"
    stored = grafana.fake.dashboard("shop-ns", "shop-tea")
    assert stored is not None
    configmap = json.loads(
        dashboard_configmap({"metadata": {"name": "tea", "namespace": "shop-ns"}})["data"]["tea.json"]
    )
    assert {k: v for k, v in stored.items() if k not in ("id", "version")} == {
        k: v for k, v in configmap.items() if k != "version"
    }
    assert grafana.fake.dashboard("Main Org.", "shop-tea") is None
    assert all(org_id == org.id for method, path, org_id in grafana.fake.requests if "datasources" in path)


async def test_sync_twice_never_duplicates_the_org(grafana: Served) -> None:
    async with grafana.client() as client:
        await client.sync("shop-ns", dashboard("shop-ns", "tea"))
        await client.sync("shop-ns", dashboard("shop-ns", "tea"))
        await client.sync("shop-ns", dashboard("shop-ns", "coffee"))
    assert grafana.fake.orgs_created == 1
    assert [o.name for o in grafana.fake.orgs.values()].count("shop-ns") == 1
    stored = grafana.fake.dashboard("shop-ns", "shop-tea")
    assert stored is not None
    assert stored["version"] == 2
    assert grafana.fake.dashboard("shop-ns", "shop-coffee") is not None
    posts = [p for m, p, _ in grafana.fake.requests if m == "POST" and p == "/api/datasources"]
    assert len(posts) == 2


async def test_an_existing_org_is_reused_and_a_taken_datasource_name_tolerated(grafana: Served) -> None:
    status, created = await raw(grafana, "POST", "/api/orgs", json={"name": "shop-ns"})
    assert status == 200
    status, _ = await raw(
        grafana,
        "POST",
        "/api/datasources",
        json={"name": "Loki", "type": "loki", "uid": "other", "url": "http://x", "access": "proxy"},
        headers={"X-Grafana-Org-Id": str(created["orgId"])},
    )
    assert status == 200
    async with grafana.client() as client:
        await client.sync("shop-ns", dashboard("shop-ns", "tea"))
    assert grafana.fake.orgs_created == 1
    assert grafana.fake.dashboard("shop-ns", "shop-tea") is not None


async def test_delete_removes_the_dashboard_and_missing_ones_are_gone(grafana: Served) -> None:
    async with grafana.client() as client:
        assert await client.delete_dashboard("nowhere", "shop-tea") is False
        await client.sync("shop-ns", dashboard("shop-ns", "tea"))
        assert await client.delete_dashboard("shop-ns", "shop-tea") is True
        assert await client.delete_dashboard("shop-ns", "shop-tea") is False
    assert grafana.fake.dashboard("shop-ns", "shop-tea") is None


async def test_wrong_password_is_an_error_without_the_password(grafana: Served) -> None:
    async with grafana.client(GRAFANA_ADMIN_PASSWORD="wrong-password-value") as client:
        with pytest.raises(GrafanaError) as caught:
            await client.sync("shop-ns", dashboard("shop-ns", "tea"))
    assert caught.value.status == 401
    assert "wrong-password-value" not in str(caught.value)
    assert "invalid username or password" in str(caught.value)


async def test_grafana_down_and_unreachable(grafana: Served, tmp_path: Path) -> None:
    grafana.fake.down = True
    async with grafana.client() as client:
        with pytest.raises(GrafanaError) as caught:
            await client.sync("shop-ns", dashboard("shop-ns", "tea"))
    assert caught.value.status == 503
    settings = grafana_settings({"GRAFANA_URL": "http://127.0.0.1:9", "GRAFANA_ADMIN_PASSWORD": PASSWORD})
    assert settings is not None
    async with GrafanaClient(settings) as client:
        with pytest.raises(GrafanaError) as caught:
            await client.org_id("x")
    assert caught.value.status == 0
    assert PASSWORD not in str(caught.value)


async def test_a_server_error_midway_is_repaired_by_the_next_sync(grafana: Served) -> None:
    async with grafana.client() as client:
        await client.ensure_org("shop-ns")
        grafana.fake.fail_next = 1
        with pytest.raises(GrafanaError):
            await client.sync("shop-ns", dashboard("shop-ns", "tea"))
        await client.sync("shop-ns", dashboard("shop-ns", "tea"))
    assert grafana.fake.orgs_created == 1
    assert grafana.fake.dashboard("shop-ns", "shop-tea") is not None


@pytest.mark.parametrize(
    ("method", "path", "auth", "headers", "status"),
    [
        ("GET", "/api/orgs/name/x", False, {}, 401),
        ("PUT", "/api/orgs", True, {}, 405),
        ("GET", "/api/dashboards/db", True, {}, 405),
        ("GET", "/api/no-such-thing", True, {}, 404),
        ("GET", "/api/datasources/uid/prometheus", True, {"X-Grafana-Org-Id": "99"}, 401),
        ("POST", "/api/user/using/99", True, {}, 401),
        ("POST", "/api/user/using/1", True, {}, 200),
    ],
)
async def test_fake_is_strict_like_grafana(
    grafana: Served, method: str, path: str, auth: bool, headers: dict[str, str], status: int
) -> None:
    assert (await raw(grafana, method, path, auth=auth, headers=headers))[0] == status


async def test_fake_user_switching_scopes_org_calls(grafana: Served) -> None:
    _, created = await raw(grafana, "POST", "/api/orgs", json={"name": "other"})
    assert (await raw(grafana, "POST", f"/api/user/using/{created['orgId']}"))[0] == 200
    body = {"name": "P", "type": "prometheus", "uid": "prometheus", "url": "http://p", "access": "proxy"}
    assert (await raw(grafana, "POST", "/api/datasources", json=body))[0] == 200
    assert (await raw(grafana, "POST", "/api/datasources", json={**body, "name": "Q"}))[0] == 409
    org = grafana.fake.org_named("other")
    assert org is not None
    assert "prometheus" in org.datasources
    assert "prometheus" not in grafana.fake.orgs[1].datasources
