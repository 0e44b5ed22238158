# ruff: noqa: E402  (imports follow the import-path fix below)
"""The limit for the admission webhook benchmark: the least an aiohttp TLS webhook in this Python can do.

It answers every POST by parsing the JSON body and echoing the review's uid with `allowed: true`: no
validation of the envelope, no handlers, no metrics, no logging. Everything else is what tenantgate's server
uses: the same Python and aiohttp, the same TLS settings (`webhook.tls.make_server_context`: TLS 1.2+, no
compression, ALPN http/1.1) and certificate files, keep-alive, the access log off. The distance between this
and tenantgate is therefore what tenantgate's own work costs; the distance between this and the hardware is
aiohttp's and TLS's, which no change to tenantgate's code can remove.

Usage: `python bench/limit_server.py --cert-dir DIR --port PORT` (serves on 127.0.0.1 until SIGTERM/SIGINT).
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/webhook.py shares its name with the `webhook` package under test, and Python (or kopf, for an operator
# file) puts a script's directory first on the import path: take bench/ off it, so `webhook` is the package.
_BENCH = Path(__file__).resolve().parent
sys.path[:] = [entry for entry in sys.path if not entry or Path(entry).resolve() != _BENCH]

import argparse
import asyncio
import json
import signal
from typing import Any

from aiohttp import web

from webhook.tls import make_server_context


async def admit(request: web.Request) -> web.Response:
    """Parse the review and allow it: the minimum a correct webhook has to do per request."""
    review: Any = json.loads(await request.read())
    answer = {
        "apiVersion": review.get("apiVersion", "admission.k8s.io/v1"),
        "kind": "AdmissionReview",
        "response": {"uid": review["request"]["uid"], "allowed": True},
    }
    return web.Response(body=json.dumps(answer, separators=(",", ":")).encode(), content_type="application/json")


async def serve(cert_dir: Path, host: str, port: int) -> None:
    """Serve until SIGTERM or SIGINT, then close."""
    app = web.Application()
    app.router.add_post("/{path:.*}", admit)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    context = make_server_context(cert_dir / "tls.crt", cert_dir / "tls.key")
    site = web.TCPSite(runner, host, port, ssl_context=context, reuse_address=True)
    await site.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cert-dir", type=Path, required=True, help="directory holding tls.crt and tls.key")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    asyncio.run(serve(args.cert_dir, args.host, args.port))


if __name__ == "__main__":
    main()
