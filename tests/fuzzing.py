"""Hostile requests for the webhook, generated: shared by the fuzz tests and `bench/fuzz.py`.

Three families, each drawn by hypothesis strategies:
- reviews: AdmissionReview-shaped JSON for every judged kind (and unknown ones), from owners, strangers and
  tenantgate itself, whose objects carry hostile values where the rules read (wrong types, control characters,
  huge strings, deep nesting around the limit);
- byte mutations of a valid review: bytes flipped, cut, repeated or inserted;
- HTTP mutations sent as raw bytes over TLS: odd methods and paths, wrong content types, broken or unsupported
  encodings, lying or duplicated lengths, broken chunking, huge headers.

`check_answer` states what every answer must be: never a 5xx; a 200 is a well-formed AdmissionReview echoing the
request's uid whose denial (if any) is not an internal error and whose warnings are clean; any other answer is a
4xx that says why.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gzip
import http.client
import json
import socket
import ssl
import threading
import unicodedata
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import trustme
from hypothesis import strategies as st

from admission.protocol import MAX_OBJECT_DEPTH
from admission.resources import BUILTIN_RESOURCES, CUSTOM_RESOURCES
from admission.verdict import MAX_WARNING_CHARS
from tests.integration.support import PROBE_GROUP, PROBE_KIND, client_context, probe_registries, write_leaf
from tests.unit.test_guardrails_support import world
from webhook.server import RunningServer, ServerConfig, start_server

TENANT_NAMESPACE: Final = "kubeop-acme-web"
KINDS: Final = [(r.group, r.version, r.kind, r.plural) for r in (*BUILTIN_RESOURCES, *CUSTOM_RESOURCES)] + [
    (PROBE_GROUP, "v1", PROBE_KIND, "probes")
]
USERS: Final = [
    ("alice", []),  # owner of acme
    ("bob", []),  # owner of globex
    ("mallory", ["developers"]),
    ("root", ["system:masters"]),
    ("system:serviceaccount:tenantgate-system:tenantgate", ["system:serviceaccounts"]),
    ("system:serviceaccount:kubeop-acme-web:app", ["system:serviceaccounts"]),
]
FIELDS: Final = [
    "containers", "initContainers", "ephemeralContainers", "image", "volumes", "hostPath", "securityContext",
    "privileged", "capabilities", "add", "runAsNonRoot", "hostNetwork", "hostPID", "rules", "tls", "hosts",
    "host", "tenantRef", "projectName", "hooks", "pre", "post", "egress", "ingress", "to", "ipBlock", "cidr",
    "quota", "hard", "owners", "allowedRegistries", "exact", "template", "jobTemplate", "spec", "metadata",
    "labels", "annotations", "name", "namespace", "kind", "replicas", "os", "domains", "values", "source",
    "ports", "hostPort", "sysctls", "seccompProfile", "drop", "externalIPs", "type", "except", "passwordRef",
    "botTokenRef", "secretName", "version",
]  # fmt: skip
READ_FIRST: Final = [
    "rules", "tls", "volumes", "hooks", "containers", "egress", "hard", "quota", "owners", "image", "ports",
    "externalIPs", "initContainers",
]  # fmt: skip
"""Fields rules iterate over: drawn more often, since a wrong type there is what rules must survive."""
HOSTILE_TEXT: Final = [
    "", " ", "\x00", "\x1b[31m", "\u202e", "\ud800", "line\nbreak", "a" * 300, "*", "../..", "0.0.0.0/0",
    "ghcr.io/acme/app:1.0", "docker.io/evil/x:latest", "evil.example", "shop.acme.example", TENANT_NAMESPACE,
    "acme", "kube-system", "tenantgate.io/tenant", "paas.kubeop.io/tenant", "restricted", "privileged",
]  # fmt: skip

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=24),
    st.sampled_from(HOSTILE_TEXT),
)
keys = st.one_of(st.sampled_from(FIELDS), st.text(max_size=8))
json_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=4), max_leaves=12
)
label_maps = st.dictionaries(st.one_of(st.sampled_from(HOSTILE_TEXT[-4:]), st.text(max_size=12)), st.text(max_size=12))


def nested(levels: int) -> Any:
    value: Any = "leaf"
    for level in range(levels):
        value = {"a": value} if level % 2 else [value]
    return value


def rarely(draw: st.DrawFn, one_in: int) -> bool:
    """True about once in `one_in` draws (hypothesis favours the ends of a range, so the middle is the rare one)."""
    return bool(draw(st.integers(0, one_in - 1)) == one_in // 2)


@st.composite
def metadata(draw: st.DrawFn, namespace: str) -> Any:
    if rarely(draw, 20):
        return draw(json_values)  # anything at all, mostly not an object
    result: dict[str, Any] = {"name": draw(st.sampled_from(["web", "", "x" * 300]) | st.text(max_size=10))}
    if namespace:
        result["namespace"] = namespace
    for name in ("labels", "annotations"):
        if rarely(draw, 10):
            result[name] = draw(json_values)  # mostly not a map of strings
        elif draw(st.booleans()):
            result[name] = draw(label_maps)
    if rarely(draw, 5):
        result[draw(st.sampled_from(["finalizers", "ownerReferences", "generateName"]))] = draw(json_values)
    return result


@st.composite
def pod_specs(draw: st.DrawFn) -> Any:
    container: dict[str, Any] = {"name": "app", "image": draw(st.sampled_from(HOSTILE_TEXT[11:13]) | scalars)}
    container_fields = st.sampled_from([*FIELDS[:12], "ports", "hostPort", "seccompProfile", "drop"])
    for name in draw(st.lists(container_fields, max_size=3)):
        container[name] = draw(json_values)
    # A container may itself be of the wrong type (a string, a number), and so may its list.
    item = draw(st.just(container) | scalars)
    spec: dict[str, Any] = {"containers": draw(st.just([item]) | json_values)}
    for name in draw(st.lists(st.sampled_from(FIELDS), max_size=3)):
        spec[name] = draw(json_values)
    return spec


@st.composite
def specs(draw: st.DrawFn, kind: str) -> Any:
    if rarely(draw, 10):
        return draw(json_values)
    if rarely(draw, 10):
        return {"values": nested(draw(st.integers(MAX_OBJECT_DEPTH - 4, MAX_OBJECT_DEPTH + 2)))}
    names = st.sampled_from(READ_FIRST) | st.sampled_from(FIELDS)
    spec = {name: draw(json_values) for name in draw(st.lists(names, max_size=5))}
    if kind == "Pod":
        spec.update(draw(pod_specs()))
    elif kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "ReplicationController"):
        labels = draw(json_values) if rarely(draw, 5) else {"app": "x"}  # a list as a label value, say
        template = {"metadata": {"labels": labels}, "spec": draw(pod_specs())}
        if kind == "CronJob":
            spec["jobTemplate"] = {"spec": {"template": template}}
        else:
            spec["template"] = template
    return spec


@st.composite
def reviews(draw: st.DrawFn) -> dict[str, Any]:
    """An AdmissionReview (usually well-formed around a hostile object) as a JSON-ready dict."""
    group, version, kind, plural = draw(st.sampled_from(KINDS))
    if rarely(draw, 20):
        kind = draw(st.text(max_size=40) | st.sampled_from(["K" * 5000, "Pod\x00", ""]))
    namespace = draw(st.sampled_from([TENANT_NAMESPACE, "kubeop-globex-shop", TENANT_NAMESPACE, "default", "", "x"]))
    operation = draw(st.sampled_from(["CREATE", "CREATE", "CREATE", "UPDATE", "UPDATE", "DELETE", "CONNECT", "PATCH"]))
    username, groups = draw(st.sampled_from(USERS))
    obj: Any = {
        "apiVersion": f"{group}/{version}" if group else version,
        "kind": kind,
        "metadata": draw(metadata(namespace)),
        "spec": draw(specs(kind)),
    }
    if rarely(draw, 10):
        obj[draw(keys)] = draw(json_values)
    request: dict[str, Any] = {
        "uid": draw(st.uuids().map(str) | st.text(min_size=1, max_size=40)),
        "kind": {"group": group, "version": version, "kind": kind},
        "resource": {"group": group, "version": version, "resource": plural},
        "name": draw(st.sampled_from(["web", ""])),
        "namespace": namespace,
        "operation": operation,
        "userInfo": {"username": username, "groups": groups},
        "object": None if operation == "DELETE" else obj,
        "oldObject": obj if operation in ("UPDATE", "DELETE") else None,
        "dryRun": draw(st.booleans()),
    }
    if rarely(draw, 10):
        request[draw(st.sampled_from(sorted(request)))] = draw(json_values)
    review: dict[str, Any] = {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request}
    if rarely(draw, 30):
        review[draw(st.sampled_from(["apiVersion", "kind", "request"]))] = draw(json_values)
    return review


def encode(review: dict[str, Any]) -> bytes:
    return json.dumps(review).encode()


FIXTURES: Final = Path(__file__).resolve().parent / "fixtures" / "admission"
RECORDED: Final = [
    body
    for body in (path.read_bytes() for path in sorted(FIXTURES.glob("*/request.json")))
    if b'"explode"' not in body and b'"unrenderable"' not in body  # the probe's deliberate internal failures
]
"""The recorded reviews of tests/fixtures/admission/: realistic bodies to mutate (cheaper to draw than new ones)."""


@st.composite
def mutated_bytes(draw: st.DrawFn) -> bytes:
    """A recorded review's bytes, then 1 to 4 random edits."""
    data = bytearray(draw(st.sampled_from(RECORDED)))
    for _ in range(draw(st.integers(1, 4))):
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        edit = draw(st.sampled_from(["flip", "cut", "insert", "repeat", "truncate", "nest"]))
        if edit == "flip":
            data[at] = draw(st.integers(0, 255))
        elif edit == "cut":
            del data[at : at + draw(st.integers(1, 16))]
        elif edit == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8) | st.sampled_from([b"{", b"[", b'"', b"\\", b"\xff"]))
        elif edit == "nest":  # open arrays or objects where a value starts, 1 to 3000 levels deep
            colon = data.find(b":", at)
            at = colon + 1 if colon >= 0 else at
            data[at:at] = draw(st.sampled_from([b"[", b'{"a":'])) * draw(st.integers(1, 3000))
        elif edit == "repeat":
            data[at:at] = data[at : at + draw(st.integers(1, 64))] * draw(st.integers(1, 50))
        else:
            del data[at:]
    return bytes(data)


