"""The HTTPS server over real TLS on loopback: endpoints, bad input, slow clients, failures, shutdown."""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from typing import Any

import aiohttp
import pytest

from admission.protocol import decode_patch
from admission.view import InMemoryClusterView
from tests.integration.conftest import ServerFactory, TLSFiles
from tests.integration.support import dumps, http_request, open_tls, read_response, review_body
from webhook.server import MAX_BODY_BYTES

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


async def post(
    port: int, tls: TLSFiles, path: str, body: Any, *, content_type: str = "application/json", method: str = "POST"
) -> tuple[int, dict[str, Any] | str]:
    data = body if isinstance(body, bytes) else dumps(body)
    async with (
        aiohttp.ClientSession() as session,
        session.request(
            method,
            f"https://127.0.0.1:{port}{path}",
            data=data,
            headers={"Content-Type": content_type},
            ssl=tls.client,
        ) as response,
    ):
        text = await response.text()
        try:
            return response.status, json.loads(text)
        except ValueError:
            return response.status, text


async def get(port: int, tls: TLSFiles, path: str) -> tuple[int, str, str]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"https://127.0.0.1:{port}{path}", ssl=tls.client) as response,
    ):
        return response.status, response.headers.get("Content-Type", ""), await response.text()


# -- endpoints -------------------------------------------------------------------------------------------


async def test_validate_answers_a_review_with_its_uid(start: ServerFactory, tls: TLSFiles) -> None:
    server = await start()
    status, body = await post(server.port, tls, "/validate", review_body({"deny": "spec.x is not allowed"}, uid="abc"))
    assert status == 200
    assert isinstance(body, dict)
    assert body["apiVersion"] == "admission.k8s.io/v1"
    assert body["kind"] == "AdmissionReview"
    assert body["response"]["uid"] == "abc"
    assert body["response"]["allowed"] is False
    assert body["response"]["status"] == {"code": 403, "reason": "Forbidden", "message": "spec.x is not allowed"}


async def test_mutate_returns_a_json_patch(start: ServerFactory, tls: TLSFiles) -> None:
    server = await start()
    status, body = await post(server.port, tls, "/mutate", review_body({"setDefault": True}))
    assert status == 200
    assert isinstance(body, dict)
    assert decode_patch(body["response"]) == [{"op": "add", "path": "/spec/defaulted", "value": True}]


async def test_admit_defaults_then_judges_the_defaulted_object_in_one_call(start: ServerFactory, tls: TLSFiles) -> None:
    server = await start()
    status, body = await post(server.port, tls, "/admit", review_body({"setDefault": True, "warnings": ["w"]}))
    assert status == 200
    assert isinstance(body, dict)
    assert body["response"]["allowed"] is True
    assert decode_patch(body["response"]) == [{"op": "add", "path": "/spec/defaulted", "value": True}]
    assert body["response"]["warnings"] == ["w"]
    status, body = await post(server.port, tls, "/admit", review_body({"setDefault": True, "deny": "no"}, uid="d"))
    assert isinstance(body, dict)
    assert body["response"]["uid"] == "d"
    assert body["response"]["allowed"] is False
    assert body["response"]["status"]["message"] == "no"
    assert "patch" not in body["response"], "a refusal carries no patch"
    assert server.metrics.requests(endpoint="/admit", verdict="denied") == 1


async def test_admit_fails_closed_when_a_guardrail_raises(start: ServerFactory, tls: TLSFiles) -> None:
    server = await start()
    status, body = await post(server.port, tls, "/admit", review_body({"explode": True}, uid="boom-3"))
    assert status == 200
    assert isinstance(body, dict)
    # The defaulter's failure is skipped (fail open) and the validator's denies (fail closed).
    assert body["response"]["allowed"] is False
    assert body["response"]["status"]["code"] == 500
    assert "without its defaults" in body["response"]["warnings"][0]


