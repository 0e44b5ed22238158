"""Hostile input over real TLS: deep nesting, broken compression, malformed objects, unknown kinds, bad HTTP.

Whatever a client sends, the answer is a 4xx with a reason or a well-formed AdmissionReview, never a 500; and
what a client sends costs the server no lasting memory and the log no more than a line.
"""

from __future__ import annotations

import asyncio
import gc
import gzip
import json
import logging
import re
import tracemalloc
import zlib
from typing import Any

import aiohttp
import pytest

from admission.protocol import MAX_OBJECT_DEPTH
from admission.resources import BUILTIN_RESOURCES, CUSTOM_RESOURCES
from tests.integration.conftest import ServerFactory, TLSFiles
from tests.integration.support import dumps, http_request, open_tls, review_body
from tests.unit.test_guardrails_support import world

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


async def post(
    port: int, tls: TLSFiles, path: str, body: bytes, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession(auto_decompress=False) as session,
        session.post(
            f"https://127.0.0.1:{port}{path}",
            data=body,
            headers={"Content-Type": "application/json", **(headers or {})},
            ssl=tls.client,
        ) as response,
    ):
        return response.status, json.loads(await response.read())


def nested(levels: int) -> Any:
    """A value of exactly `levels` levels of objects and arrays (alternating), built without recursion."""
    value: Any = "leaf"
    for level in range(levels):
        value = {"a": value} if level % 2 else [value]
    return value


def raw_nested_body(levels: int) -> bytes:
    """A review whose object nests `levels` deep, written directly (json.dumps cannot write it)."""
    head = b'{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"deep","operation":"CREATE",'
    head += b'"kind":{"version":"v1","kind":"Probe"},"resource":{"version":"v1","resource":"probes"},"object":'
    return head + b'{"a":' * levels + b"1" + b"}" * levels + b"}}"


def assert_rejected(status: int, payload: Any, code: int, *reason: str) -> None:
    assert status == code, payload
    assert payload["kind"] == "Status"
    assert payload["code"] == code
    for text in reason:
        assert text in payload["message"]


# -- nesting depth -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("levels", [MAX_OBJECT_DEPTH + 1, 200, 985, 5000, 200_000])
async def test_too_deep_object_is_a_400_with_the_limit(start: ServerFactory, tls: TLSFiles, levels: int) -> None:
    server = await start()
    status, payload = await post(server.port, tls, "/validate", raw_nested_body(levels))
    assert_rejected(status, payload, 400, f"deeper than {MAX_OBJECT_DEPTH} levels")
    assert (await post(server.port, tls, "/validate", dumps(review_body(uid="after"))))[0] == 200


def every_judged_kind() -> list[tuple[str, str, str, str]]:
    """(apiVersion, group, kind, plural) of every kind tenantgate routes."""
    return [
        (f"{r.group}/{r.version}" if r.group else r.version, r.group, r.kind, r.plural)
        for r in (*BUILTIN_RESOURCES, *CUSTOM_RESOURCES)
    ]


def deep_review(api_version: str, group: str, kind: str, plural: str, uid: str) -> dict[str, Any]:
    """A tenant's object of `kind` whose `spec.values` makes the whole object exactly `MAX_OBJECT_DEPTH` deep."""
    obj = {
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {"name": "deep", "namespace": "kubeop-acme-web", "labels": {"app": "deep"}},
        "spec": {"values": nested(MAX_OBJECT_DEPTH - 2)},  # the object and its spec are two levels
    }
    version = api_version.rpartition("/")[2]
    request = {
        "uid": uid,
        "kind": {"group": group, "version": version, "kind": kind},
        "resource": {"group": group, "version": version, "resource": plural},
        "name": "deep",
        "namespace": "kubeop-acme-web",
        "operation": "CREATE",
        "userInfo": {"username": "alice"},
        "object": obj,
    }
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request}


async def test_objects_at_the_depth_limit_are_reviewed_by_every_rule(start: ServerFactory, tls: TLSFiles) -> None:
    """Every judged kind, as deep as allowed: reviewed (allowed or denied by policy), never an internal error."""
    server = await start(world())
    for api_version, group, kind, plural in every_judged_kind():
        for endpoint in ("/mutate", "/validate", "/admit"):
            uid = f"{kind}-{endpoint}"
            status, payload = await post(
                server.port, tls, endpoint, dumps(deep_review(api_version, group, kind, plural, uid))
            )
            assert status == 200, (kind, endpoint, payload)
            response = payload["response"]
            assert response["uid"] == uid
            assert response.get("status", {}).get("code", 200) < 500, (kind, endpoint, response)
            assert not any("failed" in warning for warning in response.get("warnings", [])), (kind, response)
    probe = review_body({"values": nested(MAX_OBJECT_DEPTH - 2)}, uid="probe")
    status, payload = await post(server.port, tls, "/mutate", dumps(probe))
    assert (status, payload["response"]["allowed"]) == (200, True)


