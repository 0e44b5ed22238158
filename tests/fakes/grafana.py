"""A fake Grafana HTTP API: organisations, org switching, datasources and dashboards, as strict as Grafana about
authentication, methods, paths and error shapes for the calls tenantgate makes.

Every `/api` route needs HTTP basic auth as the admin (401 `{"message": "invalid username or password"}`
otherwise). The organisation a request acts in is the `X-Grafana-Org-Id` header, else the user's current one
(`POST /api/user/using/:id`); either must be an organisation the user is a member of (401 otherwise). Creating
an organisation makes its creator a member, as Grafana does. Datasource names and uids are unique per
organisation (409); dashboards are keyed by uid per organisation. aiohttp's router answers 405 for a known path
with another method and 404 for an unknown path, as Grafana's does. Knobs: `down` (every request 503),
`fail_next` (that many 500s); `requests` records (method, path, org) for assertions.
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Org:
    id: int
    name: str
    members: set[str] = field(default_factory=set)
    datasources: dict[str, dict[str, Any]] = field(default_factory=dict)
    dashboards: dict[str, dict[str, Any]] = field(default_factory=dict)


def _message(status: int, message: str) -> web.Response:
    return web.json_response({"message": message}, status=status)


class FakeGrafana:
    def __init__(self, user: str = "admin", password: str = "grafana-admin-secret") -> None:
        self.user = user
        self.password = password
        self.orgs: dict[int, Org] = {1: Org(1, "Main Org.", {user})}
        self.current_org: dict[str, int] = {user: 1}
        self.requests: list[tuple[str, str, int | None]] = []
        self.orgs_created = 0
        self.down = False
        self.fail_next = 0
        self._next_id = 2
        self._next_object_id = 1
        self.lock = threading.Lock()

    # ---- queries for tests ---------------------------------------------------------------------------------

    def org_named(self, name: str) -> Org | None:
        return next((org for org in self.orgs.values() if org.name == name), None)

    def dashboard(self, org_name: str, uid: str) -> dict[str, Any] | None:
        with self.lock:
            org = self.org_named(org_name)
            return None if org is None else org.dashboards.get(uid)

    # ---- plumbing ------------------------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._guard])
        app.router.add_get("/api/health", self._health)
        app.router.add_get("/api/orgs/name/{name}", self._org_by_name)
        app.router.add_post("/api/orgs", self._create_org)
        app.router.add_post("/api/user/using/{id}", self._use_org)
        app.router.add_get("/api/datasources/uid/{uid}", self._get_datasource)
        app.router.add_post("/api/datasources", self._create_datasource)
        app.router.add_post("/api/dashboards/db", self._save_dashboard)
        app.router.add_get("/api/dashboards/uid/{uid}", self._get_dashboard)
        app.router.add_delete("/api/dashboards/uid/{uid}", self._delete_dashboard)
        return app

    @web.middleware
    async def _guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if self.down:
            return _message(503, "service unavailable")
        if self.fail_next > 0:
            self.fail_next -= 1
            return _message(500, "internal server error")
        public = not request.path.startswith("/api/") or request.path == "/api/health"
        if not public and not self._authorised(request.headers.get("Authorization", "")):
            return _message(401, "invalid username or password")
        header = request.headers.get("X-Grafana-Org-Id")
        org_id: int | None = None
        if header is not None:
            if not header.isdigit() or int(header) not in self.orgs or self.user not in self.orgs[int(header)].members:
                return _message(401, "user is not a member of the organization")
            org_id = int(header)
        self.requests.append((request.method, request.path, org_id))
        if request.method in ("POST", "PUT") and request.can_read_body:
            if request.content_type != "application/json":
                return _message(415, "Content-Type must be application/json")
            try:
                json.loads(await request.read())  # aiohttp keeps the body: handlers read it again
            except ValueError:
                return _message(400, "bad request data")
        try:
            with self.lock:
                return await handler(request)
        except web.HTTPException as error:  # the router's 404 and 405, with Grafana's JSON body
            return _message(error.status, "Not found" if error.status == 404 else error.reason)

    def _authorised(self, header: str) -> bool:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(value).decode().partition(":")
        except ValueError:
            return False
        return user == self.user and password == self.password

    def _org(self, request: web.Request) -> Org:
        """The org of the request: its X-Grafana-Org-Id (checked by the guard), else the user's current one."""
        header = request.headers.get("X-Grafana-Org-Id")
        return self.orgs[int(header) if header is not None else self.current_org[self.user]]

    @staticmethod
    async def _body(request: web.Request) -> Any:
        return json.loads(await request.read()) if request.body_exists else None

    async def _health(self, request: web.Request) -> web.Response:
        return web.json_response({"database": "ok"})

    # ---- orgs ----------------------------------------------------------------------------------------------

    async def _org_by_name(self, request: web.Request) -> web.Response:
        org = self.org_named(request.match_info["name"])
        if org is None:
            return _message(404, "Organization not found")
        return web.json_response({"id": org.id, "name": org.name, "address": {}})

    async def _create_org(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        name = body.get("name") if isinstance(body, dict) else None
        if not isinstance(name, str) or not name:
            return _message(400, "bad request data")
        if self.org_named(name) is not None:
            return _message(409, "Organization name taken")
        org = Org(self._next_id, name, {self.user})
        self._next_id += 1
        self.orgs[org.id] = org
        self.orgs_created += 1
        return web.json_response({"message": "Organization created", "orgId": org.id})

    async def _use_org(self, request: web.Request) -> web.Response:
        raw = request.match_info["id"]
        if not raw.isdigit() or int(raw) not in self.orgs or self.user not in self.orgs[int(raw)].members:
            return _message(401, "Not a valid organization")
        self.current_org[self.user] = int(raw)
        return _message(200, "Active organization changed")

    # ---- datasources ---------------------------------------------------------------------------------------

    async def _get_datasource(self, request: web.Request) -> web.Response:
        found = self._org(request).datasources.get(request.match_info["uid"])
        return web.json_response(found) if found else _message(404, "Data source not found")

    async def _create_datasource(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        if not isinstance(body, dict) or not body.get("name") or not body.get("type"):
            return _message(400, "bad request data")
        org = self._org(request)
        if any(ds["name"] == body["name"] for ds in org.datasources.values()):
            return _message(409, "data source with the same name already exists")
        uid = str(body.get("uid") or f"ds{self._next_object_id}")
        if uid in org.datasources:
            return _message(409, "data source with the same uid already exists")
        datasource = {**body, "uid": uid, "id": self._next_object_id, "orgId": org.id}
        self._next_object_id += 1
        org.datasources[uid] = datasource
        return web.json_response(
            {"datasource": datasource, "id": datasource["id"], "message": "Datasource added", "name": body["name"]}
        )

    # ---- dashboards ----------------------------------------------------------------------------------------

    async def _save_dashboard(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        dashboard = body.get("dashboard") if isinstance(body, dict) else None
        if not isinstance(dashboard, dict) or not dashboard.get("title"):
            return _message(400, "bad request data")
        org = self._org(request)
        uid = str(dashboard.get("uid") or f"d{self._next_object_id}")
        if dashboard.get("id") is not None and not any(d["id"] == dashboard["id"] for d in org.dashboards.values()):
            return _message(404, "Dashboard not found")
        existing = org.dashboards.get(uid)
        if existing is not None and not body.get("overwrite"):
            return web.json_response(
                {"message": "A dashboard with the same uid already exists", "status": "name-exists"}, status=412
            )
        version = (existing["version"] + 1) if existing else 1
        identifier = existing["id"] if existing else self._next_object_id
        if existing is None:
            self._next_object_id += 1
        org.dashboards[uid] = {**dashboard, "id": identifier, "uid": uid, "version": version}
        return web.json_response(
            {"id": identifier, "uid": uid, "url": f"/d/{uid}/x", "status": "success", "version": version, "slug": "x"}
        )

    async def _get_dashboard(self, request: web.Request) -> web.Response:
        found = self._org(request).dashboards.get(request.match_info["uid"])
        if found is None:
            return _message(404, "Dashboard not found")
        return web.json_response({"dashboard": found, "meta": {"slug": "x"}})

    async def _delete_dashboard(self, request: web.Request) -> web.Response:
        found = self._org(request).dashboards.pop(request.match_info["uid"], None)
        if found is None:
            return _message(404, "Dashboard not found")
        return web.json_response({"title": found["title"], "message": "Dashboard deleted", "id": found["id"]})


class ServedGrafana:
    """The fake on a loopback port, in a thread of its own (for end-to-end tests driving a subprocess)."""

    def __init__(self, fake: FakeGrafana) -> None:
        self.fake = fake
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ServedGrafana:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=30)
        return self

    async def _start(self) -> None:
        self._runner = web.AppRunner(self.fake.app())
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = int(server.sockets[0].getsockname()[1])  # type: ignore[attr-defined]

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(timeout=30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
