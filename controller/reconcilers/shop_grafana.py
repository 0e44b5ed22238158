"""A Shop's dashboard in Grafana: the tenant organisation (named after the namespace), its two datasources, the
dashboard, and its removal. Used only when the controller has GRAFANA_URL.

Every org-scoped call names its organisation with the `X-Grafana-Org-Id` header instead of switching the admin
user's current organisation (`POST /api/user/using/:id`) as shop-operator did: the switch is state on the
Grafana side shared by every caller, which concurrent reconciles would race on; the header is per request.
The admin creates the organisations it uses, which makes it their member, as the header requires.

Pure builders (`grafana_settings`, `datasource_bodies`, `dashboard_upload`) and a thin aiohttp client; the admin
password lives only in the request's Authorization header, never in an error, log line or repr.
"""

from __future__ import annotations

import base64
import json
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import quote

import aiohttp

from controller.conditions import Condition

GRAFANA_FINALIZER: Final = "apps.shophub.local/grafana-tenant-dashboard"
PROMETHEUS_UID: Final = "prometheus"
LOKI_UID: Final = "P8E80F9AEF21F6940"
DEFAULT_PROMETHEUS_URL: Final = "http://kube-prometheus-stack-prometheus.monitoring:9090"
DEFAULT_LOKI_URL: Final = "http://loki:3100"
TIMEOUT_SECONDS: Final = 15.0
DASHBOARD_CONDITION: Final = "DashboardSynced"
RETRY_MIN_SECONDS: Final = 5.0
RETRY_MAX_SECONDS: Final = 300.0


@dataclass(frozen=True)
class GrafanaSettings:
    url: str
    user: str
    password: str = field(repr=False)
    prometheus_url: str
    loki_url: str
    ca_file: str | None = None
    """PEM bundle to trust for an https GRAFANA_URL signed by a private CA (GRAFANA_CA_FILE); system CAs otherwise."""


def grafana_settings(env: Mapping[str, str]) -> GrafanaSettings | None:
    """shop-operator's variables and defaults; None when GRAFANA_URL is unset (no Grafana API at all)."""
    url = env.get("GRAFANA_URL", "").strip().rstrip("/")
    if not url:
        return None
    return GrafanaSettings(
        url=url,
        user=env.get("GRAFANA_ADMIN_USER") or "admin",
        password=env.get("GRAFANA_ADMIN_PASSWORD", ""),
        prometheus_url=env.get("GRAFANA_PROMETHEUS_URL") or DEFAULT_PROMETHEUS_URL,
        loki_url=env.get("GRAFANA_LOKI_URL") or DEFAULT_LOKI_URL,
        ca_file=env.get("GRAFANA_CA_FILE") or None,
    )


def datasource_bodies(settings: GrafanaSettings) -> list[dict[str, Any]]:
    """The tenant org's datasources, with the uids the dashboard panels (and upstream's) refer to. Pure."""
    return [
        {
            "name": "Prometheus",
            "type": "prometheus",
            "uid": PROMETHEUS_UID,
            "url": settings.prometheus_url,
            "access": "proxy",
            "isDefault": True,
        },
        {
            "name": "Loki",
            "type": "loki",
            "uid": LOKI_UID,
            "url": settings.loki_url,
            "access": "proxy",
            "isDefault": False,
        },
    ]


def dashboard_upload(dashboard: Mapping[str, Any]) -> dict[str, Any]:
    """The body of `POST /api/dashboards/db`: the dashboard without `id` (Grafana matches by uid), overwriting. Pure."""
    return {"dashboard": {k: v for k, v in dashboard.items() if k != "id"}, "overwrite": True, "folderId": 0}


def synced_condition() -> Condition:
    return Condition(DASHBOARD_CONDITION, "True", "Synced", "dashboard uploaded to Grafana")


def failed_condition(error: GrafanaError) -> Condition:
    reason = (
        "GrafanaUnreachable"
        if error.status == 0
        else "GrafanaUnauthorized"
        if error.status in (401, 403)
        else "GrafanaError"
    )
    return Condition(DASHBOARD_CONDITION, "False", reason, f"dashboard not synced: {error}")


def seconds_failing(obj: Mapping[str, Any], now: datetime) -> float:
    """How long `DashboardSynced` has been False (0 when it is not), from its lastTransitionTime. Pure."""
    status = obj.get("status")
    conditions = status.get("conditions") if isinstance(status, Mapping) else None
    for condition in conditions or []:
        if condition.get("type") == DASHBOARD_CONDITION and condition.get("status") == "False":
            try:
                since = datetime.strptime(str(condition.get("lastTransitionTime")), "%Y-%m-%dT%H:%M:%SZ")
            except ValueError:
                return 0.0
            return max(0.0, (now - since.replace(tzinfo=UTC)).total_seconds())
    return 0.0


def retry_delay(failing_for_seconds: float) -> float:
    """Back off as long as Grafana has been failing, between 5 s and 5 min: level-based, no counter kept. Pure."""
    return min(RETRY_MAX_SECONDS, max(RETRY_MIN_SECONDS, failing_for_seconds))


