"""The admission webhook's HTTPS server: a thin I/O shell around `admission.dispatch`.

It owns everything about the connection and nothing about policy:
- `POST /mutate`, `POST /validate` and `POST /admit` (both in one call, for the single-call routing) take an
  AdmissionReview and answer one; `GET /healthz`, `/readyz`
  (503 until the cluster view is synced, and again while shutting down), `/version`, `/metrics`.
- Bad input is answered, never crashed on: 405 wrong method, 415 not JSON (or an unsupported
  `Content-Encoding`), 413 over the body limit (checked on `Content-Length` first, then by capping the
  streaming read, so a chunked upload cannot exceed it, and again while decompressing, so a small gzip bomb
  cannot either), 408 for a body that does not arrive in time, 400 for a malformed review or a body that
  does not decompress. Malformed HTTP and clients that hang up are logged as one WARNING line each, never
  a traceback: anyone who can reach the Service could otherwise flood the log. A slow or stalled client only costs
  its own connection: the first request's headers and every idle gap must complete within
  `header_timeout`, the body within `body_timeout`, the TLS handshake within `handshake_timeout`.
- Certificates are reloaded in place (`webhook.tls.CertReloader`); `stop()` is graceful: stop accepting,
  let clients retire their keep-alive connections, finish in-flight reviews, close idle connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

from aiohttp import hdrs, web
from aiohttp.http_exceptions import HttpProcessingError

from admission import dispatch
from admission.protocol import (
    AdmissionRequest,
    BadReview,
    bad_request_status,
    compact_json,
    parse_review,
    render_response,
)
from admission.registry import Registries
from admission.verdict import Verdict, allowed, errored
from admission.view import ClusterView
from kube.logfmt import kv
from webhook.metrics import OTHER, Metrics
from webhook.tls import CertReloader
from webhook.version import version_info

log = logging.getLogger("tenantgate.webhook.server")
http_log = logging.getLogger("tenantgate.webhook.http")
"""What aiohttp itself reports about connections (it logs malformed requests as errors with a traceback)."""

MAX_BODY_BYTES: Final = 7 * 1024 * 1024
Endpoint = Literal["/mutate", "/validate", "/admit"]


@dataclass(frozen=True)
class ServerConfig:
    """Everything the server needs besides the cluster view."""

    cert_file: Path
    key_file: Path
    client_ca_file: Path | None = None
    """When set, only clients with a certificate from this CA complete the TLS handshake (the API server's)."""
    host: str = "0.0.0.0"
    port: int = 8443
    max_body_bytes: int = MAX_BODY_BYTES
    header_timeout: float = 30.0
    body_timeout: float = 10.0
    handshake_timeout: float = 10.0
    shutdown_timeout: float = 25.0
    drain_grace: float = 5.0
    """On stop, how long open keep-alive connections may still carry reviews after the listener closed (each
    answered with `Connection: close`, so the client retires the connection itself) before the idle ones left
    are closed: closing a connection under a client races with a review it may be sending on it."""
    lingering_time: float = 1.0
    reload_interval: float = 1.0
    registries: Registries | None = field(default=None, compare=False)

    @classmethod
    def from_cert_dir(cls, cert_dir: Path, **options: Any) -> ServerConfig:
        """Read `tls.crt`/`tls.key` the way a mounted `kubernetes.io/tls` Secret provides them."""
        return cls(cert_file=cert_dir / "tls.crt", key_file=cert_dir / "tls.key", **options)


class _BodyTooLarge(Exception):
    pass


class _BadBody(Exception):
    """The body cannot be read as sent: answered with `status` and this reason."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


_GZIP_WBITS: Final = 16 + zlib.MAX_WBITS
_ENCODINGS: Final = {"gzip": _GZIP_WBITS, "x-gzip": _GZIP_WBITS, "deflate": zlib.MAX_WBITS}
"""Content codings accepted, with the zlib window that reads them (`deflate` is zlib-wrapped, RFC 9110)."""


async def read_body(request: web.Request, limit: int, deadline_seconds: float) -> bytes:
    """Read at most `limit` bytes of body within the deadline, never buffering more than one chunk past it.

    A compressed body is decoded here, not by aiohttp (the server runs with `auto_decompress=False`), so the
    limit holds for the decompressed bytes too and a stream that does not decode is a 400 with the reason.
    """
    encoding = request.headers.get(hdrs.CONTENT_ENCODING, "").strip().lower()
    if encoding not in ("", "identity", *_ENCODINGS):
        shown = encoding[:64]
        raise _BadBody(415, f"Content-Encoding {shown!r} is not supported; send the body as is, gzip or deflate")
    declared = request.content_length
    if declared is not None and declared > limit:
        raise _BodyTooLarge
    content = request.content
    try:
        if content.is_eof():
            # The whole body is buffered already (a review usually arrives with its headers): take it as it
            # is. The deadline only matters while waiting for bytes, and arming `asyncio.timeout` costs ~10 µs
            # a request (docs/performance.md).
            body = content.read_nowait()
            if len(body) > limit:
                raise _BodyTooLarge
        else:
            buffer = bytearray()
            async with asyncio.timeout(deadline_seconds):
                while True:
                    chunk = await content.readany()
                    if not chunk:
                        break
                    if len(buffer) + len(chunk) > limit:
                        raise _BodyTooLarge
                    buffer += chunk
            body = bytes(buffer)
    except HttpProcessingError as exc:
        raise _BadBody(400, f"the body is malformed: {exc.message}") from exc
    if encoding in _ENCODINGS:
        return decompress(body, encoding, limit)
    return body


def decompress(body: bytes, encoding: str, limit: int) -> bytes:
    """Decode a gzip or deflate body, producing at most `limit` bytes (then `_BodyTooLarge`) whatever it claims."""
    decoder = zlib.decompressobj(_ENCODINGS[encoding])
    try:
        plain = decoder.decompress(body, limit + 1)
    except zlib.error as exc:
        raise _BadBody(400, f"the body does not decompress as {encoding}: {exc}") from exc
    if len(plain) > limit:
        raise _BodyTooLarge
    if not decoder.eof:
        raise _BadBody(400, f"the {encoding} body is truncated: its compressed stream does not end")
    if decoder.unused_data:
        raise _BadBody(400, f"the {encoding} body has {len(decoder.unused_data)} bytes after its compressed stream")
    return plain


def _json(payload: Any, status: int = 200, *, close: bool = False) -> web.Response:
    response = web.Response(body=compact_json(payload), status=status, content_type="application/json")
    if close:
        # The rest of the body was not read; do not let the server drain (or keep) this connection.
        response.force_close()
    return response


def _is_json(request: web.Request) -> bool:
    """Content-Type application/json, with or without parameters such as `charset`.

    The exact header is what the API server sends, so it is compared as it is; only other spellings are
    parsed (aiohttp parses the header anew for each request).
    """
    return request.headers.get(hdrs.CONTENT_TYPE) == "application/json" or request.content_type == "application/json"


def _verdict_label(verdict: Verdict) -> str:
    if not verdict.allowed:
        return "error" if verdict.code >= 500 else "denied"
    return "patched" if verdict.patch else "allowed"


class AdmissionServer:
    """State shared by the request handlers of one server (metrics, view, registries, shutdown flag)."""

    def __init__(
        self, config: ServerConfig, view: ClusterView, registries: Registries, metrics: Metrics | None = None
    ) -> None:
        self.config = config
        self.view = view
        self.registries = registries
        self.metrics = metrics or Metrics()
        self.version = version_info()
        self.shutting_down = False
        self._idle = asyncio.Event()
        self._idle.set()

    async def wait_idle(self) -> None:
        """Return once no review is in flight."""
        await self._idle.wait()

    def application(self) -> web.Application:
        app = web.Application(client_max_size=self.config.max_body_bytes)
        app.router.add_route("*", "/mutate", self._mutate)
        app.router.add_route("*", "/validate", self._validate)
        app.router.add_route("*", "/admit", self._admit_in_one_call)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        app.router.add_get("/version", self._version)
        app.router.add_get("/metrics", self._metrics)
        return app

    async def _mutate(self, request: web.Request) -> web.StreamResponse:
        return await self._admit(request, "/mutate")

    async def _validate(self, request: web.Request) -> web.StreamResponse:
        return await self._admit(request, "/validate")

    async def _admit_in_one_call(self, request: web.Request) -> web.StreamResponse:
        return await self._admit(request, "/admit")

    async def _admit(self, http: web.Request, endpoint: Endpoint) -> web.StreamResponse:
        response = await self._answer(http, endpoint)
        if self.shutting_down:
            response.force_close()  # tell keep-alive clients to reconnect (to another replica)
        return response

    async def _answer(self, http: web.Request, endpoint: Endpoint) -> web.StreamResponse:
        started = time.perf_counter()
        group = kind = operation = ""
        outcome = "bad_request"
        self.metrics.in_flight += 1
        self._idle.clear()
        try:
            if http.method != "POST":
                response = _json(bad_request_status(f"{endpoint} accepts POST only", 405), 405, close=True)
                response.headers["Allow"] = "POST"
                return response
            if not _is_json(http):
                reason = f"Content-Type must be application/json, not {http.content_type!r}"
                return _json(bad_request_status(reason, 415), 415, close=True)
            try:
                body = await read_body(http, self.config.max_body_bytes, self.config.body_timeout)
            except _BodyTooLarge:
                reason = f"the body exceeds the {self.config.max_body_bytes} byte limit"
                log.warning(kv("review.rejected", endpoint=endpoint, status=413, peer=http.remote))
                return _json(bad_request_status(reason, 413), 413, close=True)
            except TimeoutError:
                reason = f"the body did not arrive within {self.config.body_timeout:g}s"
                log.warning(kv("review.rejected", endpoint=endpoint, status=408, peer=http.remote))
                return _json(bad_request_status(reason, 408), 408, close=True)
            except _BadBody as exc:
                log.warning(kv("review.rejected", endpoint=endpoint, status=exc.status, peer=http.remote, reason=exc))
                return _json(bad_request_status(str(exc), exc.status), exc.status, close=True)
            except ConnectionError as exc:
                # The client hung up mid-body: nobody is left to answer, and it is not tenantgate's failure.
                log.warning(kv("review.abandoned", endpoint=endpoint, peer=http.remote, reason=exc))
                return _json(bad_request_status("the client closed the connection", 400), 400, close=True)
            try:
                review = parse_review(body)
            except BadReview as exc:
                log.warning(kv("review.bad_request", endpoint=endpoint, reason=exc, peer=http.remote))
                return _json(bad_request_status(str(exc)), 400)
            request = review.request
            (group, kind), operation = self._metric_kind(request), request.operation
            verdict = self._decide(request, endpoint)
            try:
                response = _json(render_response(request.uid, verdict, api_version=review.api_version))
            except (TypeError, ValueError):
                # A handler put something JSON cannot carry into its patch: answer as for a failure.
                log.exception(
                    kv("review.unrenderable", uid=request.uid, endpoint=endpoint, object=request.display_name)
                )
                verdict = self._fallback(request, endpoint)
                response = _json(render_response(request.uid, verdict, api_version=review.api_version))
            outcome = _verdict_label(verdict)
            self._log_decision(request, endpoint, verdict, time.perf_counter() - started)
            return response
        finally:
            self.metrics.in_flight -= 1
            if self.metrics.in_flight == 0:
                self._idle.set()
            self.metrics.record(endpoint, group, kind, operation, outcome, time.perf_counter() - started)

    def _metric_kind(self, request: AdmissionRequest) -> tuple[str, str]:
        """(group, kind) as metric labels: a kind no rule judges is "other", so a client cannot add series."""
        group, kind = request.kind.group, request.kind.kind
        if self.registries.validating.judges(group, kind) or self.registries.mutating.judges(group, kind):
            return group, kind
        return OTHER, OTHER

    def _decide(self, request: AdmissionRequest, endpoint: Endpoint) -> Verdict:
        """Run the dispatch; an unexpected failure still yields a well-formed answer carrying the uid."""
        try:
            if endpoint == "/mutate":
                return dispatch.mutate(request, self.view, self.registries.mutating).verdict
            if endpoint == "/admit":
                return dispatch.admit(request, self.view, self.registries)
            return dispatch.validate(request, self.view, self.registries.validating)
        except Exception:
            log.exception(
                kv(
                    "review.failed",
                    uid=request.uid,
                    endpoint=endpoint,
                    kind=request.kind.kind,
                    object=request.display_name,
                )
            )
            return self._fallback(request, endpoint)

    @staticmethod
    def _fallback(request: AdmissionRequest, endpoint: Endpoint) -> Verdict:
        """The answer when tenantgate itself failed: see `admission.dispatch` for why each direction."""
        if endpoint == "/mutate":
            # Defaulting fails open: the validating webhook still judges the object. `/admit` judges, so it
            # fails closed like `/validate`.
            return allowed().with_warnings("defaulting failed inside tenantgate; no defaults were applied")
        return errored(
            f"tenantgate could not evaluate {request.kind.kind} {request.display_name} "
            f"(review uid {request.uid}); validation fails closed, so the request was denied"
        )

    def _log_decision(self, request: AdmissionRequest, endpoint: str, verdict: Verdict, seconds: float) -> None:
        if verdict.allowed and not log.isEnabledFor(logging.DEBUG):
            return  # the common case: nothing is logged, so build nothing (~3 µs a request)
        fields = {
            "uid": request.uid,
            "endpoint": endpoint,
            "operation": request.operation,
            "kind": f"{request.kind.group}/{request.kind.kind}" if request.kind.group else request.kind.kind,
            "object": request.display_name,
            "user": request.user_info.username,
            "dry_run": request.dry_run,
            "verdict": _verdict_label(verdict),
            "ms": f"{seconds * 1000:.2f}",
        }
        if verdict.allowed:
            if log.isEnabledFor(logging.DEBUG):
                log.debug(kv("review.answered", fields, patch_ops=len(verdict.patch), warnings=len(verdict.warnings)))
        else:
            log.info(kv("review.answered", fields, code=verdict.code, message=verdict.message))

    async def _healthz(self, request: web.Request) -> web.StreamResponse:
        return web.Response(text="ok\n")

    async def _readyz(self, request: web.Request) -> web.StreamResponse:
        if self.shutting_down:
            return web.Response(status=503, text="shutting down\n")
        if not self.view.synced:
            return web.Response(status=503, text="cluster view not synced yet\n")
        return web.Response(text="ok\n")

    async def _version(self, request: web.Request) -> web.StreamResponse:
        return _json(self.version)

    async def _metrics(self, request: web.Request) -> web.StreamResponse:
        return web.Response(
            body=self.metrics.render().encode(),
            headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"},
        )


class _OneLineProtocolErrors(logging.Filter):
    """aiohttp logs a malformed request or a vanished client as an error with a traceback: make it one line.

    Such requests cost an attacker nothing, so each must cost the log no more than a line; a handler's own
    unexpected exception (a real 500) keeps its level and traceback.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, HttpProcessingError | ConnectionError):
            reason = error.message if isinstance(error, HttpProcessingError) else str(error)
            peer = record.args[0] if isinstance(record.args, tuple) and record.args else None
            record.msg = kv(
                "http.rejected", peer=peer, error=type(error).__name__, reason=" ".join(reason.split())[:200]
            )
            record.args = None
            record.exc_info = None
            record.exc_text = None
            if record.levelno > logging.WARNING:
                record.levelno, record.levelname = logging.WARNING, logging.getLevelName(logging.WARNING)
        return True