async def test_health_version_and_metrics(start: ServerFactory, tls: TLSFiles, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TENANTGATE_GIT_COMMIT", "deadbeef")
    monkeypatch.setenv("TENANTGATE_BUILD_DATE", "2025-01-01T00:00:00Z")
    server = await start()
    await post(server.port, tls, "/validate", review_body({"deny": "no"}))
    await post(server.port, tls, "/validate", b"{broken")
    assert (await get(server.port, tls, "/healthz"))[0] == 200
    status, _, text = await get(server.port, tls, "/version")
    assert status == 200
    assert json.loads(text)["gitCommit"] == "deadbeef"
    assert json.loads(text)["buildDate"] == "2025-01-01T00:00:00Z"
    status, content_type, text = await get(server.port, tls, "/metrics")
    assert status == 200
    assert content_type.startswith("text/plain")
    assert (
        'tenantgate_webhook_requests_total{endpoint="/validate",group="probe.tenantgate.test",kind="Probe",'
        'operation="CREATE",verdict="denied"} 1'
    ) in text
    assert 'verdict="bad_request"} 1' in text
    assert 'tenantgate_webhook_request_duration_seconds_count{endpoint="/validate"} 2' in text
    assert "tenantgate_webhook_requests_in_flight 0" in text


async def test_readyz_waits_for_the_cluster_view(start: ServerFactory, tls: TLSFiles) -> None:
    view = InMemoryClusterView.from_objects([], synced=False)
    server = await start(view)
    status, _, text = await get(server.port, tls, "/readyz")
    assert (status, text.strip()) == (503, "cluster view not synced yet")
    for kind in view.unsynced_kinds():
        view.replace(kind, [])
    assert (await get(server.port, tls, "/readyz"))[0] == 200


# -- bad input ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "content_type", "body", "status"),
    [
        ("GET", "application/json", b"", 405),
        ("PUT", "application/json", dumps(review_body()), 405),
        ("POST", "text/plain", dumps(review_body()), 415),
        ("POST", "application/x-www-form-urlencoded", b"a=b", 415),
        ("POST", "application/json", b"{not json", 400),
        ("POST", "application/json", dumps({**review_body(), "apiVersion": "admission.k8s.io/v1beta1"}), 400),
        ("POST", "application/json", dumps({**review_body(), "kind": "Nope"}), 400),
        (
            "POST",
            "application/json",
            dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {"operation": "CREATE"}}),
            400,
        ),
        ("POST", "application/json; charset=utf-8", dumps(review_body()), 200),
    ],
    ids=[
        "get",
        "put",
        "text_plain",
        "form",
        "malformed_json",
        "unknown_api_version",
        "wrong_kind",
        "missing_uid",
        "charset_parameter_accepted",
    ],
)
async def test_bad_input_gets_a_4xx_never_a_500(
    start: ServerFactory, tls: TLSFiles, method: str, content_type: str, body: bytes, status: int
) -> None:
    server = await start()
    got, payload = await post(server.port, tls, "/validate", body, content_type=content_type, method=method)
    assert got == status
    if status != 200:
        assert isinstance(payload, dict)
        assert payload["kind"] == "Status"
        assert payload["code"] == status
        assert payload["message"]


async def test_405_names_the_allowed_method(start: ServerFactory, tls: TLSFiles) -> None:
    server = await start()
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"https://127.0.0.1:{server.port}/mutate", ssl=tls.client) as response,
    ):
        assert response.status == 405
        assert response.headers["Allow"] == "POST"


async def test_oversized_content_length_is_refused_before_reading_the_body(start: ServerFactory, tls: TLSFiles) -> None:
    server = await start()
    reader, writer = await open_tls(server.port, tls.client)
    # Announce 100 MiB but send nothing: the answer must come from the header alone.
    writer.write(http_request("/validate", b"", content_length=100 * 1024 * 1024))
    await writer.drain()
    status, _, body = await asyncio.wait_for(read_response(reader), 5)
    assert status == 413
    assert json.loads(body)["reason"] == "RequestEntityTooLarge"
    assert await asyncio.wait_for(reader.read(), 5) == b"", "the connection is closed, the body never drained"
    writer.close()