class GrafanaError(Exception):
    """A Grafana call that failed: `status` 0 when Grafana could not be reached."""

    def __init__(self, status: int, method: str, path: str, detail: str) -> None:
        super().__init__(f"Grafana {method} {path}: {status or 'unreachable'} {detail}".strip())
        self.status = status


class GrafanaClient:
    """The few Grafana HTTP API calls a Shop needs, as the admin user (basic auth)."""

    def __init__(self, settings: GrafanaSettings, session: aiohttp.ClientSession | None = None) -> None:
        self._settings = settings
        self._session = session
        self._owns_session = session is None

    async def __aenter__(self) -> GrafanaClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = None
            if self._settings.ca_file:
                connector = aiohttp.TCPConnector(ssl=ssl.create_default_context(cafile=self._settings.ca_file))
            self._session = aiohttp.ClientSession(
                connector=connector, timeout=aiohttp.ClientTimeout(total=TIMEOUT_SECONDS)
            )
        return self._session

    async def _call(self, method: str, path: str, body: Any = None, org_id: int | None = None) -> tuple[int, Any]:
        headers = {"Accept": "application/json", "User-Agent": "tenantgate-controller"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        if org_id is not None:
            headers["X-Grafana-Org-Id"] = str(org_id)
        credentials = f"{self._settings.user}:{self._settings.password}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(credentials).decode("ascii")
        try:
            async with self._http().request(
                method,
                self._settings.url + path,
                data=None if body is None else json.dumps(body),
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=TIMEOUT_SECONDS),
            ) as response:
                raw = await response.read()
                status = response.status
        except (aiohttp.ClientError, TimeoutError, OSError) as error:
            raise GrafanaError(0, method, path, type(error).__name__) from None
        try:
            payload = json.loads(raw) if raw else None
        except ValueError:
            payload = None
        return status, payload

    @staticmethod
    def _fail(status: int, method: str, path: str, payload: Any) -> GrafanaError:
        message = payload.get("message") if isinstance(payload, Mapping) else None
        return GrafanaError(status, method, path, str(message or "")[:200])

    async def org_id(self, name: str) -> int | None:
        path = f"/api/orgs/name/{quote(name, safe='')}"
        status, payload = await self._call("GET", path)
        if status == 404:
            return None
        if status != 200 or not isinstance(payload, Mapping):
            raise self._fail(status, "GET", path, payload)
        return int(payload["id"])

    async def ensure_org(self, name: str) -> int:
        """The id of the organisation `name`: looked up first, created when missing, never created twice."""
        found = await self.org_id(name)
        if found is not None:
            return found
        status, payload = await self._call("POST", "/api/orgs", {"name": name})
        if status == 200 and isinstance(payload, Mapping) and payload.get("orgId") is not None:
            return int(payload["orgId"])
        if status == 409:  # created meanwhile by another reconcile
            found = await self.org_id(name)
            if found is not None:
                return found
        raise self._fail(status, "POST", "/api/orgs", payload)

    async def ensure_datasource(self, org_id: int, body: Mapping[str, Any]) -> bool:
        """Create the datasource unless one with its uid exists in the org; True when created."""
        path = f"/api/datasources/uid/{quote(str(body['uid']), safe='')}"
        status, payload = await self._call("GET", path, org_id=org_id)
        if status == 200:
            return False
        if status != 404:
            raise self._fail(status, "GET", path, payload)
        status, payload = await self._call("POST", "/api/datasources", dict(body), org_id=org_id)
        if status == 200:
            return True
        if status == 409:  # same name or uid created meanwhile
            return False
        raise self._fail(status, "POST", "/api/datasources", payload)

    async def upload_dashboard(self, org_id: int, dashboard: Mapping[str, Any]) -> None:
        status, payload = await self._call("POST", "/api/dashboards/db", dashboard_upload(dashboard), org_id=org_id)
        if status != 200:
            raise self._fail(status, "POST", "/api/dashboards/db", payload)

    async def delete_dashboard(self, org_name: str, uid: str) -> bool:
        """Delete dashboard `uid` from org `org_name`; False when the org or the dashboard was already gone."""
        org_id = await self.org_id(org_name)
        if org_id is None:
            return False
        path = f"/api/dashboards/uid/{quote(uid, safe='')}"
        status, payload = await self._call("DELETE", path, org_id=org_id)
        if status == 404:
            return False
        if status != 200:
            raise self._fail(status, "DELETE", path, payload)
        return True

    async def sync(self, org_name: str, dashboard: Mapping[str, Any]) -> None:
        """Org, datasources, dashboard: each step idempotent, so a retry after any failure converges."""
        org_id = await self.ensure_org(org_name)
        for body in datasource_bodies(self._settings):
            await self.ensure_datasource(org_id, body)
        await self.upload_dashboard(org_id, dashboard)