@dataclass(frozen=True)
class RawRequest:
    """Bytes to send on a fresh TLS connection; `uid` is the review's when the request is a valid one."""

    data: bytes
    uid: str | None = None


@st.composite
def http_requests(draw: st.DrawFn) -> RawRequest:
    """A recorded review sent with its HTTP mutated, written out byte for byte."""
    body = original = draw(st.sampled_from(RECORDED))
    method = draw(st.sampled_from(["POST", "POST", "POST", "GET", "PUT", "OPTIONS", "post", "P\x00ST"]))
    path = draw(
        st.sampled_from(["/validate", "/mutate", "/validate?x=1", "//validate", "/nope", "/validate/../mutate"])
    )
    content_type = draw(
        st.sampled_from(
            ["application/json", "application/json; charset=utf-8", "text/plain", "", "application/json\x00", "a" * 300]
        )
    )
    headers: list[tuple[str, str]] = [("Host", "127.0.0.1")]
    if content_type:
        headers.append(("Content-Type", content_type))
    encoding = draw(st.sampled_from(["", "", "gzip", "deflate", "gzip-broken", "br", "identity", "gzip, gzip"]))
    if encoding == "gzip":
        body = gzip.compress(body)
    elif encoding == "deflate":
        body = zlib.compress(body)
    elif encoding == "gzip-broken":
        body = gzip.compress(body)[: draw(st.integers(0, 30))] + draw(st.binary(max_size=8))
        encoding = "gzip"
    if encoding:
        headers.append(("Content-Encoding", encoding))
    framing = draw(st.sampled_from(["length", "length", "short", "long", "twice", "chunked", "bad-chunked", "none"]))
    if framing == "length":
        headers.append(("Content-Length", str(len(body))))
    elif framing == "short":
        headers.append(("Content-Length", str(max(len(body) - draw(st.integers(1, 50)), 0))))
    elif framing == "long":
        headers.append(("Content-Length", str(len(body) + draw(st.integers(1, 5)))))
    elif framing == "twice":
        headers.extend([("Content-Length", str(len(body))), ("Content-Length", str(len(body) + 1))])
    elif framing in ("chunked", "bad-chunked"):
        headers.append(("Transfer-Encoding", "chunked"))
        size = (
            b"%x" % len(body) if framing == "chunked" else draw(st.sampled_from([b"zz", b"-1", b"ffffffffffffffffff"]))
        )
        body = size + b"\r\n" + body + b"\r\n0\r\n\r\n"
    for _ in range(draw(st.integers(0, 2))):
        name = draw(st.sampled_from(["X-Huge", "Cookie", "Bad Name", "X-Ctl"]))
        value = draw(st.sampled_from(["a" * 9000, "b" * 70_000, "c\x01", "ok"]))
        headers.append((name, value))
    head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n"
    clean = (
        method == "POST"
        and path in ("/validate", "/mutate", "/validate?x=1")
        and content_type.startswith("application/json")
        and content_type.isprintable()
        and len(content_type) < 300
        and framing in ("length", "chunked")
        and encoding in ("", "gzip", "deflate", "identity")
        and all(v == "ok" or (n == "X-Huge" and len(v) < 8000) for n, v in headers[2:] if n.startswith("X-"))
    )
    return RawRequest(head.encode("utf-8", "surrogateescape") + body, request_uid(original) if clean else None)