http_log.addFilter(_OneLineProtocolErrors())


class _TLSSite(web.TCPSite):
    """A TCP site whose listener also bounds the TLS handshake, so a silent client cannot hold a socket."""

    def __init__(self, runner: web.BaseRunner, host: str, port: int, *, context: Any, handshake_timeout: float) -> None:
        super().__init__(runner, host, port, ssl_context=context, reuse_address=True)
        self._handshake_timeout = handshake_timeout

    async def start(self) -> None:
        await web.BaseSite.start(self)
        server = self._runner.server
        assert server is not None
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            server,
            self._host,
            self._port,
            ssl=self._ssl_context,
            backlog=self._backlog,
            reuse_address=self._reuse_address,
            ssl_handshake_timeout=self._handshake_timeout,
        )
        if self._server.sockets:
            self._bound_port = self._server.sockets[0].getsockname()[1]


class RunningServer:
    """A started server: its bound port, its state, and a graceful `stop()`."""

    def __init__(self, state: AdmissionServer, runner: web.AppRunner, site: _TLSSite, reloader: CertReloader) -> None:
        self.state = state
        self.reloader = reloader
        self._runner = runner
        self._site = site
        self._stopped = False

    @property
    def port(self) -> int:
        return self._site.port

    @property
    def metrics(self) -> Metrics:
        return self.state.metrics

    async def stop(self) -> None:
        """Stop accepting, let clients retire their connections, let in-flight reviews finish, then close.

        A stopping replica must not fail a review the client already sent: the API server posts each review
        once and does not retry when the connection breaks under it. So the listener closes first (new
        connections go to another replica), then every review still arriving on an open keep-alive
        connection is answered with `Connection: close` until the clients have retired their connections or
        `drain_grace` ends; only then are idle connections closed. All of it within `shutdown_timeout`.
        The drain happens before aiohttp's own shutdown on purpose: aiohttp stops reading from connections
        it is closing, so a review whose body was still arriving would time out instead of completing.
        """
        if self._stopped:
            return
        self._stopped = True
        self.state.shutting_down = True
        port = self.port
        log.info(kv("server.stopping", port=port, in_flight=self.state.metrics.in_flight))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.state.config.shutdown_timeout
        await self.reloader.stop()
        await self._site.stop()
        open_connections = await self._retire_connections(min(deadline, loop.time() + self.state.config.drain_grace))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.state.wait_idle(), max(0.0, deadline - loop.time()))
        await self._runner.cleanup()
        log.info(kv("server.stopped", port=port, abandoned=self.state.metrics.in_flight, left_open=open_connections))

    async def _retire_connections(self, until: float) -> int:
        """Wait until no client connection is left open, or `until` (loop time); the number still open."""
        server = self._runner.server
        loop = asyncio.get_running_loop()
        # aiohttp signals no connection closing, so its list of open connections is polled.
        while server is not None and server.connections and loop.time() < until:  # noqa: ASYNC110
            await asyncio.sleep(0.02)
        return len(server.connections) if server is not None else 0


