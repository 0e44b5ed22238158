"""Shared helpers for the integration tests: TLS material, a probe kind, AdmissionReview bodies, raw sockets.

The probe kind (`probe.tenantgate.test/v1 Probe`) exercises the protocol and the server plumbing with
behaviour chosen per request (`spec.deny`, `spec.explode`, `spec.warnings`, `spec.setDefault`), so those
tests do not depend on how tenancy policy evolves.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from pathlib import Path
from typing import Any

import trustme

from admission.context import RequestContext
from admission.patch import PatchRecorder
from admission.protocol import AdmissionRequest
from admission.registry import Registries
from admission.rules import build_registries
from admission.verdict import Verdict, allowed, denied, patched
from certs.files import write_atomic

PROBE_GROUP = "probe.tenantgate.test"
PROBE_KIND = "Probe"


def write_leaf(ca: trustme.CA, cert_dir: Path, hosts: tuple[str, ...] = ("127.0.0.1", "localhost")) -> bytes:
    """Issue a serving certificate and replace `tls.key` then `tls.crt` atomically; returns the cert PEM."""
    leaf = ca.issue_cert(*hosts)
    cert_pem = leaf.cert_chain_pems[0].bytes()
    write_atomic(cert_dir / "tls.key", leaf.private_key_pem.bytes(), mode=0o600)
    write_atomic(cert_dir / "tls.crt", cert_pem)
    return cert_pem


def client_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


def _probe_spec(request: AdmissionRequest) -> dict[str, Any]:
    spec = request.subject.get("spec")
    return spec if isinstance(spec, dict) else {}


def probe_validate(request: AdmissionRequest, ctx: RequestContext) -> Verdict:
    spec = _probe_spec(request)
    if spec.get("explode"):
        raise RuntimeError("probe validator exploded on purpose")
    verdict = denied(str(spec["deny"])) if spec.get("deny") else allowed()
    return verdict.with_warnings(*[str(w) for w in spec.get("warnings") or []])


def probe_default(request: AdmissionRequest, ctx: RequestContext) -> Verdict:
    spec = _probe_spec(request)
    if spec.get("explode"):
        raise RuntimeError("probe defaulter exploded on purpose")
    assert request.object is not None
    recorder = PatchRecorder(request.object)
    if spec.get("setDefault"):
        recorder.set_default(("spec", "defaulted"), True)
    if spec.get("unrenderable"):
        return patched([{"op": "add", "path": "/spec/when", "value": {"a set", "JSON cannot carry"}}])
    return patched(recorder.operations())


def probe_registries() -> Registries:
    registries = build_registries()
    registries.validating.add(PROBE_GROUP, PROBE_KIND, ("CREATE", "UPDATE", "DELETE"), probe_validate)
    registries.mutating.add(PROBE_GROUP, PROBE_KIND, ("CREATE", "UPDATE"), probe_default)
    return registries


def review_body(
    spec: dict[str, Any] | None = None, *, uid: str = "uid-1", operation: str = "CREATE", **request: Any
) -> dict[str, Any]:
    obj = {
        "apiVersion": f"{PROBE_GROUP}/v1",
        "kind": PROBE_KIND,
        "metadata": {"name": "probe", "namespace": "ns"},
        "spec": spec or {},
    }
    body: dict[str, Any] = {
        "uid": uid,
        "kind": {"group": PROBE_GROUP, "version": "v1", "kind": PROBE_KIND},
        "resource": {"group": PROBE_GROUP, "version": "v1", "resource": "probes"},
        "name": "probe",
        "namespace": "ns",
        "operation": operation,
        "userInfo": {"username": "alice"},
        "object": None if operation == "DELETE" else obj,
        "oldObject": obj if operation in ("UPDATE", "DELETE") else None,
    }
    body.update(request)
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": body}


def http_request(
    path: str,
    body: bytes,
    *,
    content_type: str = "application/json",
    extra_headers: str = "",
    content_length: int | None = None,
) -> bytes:
    length = len(body) if content_length is None else content_length
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {length}\r\n{extra_headers}\r\n"
    )
    return head.encode() + body


async def open_tls(port: int, context: ssl.SSLContext) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port, ssl=context, server_hostname="127.0.0.1")


async def read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 response with a Content-Length body."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            key, value = line.split(":", 1)
            headers[key.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return status, headers, body


def dumps(value: Any) -> bytes:
    return json.dumps(value).encode()