# -- compressed bodies ---------------------------------------------------------------------------------------


async def test_gzip_and_deflate_bodies_are_reviewed(start: ServerFactory, tls: TLSFiles) -> None:
    server = await start()
    body = dumps(review_body(uid="z"))
    for encoding, data in (("gzip", gzip.compress(body)), ("deflate", zlib.compress(body)), ("identity", body)):
        status, payload = await post(server.port, tls, "/validate", data, {"Content-Encoding": encoding})
        assert (status, payload["response"]["uid"]) == (200, "z"), encoding


@pytest.mark.parametrize(
    ("encoding", "data", "code", "reason"),
    [
        ("gzip", b"this is not gzip at all", 400, "does not decompress as gzip"),
        ("deflate", b"\x00\x01\x02 not deflate", 400, "does not decompress as deflate"),
        ("gzip", gzip.compress(dumps(review_body()))[:-12], 400, "truncated"),
        ("gzip", gzip.compress(dumps(review_body())) + b"trailing", 400, "after its compressed stream"),
        ("br", b"{}", 415, "Content-Encoding 'br' is not supported"),
        ("gzip, gzip", b"{}", 415, "not supported"),
    ],
    ids=["not_gzip", "not_deflate", "truncated", "trailing_bytes", "brotli", "stacked"],
)
async def test_body_that_does_not_decode_is_a_4xx_with_the_reason(
    start: ServerFactory, tls: TLSFiles, encoding: str, data: bytes, code: int, reason: str
) -> None:
    server = await start()
    status, payload = await post(server.port, tls, "/validate", data, {"Content-Encoding": encoding})
    assert_rejected(status, payload, code, reason)


async def test_gzip_bomb_stops_expanding_at_the_body_limit(start: ServerFactory, tls: TLSFiles) -> None:
    limit = 256 * 1024
    server = await start(max_body_bytes=limit)
    bomb = gzip.compress(b" " * (64 * 1024 * 1024), compresslevel=9)  # 64 MiB of spaces in ~64 KiB
    assert len(bomb) < limit
    tracemalloc.start()
    try:
        status, payload = await post(server.port, tls, "/validate", bomb, {"Content-Encoding": "gzip"})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert_rejected(status, payload, 413, f"{limit} byte limit")
    assert peak < 8 * limit, f"decompressing allocated {peak} bytes"
    exact = gzip.compress(dumps(review_body({"padding": "p" * (limit - 600)})))
    assert (await post(server.port, tls, "/validate", exact, {"Content-Encoding": "gzip"}))[0] == 200


# -- malformed objects ---------------------------------------------------------------------------------------


def with_object(**changes: Any) -> dict[str, Any]:
    body = review_body()
    body["request"]["object"].update(changes)
    return body


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (
            {**review_body(name=""), "request": {**review_body(name="")["request"], "object": {"metadata": "x"}}},
            "metadata must be an object, not a string",
        ),
        (with_object(metadata=["a"]), "request.object.metadata must be an object, not an array"),
        (with_object(metadata={"name": 7}), "request.object.metadata.name must be a string, not a number"),
        (with_object(metadata={"labels": ["a"]}), "metadata.labels must be a map of strings, not an array"),
        (with_object(metadata={"labels": {"a": ["x"]}}), 'metadata.labels["a"] must be a string, not an array'),
        (with_object(metadata={"annotations": {"a": 1}}), 'metadata.annotations["a"] must be a string, not a number'),
        (with_object(kind=["Probe"]), "request.object.kind must be a string"),
    ],
    ids=[
        "generated_name_metadata_string",
        "metadata_list",
        "name_number",
        "labels_list",
        "label_list",
        "annotation_number",
        "kind_list",
    ],
)
async def test_malformed_object_is_a_400_naming_the_field(
    start: ServerFactory, tls: TLSFiles, body: dict[str, Any], reason: str
) -> None:
    server = await start()
    for endpoint in ("/mutate", "/validate"):
        status, payload = await post(server.port, tls, endpoint, dumps(body))
        assert_rejected(status, payload, 400, reason)