# -- what an answer must be ----------------------------------------------------------------------------------


def request_uid(body: bytes) -> str | None:
    """The uid the server must echo, as a JSON parser reads the body (None when it cannot)."""
    try:
        review = json.loads(body)
    except (ValueError, RecursionError):
        return None
    request = review.get("request") if isinstance(review, dict) else None
    uid = request.get("uid") if isinstance(request, dict) else None
    return uid if isinstance(uid, str) else None


def check_answer(status: int, content_type: str, body: bytes, uid: str | None) -> None:
    """Raise AssertionError unless the answer is what every answer must be (see the module docstring)."""
    assert status < 500, f"HTTP {status}: {body[:300]!r}"
    if status == 200:
        review = json.loads(body)
        assert review["apiVersion"] == "admission.k8s.io/v1"
        assert review["kind"] == "AdmissionReview"
        response = review["response"]
        if uid is not None:
            assert response["uid"] == uid
        assert isinstance(response["allowed"], bool)
        if not response["allowed"]:
            assert 400 <= response["status"]["code"] < 500, response["status"]
            assert response["status"]["message"]
        for warning in response.get("warnings", []):
            assert len(warning) <= MAX_WARNING_CHARS
            assert not any(unicodedata.category(ch) == "Cc" for ch in warning), warning
            warning.encode("utf-8")
        if "patch" in response:
            assert response["patchType"] == "JSONPatch"
            assert isinstance(json.loads(base64.b64decode(response["patch"])), list)
        return
    assert 400 <= status < 500, status
    if content_type.startswith("application/json"):
        payload = json.loads(body)
        assert payload["kind"] == "Status"
        assert payload["code"] == status
        assert payload["message"]
    else:
        assert body.strip(), f"HTTP {status} without a reason"


