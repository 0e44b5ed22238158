"""Every case in tests/fixtures/admission/ through the real HTTPS server, compared with its expected.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp
import jsonpatch
import pytest
import yaml

from admission.protocol import decode_patch
from admission.view import InMemoryClusterView
from tests.integration.conftest import ServerFactory, TLSFiles

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "admission"
# `guardrail-*` cases use another expected.json shape and are run by tests/unit/test_guardrails_fixtures.py.
CASES = sorted(p.name for p in FIXTURES.iterdir() if p.is_dir() and not p.name.startswith("guardrail-"))


def cluster_view() -> InMemoryClusterView:
    return InMemoryClusterView.from_objects(list(yaml.safe_load_all((FIXTURES / "cluster.yaml").read_text())))


def assert_subset(expected: Any, actual: Any, where: str = "body") -> None:
    """Every key of `expected` is in `actual` with an equal value (recursively for objects)."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{where}: expected an object, got {actual!r}"
        for key, value in expected.items():
            assert key in actual, f"{where}.{key} is missing from {actual!r}"
            assert_subset(value, actual[key], f"{where}.{key}")
    else:
        assert actual == expected, f"{where}: expected {expected!r}, got {actual!r}"


async def send(
    port: int,
    tls: TLSFiles,
    endpoint: str,
    body: bytes,
    *,
    method: str = "POST",
    content_type: str = "application/json",
) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.request(
            method,
            f"https://127.0.0.1:{port}{endpoint}",
            data=body,
            headers={"Content-Type": content_type},
            ssl=tls.client,
        ) as response,
    ):
        return response.status, json.loads(await response.text())


def test_fixture_directory_holds_the_required_cases() -> None:
    for prefix in (
        "protocol-",
        "app-mutate-patch",
        "app-mutate-allow",
        "project-validate-allow",
        "project-validate-deny",
        "shop-mutate-patch",
        "tenant-mutate-patch",
    ):
        assert any(name.startswith(prefix) for name in CASES), prefix
    for name in CASES:
        assert {"request.json", "expected.json"} <= {p.name for p in (FIXTURES / name).iterdir()}, name


@pytest.mark.parametrize("case", CASES)
async def test_admission_fixture(case: str, start: ServerFactory, tls: TLSFiles) -> None:
    directory = FIXTURES / case
    raw_request = (directory / "request.json").read_bytes()
    expected = json.loads((directory / "expected.json").read_text())
    server = await start(cluster_view())
    status, body = await send(
        server.port,
        tls,
        expected["endpoint"],
        raw_request,
        method=expected.get("method", "POST"),
        content_type=expected.get("contentType", "application/json"),
    )
    assert status == expected["status"], body
    if expected.get("exact"):
        assert body == expected["body"]
    else:
        assert_subset(expected["body"], body)
    if "messageContains" in expected:
        message = body.get("message") or body.get("response", {}).get("status", {}).get("message", "")
        assert expected["messageContains"] in message
    if status != 200:
        return
    request = json.loads(raw_request)["request"]
    response = body["response"]
    assert response["uid"] == request["uid"], "the uid is always echoed"
    if "patch" not in expected:
        return
    assert decode_patch(response) == expected["patch"]
    if not expected["patch"]:
        assert "patch" not in response
        assert "patchType" not in response
        return
    assert response["patchType"] == "JSONPatch"
    # Reinvocation (reinvocationPolicy: IfNeeded): the mutated object must not be patched again.
    mutated = jsonpatch.apply_patch(request["object"], expected["patch"])
    again = json.loads(raw_request)
    again["request"]["object"] = mutated
    status, second = await send(server.port, tls, expected["endpoint"], json.dumps(again).encode())
    assert status == 200
    assert "patch" not in second["response"], decode_patch(second["response"])