async def test_wrong_typed_spec_field_is_a_422_denial_naming_the_field(start: ServerFactory, tls: TLSFiles) -> None:
    server = await start(world())
    ingress = deep_review("networking.k8s.io/v1", "networking.k8s.io", "Ingress", "ingresses", "bad-rules")
    ingress["request"]["object"]["spec"] = {"rules": 7}
    status, payload = await post(server.port, tls, "/validate", dumps(ingress))
    assert status == 200
    response = payload["response"]
    assert response["uid"] == "bad-rules"
    assert response["allowed"] is False
    assert response["status"]["code"] == 422
    assert response["status"]["reason"] == "Invalid"
    assert "spec.rules must be an array, not a number" in response["status"]["message"]


# -- unknown kinds -------------------------------------------------------------------------------------------


async def test_unknown_kinds_add_neither_memory_nor_metric_series(start: ServerFactory, tls: TLSFiles) -> None:
    server = await start()

    async def flood(start_at: int, count: int) -> None:
        async with aiohttp.ClientSession() as session:
            for number in range(start_at, start_at + count):
                body = review_body(uid=f"k{number}")
                body["request"]["kind"]["kind"] = f"{number:08d}" + "K" * 64_000
                async with session.post(
                    f"https://127.0.0.1:{server.port}/validate",
                    data=dumps(body),
                    headers={"Content-Type": "application/json"},
                    ssl=tls.client,
                ) as response:
                    assert response.status == 200
                    await response.read()

    async def metrics() -> str:
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"https://127.0.0.1:{server.port}/metrics", ssl=tls.client) as response,
        ):
            return await response.text()

    await flood(0, 20)  # warm up: connection pools, caches of the known kinds
    series_before = len((await metrics()).splitlines())
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        await flood(20, 400)  # 400 kinds of 64,000 characters: 25 MB if each stayed
        gc.collect()
        grown = sum(stat.size_diff for stat in tracemalloc.take_snapshot().compare_to(before, "filename"))
    finally:
        tracemalloc.stop()
    text = await metrics()
    assert grown < 2 * 1024 * 1024, f"memory grew by {grown} bytes"
    assert len(text.splitlines()) == series_before
    assert len(text) < 16 * 1024
    assert 'kind="other"' in text
    assert server.metrics.requests(kind="other") == 420


# -- what reaches the log -----------------------------------------------------------------------------------


async def send_raw(port: int, tls: TLSFiles, data: bytes, *, hang_up: bool = False) -> bytes:
    reader, writer = await open_tls(port, tls.client)
    writer.write(data)
    await writer.drain()
    if hang_up:
        await asyncio.sleep(0.2)  # let the server start reading the body, then vanish
        writer.transport.abort()
        return b""
    try:
        return await asyncio.wait_for(reader.read(), 5)
    finally:
        writer.close()


MALFORMED_HTTP = [
    b"NOT-A-METHOD\x01 /validate HTTP/1.1\r\nHost: x\r\n\r\n",
    b"POST /validate HTTP/1.1\r\nHost: x\r\nBad Header Name: 1\r\nContent-Length: 2\r\n\r\n{}",
    b"POST /validate HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n{}",
    b"POST /validate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"POST /validate HTTP/1.1\r\nHost: x\r\nX-Long: " + b"a" * 70_000 + b"\r\n\r\n",
    b"GET /healthz HTTP/9.9\r\n\r\n",
]


async def test_malformed_http_and_hang_ups_log_one_warning_line_each(
    start: ServerFactory, tls: TLSFiles, caplog: pytest.LogCaptureFixture
) -> None:
    server = await start()
    caplog.set_level(logging.DEBUG)
    for data in MALFORMED_HTTP:
        answer = await send_raw(server.port, tls, data)
        assert re.match(rb"HTTP/1\.[01] 4\d\d ", answer), (data[:60], answer[:200])
    payload = dumps(review_body())
    await send_raw(server.port, tls, http_request("/validate", payload[:30], content_length=len(payload)), hang_up=True)
    await asyncio.sleep(0.3)
    assert (await post(server.port, tls, "/validate", payload))[0] == 200
    serious = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert serious == [], [r.getMessage() for r in serious]
    rejected = [r for r in caplog.records if r.getMessage().startswith("http.rejected")]
    abandoned = [r for r in caplog.records if r.getMessage().startswith("review.abandoned")]
    assert len(rejected) == len(MALFORMED_HTTP)
    assert len(abandoned) == 1
    for record in [*rejected, *abandoned]:
        line = record.getMessage()
        assert "\n" not in line, line
        assert len(line) < 400, line
        assert record.levelno <= logging.WARNING
    assert {r.levelno for r in rejected[1:]} | {abandoned[0].levelno} == {logging.WARNING}