# -- a server in its own thread, and blocking clients ----------------------------------------------------------


@dataclass
class FuzzTarget:
    """A webhook server on loopback, run by a thread of its own so blocking clients can drive it.

    `server`, `loop` and `thread` are None when the server runs in another process (`bench/fuzz.py`).
    """

    port: int
    client_context: ssl.SSLContext
    ca_pem: bytes
    server: RunningServer | None = None
    loop: asyncio.AbstractEventLoop | None = None
    thread: threading.Thread | None = None
    statuses: dict[int, int] = field(default_factory=dict)

    def count(self, status: int) -> None:
        self.statuses[status] = self.statuses.get(status, 0) + 1


@dataclass
class _Started:
    server: RunningServer | None = None
    error: BaseException | None = None
    ready: threading.Event = field(default_factory=threading.Event)


def serve_in_thread(workdir: Path, **options: Any) -> FuzzTarget:
    """Start the server with the probe registries over the standard test world; `stop_target` ends it."""
    ca = trustme.CA()
    write_leaf(ca, workdir)
    loop = asyncio.new_event_loop()
    started = _Started()
    settings: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": 0,
        "registries": probe_registries(),
        "header_timeout": 2.0,
        "body_timeout": 0.1,
        "handshake_timeout": 2.0,
        "lingering_time": 0.1,
        **options,
    }

    async def boot() -> None:
        try:
            started.server = await start_server(ServerConfig.from_cert_dir(workdir, **settings), world())
        except Exception as exc:  # noqa: BLE001 (reported to the caller's thread)
            started.error = exc
        finally:
            started.ready.set()

    def run() -> None:
        asyncio.set_event_loop(loop)
        booting = loop.create_task(boot())
        loop.run_forever()
        booting.cancel()

    thread = threading.Thread(target=run, name="fuzz-server", daemon=True)
    thread.start()
    started.ready.wait(30)
    if started.server is None:
        raise RuntimeError(f"the server did not start: {started.error!r}")
    return FuzzTarget(started.server.port, client_context(ca), ca.cert_pem.bytes(), started.server, loop, thread)


