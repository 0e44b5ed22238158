"""`/healthz`, `/readyz` and `/metrics` on a small aiohttp server.

Liveness only says the event loop answers; readiness says every informer has synced (a replica that is not the
leader is still ready: its caches are warm for a takeover); metrics are rendered on each scrape.
"""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from controller.metrics import Metrics


def build_app(metrics: Metrics, unsynced: Callable[[], list[str]]) -> web.Application:
    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def readyz(_: web.Request) -> web.Response:
        waiting = unsynced()
        if waiting:
            return web.Response(status=503, text="waiting for caches: " + ", ".join(sorted(waiting)) + "\n")
        return web.Response(text="ok\n")

    async def metrics_handler(_: web.Request) -> web.Response:
        return web.Response(
            body=metrics.render().encode(), headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"}
        )

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_handler)
    return app


class HealthServer:
    def __init__(self, app: web.Application, host: str, port: int) -> None:
        self._runner = web.AppRunner(app, access_log=None)
        self._host = host
        self._port = port
        self.port = port

    async def start(self) -> None:
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        if sockets:
            self.port = int(sockets[0].getsockname()[1])

    async def stop(self) -> None:
        await self._runner.cleanup()