async def start_server(config: ServerConfig, view: ClusterView) -> RunningServer:
    """Start serving on `config.host:config.port` (0 picks a free port; see `RunningServer.port`)."""
    if config.registries is None:
        from admission.rules import build_registries

        registries = build_registries()
    else:
        registries = config.registries
    metrics = Metrics()

    def count_reload(ok: bool) -> None:
        if ok:
            metrics.cert_reloads += 1
        else:
            metrics.cert_reload_failures += 1

    reloader = CertReloader(
        config.cert_file,
        config.key_file,
        client_ca_file=config.client_ca_file,
        interval=config.reload_interval,
        on_reload=count_reload,
    )
    state = AdmissionServer(config, view, registries, metrics)
    runner = web.AppRunner(
        state.application(),
        access_log=None,
        logger=http_log,
        # `read_body` decodes gzip/deflate itself, bounded by the body limit (see its docstring).
        auto_decompress=False,
        handle_signals=False,
        shutdown_timeout=config.shutdown_timeout,
        keepalive_timeout=config.header_timeout,
        # After refusing a body (413/415/408) the rest of it is read and discarded, never stored, for at
        # most this long, so the client sees the answer instead of a reset; then the connection closes.
        lingering_time=config.lingering_time,
    )
    await runner.setup()
    site = _TLSSite(
        runner, config.host, config.port, context=reloader.listener_context, handshake_timeout=config.handshake_timeout
    )
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    reloader.start()
    log.info(
        kv(
            "server.started",
            host=config.host,
            port=site.port,
            cert=config.cert_file,
            client_ca=config.client_ca_file or "none",
            serial=f"{reloader.served.serial:x}",
            not_after=reloader.served.not_after,
        )
    )
    return RunningServer(state, runner, site, reloader)
