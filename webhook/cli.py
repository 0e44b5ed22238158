"""`tenantgate webhook`: serve admission over TLS until SIGTERM, then drain and exit 0.

The process shape Kubernetes expects: certificates from a mounted `kubernetes.io/tls` Secret (`tls.crt`,
`tls.key`, reloaded when the kubelet updates them), the cluster view synced before `/readyz` turns
green, and on SIGTERM (or SIGINT) no new connections while in-flight reviews complete.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from typing import Any

from admission.view import ClusterState, InMemoryClusterView
from kube.errors import cluster_errors
from kube.logfmt import kv
from webhook.server import ServerConfig, start_server
from webhook.watched import WatchedClusterView

log = logging.getLogger("tenantgate.webhook")


async def serve_watched(config: ServerConfig, view: WatchedClusterView) -> int:
    """Serve with informers feeding the view, in the server's own event loop."""
    view.start()
    try:
        return await serve(config, view)
    finally:
        await view.stop()


async def serve(config: ServerConfig, view: ClusterState, stop: asyncio.Event | None = None) -> int:
    """Run until `stop` is set (by SIGTERM/SIGINT when not given) and shut down gracefully."""
    loop = asyncio.get_running_loop()
    stop_event = stop or asyncio.Event()
    handled: list[signal.Signals] = []
    if stop is None:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop_event.set)
            handled.append(signum)
    try:
        server = await start_server(config, view)
        try:
            await stop_event.wait()
            log.info(kv("webhook.signal", action="draining"))
        finally:
            await server.stop()
    finally:
        for signum in handled:
            loop.remove_signal_handler(signum)
    return 0


def server_config(args: argparse.Namespace) -> ServerConfig:
    """The server's settings from the command line (options a caller's namespace lacks keep their defaults)."""
    options: dict[str, Any] = {"client_ca_file": getattr(args, "client_ca_file", None)}
    if getattr(args, "drain_grace", None) is not None:
        options["drain_grace"] = args.drain_grace
    return ServerConfig.from_cert_dir(args.cert_dir, host=args.host, port=args.port, **options)


def run_cli(args: argparse.Namespace) -> int:
    config = server_config(args)
    wanted = (config.cert_file, config.key_file, *([config.client_ca_file] if config.client_ca_file else []))
    missing = [str(p) for p in wanted if not p.is_file()]
    if missing:
        log.error(
            kv(
                "webhook.no_certificate",
                missing=",".join(missing),
                hint="mount the kubernetes.io/tls Secret or run `tenantgate certs ensure --cert-dir`",
            )
        )
        return 1
    try:
        if args.no_cluster_view:
            return asyncio.run(serve(config, InMemoryClusterView.from_objects([])))
        try:
            view = WatchedClusterView.from_kubeconfig(args.kubeconfig)
        except cluster_errors() as exc:
            log.error(kv("webhook.no_cluster", error=exc), exc_info=log.isEnabledFor(logging.DEBUG))
            return 1
        return asyncio.run(serve_watched(config, view))
    except OSError as exc:
        log.error(kv("webhook.cannot_serve", host=args.host, port=args.port, error=exc))
        return 1