def stop_target(target: FuzzTarget) -> None:
    if target.server is None or target.loop is None or target.thread is None:
        raise ValueError("the server runs in another process; stop that process instead")
    asyncio.run_coroutine_threadsafe(target.server.stop(), target.loop).result(30)
    target.loop.call_soon_threadsafe(target.loop.stop)
    target.thread.join(30)
    target.loop.close()


class Client:
    """One keep-alive HTTPS connection, reopened whenever the server closes it (as it does after a 4xx)."""

    def __init__(self, target: FuzzTarget) -> None:
        self._target = target
        self._connection: http.client.HTTPSConnection | None = None

    def post(self, path: str, body: bytes, headers: dict[str, str] | None = None) -> tuple[int, str, bytes]:
        for attempt in (1, 2):
            connection = self._connection or http.client.HTTPSConnection(
                "127.0.0.1", self._target.port, context=self._target.client_context, timeout=30
            )
            self._connection = connection
            try:
                connection.request("POST", path, body, {"Content-Type": "application/json", **(headers or {})})
                response = connection.getresponse()
                data = response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                connection.close()
                self._connection = None
                if attempt == 2:
                    raise
                continue
            if response.will_close:
                connection.close()
                self._connection = None
            self._target.count(response.status)
            return response.status, response.getheader("Content-Type", ""), data
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()


def send_raw(target: FuzzTarget, data: bytes) -> tuple[int, str, bytes] | None:
    """Send `data` on a fresh TLS connection; the answer, or None when the server closed without one."""
    with (
        socket.create_connection(("127.0.0.1", target.port), timeout=10) as plain,
        target.client_context.wrap_socket(plain, server_hostname="127.0.0.1") as sock,
    ):
        with contextlib.suppress(OSError):
            sock.sendall(data)  # the server may refuse before reading everything: its answer is still there
        response = http.client.HTTPResponse(sock)
        try:
            response.begin()
            body = response.read()
        except (http.client.HTTPException, OSError):
            return None  # closed without an answer
        target.count(response.status)
        return response.status, response.getheader("Content-Type", ""), body


def healthy(target: FuzzTarget) -> bool:
    """`/healthz` answers, a plain review is allowed and nothing is left in flight."""
    client = Client(target)
    try:
        review = {
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "request": {
                "uid": "health",
                "kind": {"group": PROBE_GROUP, "version": "v1", "kind": PROBE_KIND},
                "resource": {"group": PROBE_GROUP, "version": "v1", "resource": "probes"},
                "operation": "CREATE",
                "object": {"metadata": {"name": "p"}, "spec": {}},
            },
        }
        status, _, body = client.post("/validate", encode(review))
        idle = target.server is None or target.server.metrics.in_flight == 0
        return status == 200 and json.loads(body)["response"]["allowed"] and idle
    finally:
        client.close()


Sender = Callable[[FuzzTarget, Client], None]


def review_sender(review: dict[str, Any], path: str) -> Sender:
    def send(target: FuzzTarget, client: Client) -> None:
        body = encode(review)
        check_answer(*client.post(path, body), uid=request_uid(body))

    return send


def bytes_sender(body: bytes, path: str) -> Sender:
    def send(target: FuzzTarget, client: Client) -> None:
        check_answer(*client.post(path, body), uid=request_uid(body))

    return send


def raw_sender(request: RawRequest) -> Sender:
    def send(target: FuzzTarget, client: Client) -> None:
        answer = send_raw(target, request.data)
        if answer is not None:
            check_answer(*answer, uid=request.uid)

    return send


def senders() -> Iterator[tuple[str, st.SearchStrategy[Sender]]]:
    """The three families as strategies of ready-to-run senders (for `bench/fuzz.py`)."""
    paths = st.sampled_from(["/validate", "/mutate"])
    yield "reviews", st.builds(review_sender, reviews(), paths)
    yield "bytes", st.builds(bytes_sender, mutated_bytes(), paths)
    yield "http", st.builds(raw_sender, http_requests())