async def test_chunked_body_over_the_limit_is_cut_off_while_streaming(start: ServerFactory, tls: TLSFiles) -> None:
    server = await start()
    reader, writer = await open_tls(server.port, tls.client)
    writer.write(
        b"POST /validate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )
    chunk = b"x" * (1024 * 1024)
    for _ in range(MAX_BODY_BYTES // len(chunk)):
        writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        await writer.drain()
    writer.write(b"1\r\nx\r\n")  # one byte over the limit; the terminating chunk is never sent
    await writer.drain()
    status, _, _ = await asyncio.wait_for(read_response(reader), 10)
    assert status == 413
    writer.close()


async def test_body_at_the_limit_is_accepted(start: ServerFactory, tls: TLSFiles) -> None:
    server = await start(max_body_bytes=64 * 1024)
    body = review_body({"padding": ""})
    size = len(dumps(body))
    body["request"]["object"]["spec"]["padding"] = "p" * (64 * 1024 - size)
    assert len(dumps(body)) == 64 * 1024
    status, _ = await post(server.port, tls, "/validate", dumps(body))
    assert status == 200
    body["request"]["object"]["spec"]["padding"] += "p"
    status, _ = await post(server.port, tls, "/validate", dumps(body))
    assert status == 413


# -- slow and stalled clients ------------------------------------------------------------------------------


async def test_half_sent_headers_time_out_while_others_are_served(start: ServerFactory, tls: TLSFiles) -> None:
    server = await start(header_timeout=1.0)
    slow_reader, slow_writer = await open_tls(server.port, tls.client)
    slow_writer.write(b"POST /validate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: appli")
    await slow_writer.drain()
    started = time.monotonic()
    for uid in ("a", "b", "c"):
        status, body = await post(server.port, tls, "/validate", review_body(uid=uid))
        assert status == 200
        assert isinstance(body, dict)
        assert body["response"]["uid"] == uid
    assert time.monotonic() - started < 1.0, "others were not blocked by the stalled client"
    closed = await asyncio.wait_for(slow_reader.read(), 5)
    assert closed == b"", "the stalled connection is closed by the server"
    assert time.monotonic() - started >= 0.5
    slow_writer.close()


async def test_body_that_stops_arriving_gets_408(start: ServerFactory, tls: TLSFiles) -> None:
    server = await start(body_timeout=0.5)
    reader, writer = await open_tls(server.port, tls.client)
    payload = dumps(review_body())
    writer.write(http_request("/validate", payload[:20], content_length=len(payload)))
    await writer.drain()
    other = asyncio.create_task(post(server.port, tls, "/validate", review_body(uid="other")))
    status, _, _ = await asyncio.wait_for(read_response(reader), 5)
    assert status == 408
    assert (await other)[0] == 200
    writer.close()


async def test_silent_tcp_client_is_dropped_after_the_handshake_timeout(start: ServerFactory, tls: TLSFiles) -> None:
    server = await start(handshake_timeout=0.5)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)  # TCP only, no ClientHello
    assert (await post(server.port, tls, "/validate", review_body()))[0] == 200
    assert await asyncio.wait_for(reader.read(), 5) == b""
    writer.close()


# -- TLS -----------------------------------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1_1 is deprecated:DeprecationWarning")
@pytest.mark.parametrize(
    ("version", "accepted"),
    [(ssl.TLSVersion.TLSv1_1, False), (ssl.TLSVersion.TLSv1_2, True), (ssl.TLSVersion.TLSv1_3, True)],
)
async def test_only_tls_1_2_and_newer(
    start: ServerFactory, tls: TLSFiles, version: ssl.TLSVersion, accepted: bool
) -> None:
    server = await start()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    tls.ca.configure_trust(context)
    context.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    context.maximum_version = version
    if version == ssl.TLSVersion.TLSv1_1:
        context.set_ciphers("DEFAULT:@SECLEVEL=0")  # lets this client really offer TLS 1.1
    if accepted:
        _, writer = await open_tls(server.port, context)
        assert writer.get_extra_info("ssl_object").version() == version.name.replace("_", ".")
        writer.close()
    else:
        with pytest.raises((ssl.SSLError, ConnectionResetError)):
            await open_tls(server.port, context)


# -- failures inside handlers -------------------------------------------------------------------------------


async def test_validator_exception_becomes_a_denial_carrying_the_uid(
    start: ServerFactory, tls: TLSFiles, caplog: pytest.LogCaptureFixture
) -> None:
    server = await start()
    status, body = await post(server.port, tls, "/validate", review_body({"explode": True}, uid="boom-1"))
    assert status == 200
    assert isinstance(body, dict)
    response = body["response"]
    assert response["uid"] == "boom-1"
    assert response["allowed"] is False
    assert response["status"]["code"] == 500
    assert any("uid=boom-1" in r.getMessage() and r.exc_info for r in caplog.records)


async def test_defaulter_exception_allows_with_a_warning(start: ServerFactory, tls: TLSFiles) -> None:
    server = await start()
    status, body = await post(server.port, tls, "/mutate", review_body({"explode": True}, uid="boom-2"))
    assert status == 200
    assert isinstance(body, dict)
    response = body["response"]
    assert response["uid"] == "boom-2"
    assert response["allowed"] is True
    assert "without its defaults" in response["warnings"][0]


async def test_unrenderable_patch_is_answered_as_a_defaulting_failure(start: ServerFactory, tls: TLSFiles) -> None:
    server = await start()
    status, body = await post(server.port, tls, "/mutate", review_body({"unrenderable": True}, uid="odd"))
    assert status == 200
    assert isinstance(body, dict)
    assert body["response"]["uid"] == "odd"
    assert body["response"]["allowed"] is True
    assert "patch" not in body["response"]
    assert body["response"]["warnings"] == ["defaulting failed inside tenantgate; no defaults were applied"]


@pytest.mark.parametrize(("endpoint", "allowed"), [("/validate", False), ("/mutate", True), ("/admit", False)])
async def test_failure_outside_the_handlers_still_answers_with_the_uid(
    start: ServerFactory, tls: TLSFiles, monkeypatch: pytest.MonkeyPatch, endpoint: str, allowed: bool
) -> None:
    from admission import dispatch

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("dispatch bug")

    monkeypatch.setattr(dispatch, "validate", broken)
    monkeypatch.setattr(dispatch, "mutate", broken)
    monkeypatch.setattr(dispatch, "admit", broken)
    server = await start()
    status, body = await post(server.port, tls, endpoint, review_body(uid="bug-1"))
    assert status == 200
    assert isinstance(body, dict)
    assert body["response"]["uid"] == "bug-1"
    assert body["response"]["allowed"] is allowed
    assert server.metrics.requests(endpoint=endpoint, verdict="error" if not allowed else "allowed") == 1


# -- graceful shutdown --------------------------------------------------------------------------------------


async def test_stop_finishes_in_flight_reviews_and_refuses_new_connections(start: ServerFactory, tls: TLSFiles) -> None:
    server = await start()
    port = server.port
    reader, writer = await open_tls(port, tls.client)
    payload = dumps(review_body(uid="in-flight"))
    writer.write(http_request("/validate", payload[:30], content_length=len(payload)))
    await writer.drain()
    await asyncio.sleep(0.1)
    assert server.metrics.in_flight == 1
    stopping = asyncio.create_task(server.stop())
    await asyncio.sleep(0.2)
    assert not stopping.done(), "stop waits for the in-flight review"
    with pytest.raises(ConnectionRefusedError):
        await open_tls(port, tls.client)
    writer.write(payload[30:])
    await writer.drain()
    status, _, body = await asyncio.wait_for(read_response(reader), 5)
    assert status == 200
    assert json.loads(body)["response"]["uid"] == "in-flight"
    await asyncio.wait_for(stopping, 5)
    writer.close()


async def test_readyz_fails_once_shutdown_begins(start: ServerFactory, tls: TLSFiles) -> None:
    server = await start()
    server.state.shutting_down = True
    status, _, text = await get(server.port, tls, "/readyz")
    assert (status, text.strip()) == (503, "shutting down")
