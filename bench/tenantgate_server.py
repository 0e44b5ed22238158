# ruff: noqa: E402  (imports follow the import-path fix below)
"""tenantgate's admission webhook as the benchmark runs it: the production server with a fixed cluster view.

`tenantgate webhook` takes its cluster view from watches (or an empty one with `--no-cluster-view`); the
benchmark needs the Tenant, Project and Namespace its reviews refer to, without an API server in the loop, so
this starts the same server the same way (`webhook.cli.serve`: `ServerConfig.from_cert_dir`, default
timeouts and body limit, `build_registries()` as it is at run time, the CLI's logging set-up, drain on
SIGTERM) over an `InMemoryClusterView` read from a JSON file.

With `--profile OUT`, SIGUSR1 starts sampling with pyinstrument and SIGUSR2 stops it and writes a summary
(self time per function and per area: TLS, HTTP, event loop, parsing, policy) to OUT as JSON. Signals rather
than the whole process lifetime, so that start-up and the idle gaps between load runs (time spent waiting in
`epoll`) do not dilute what the server does under load; a JSON summary so the benchmark can quote it without
an interactive viewer.

Usage: `python bench/tenantgate_server.py --cert-dir DIR --port PORT --view VIEW.json [--profile OUT.json]`
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
import logging
import signal
from collections import defaultdict
from typing import Any

from admission.view import InMemoryClusterView
from webhook.cli import serve
from webhook.server import ServerConfig

# Where a function's code lives decides its area: the first matching fragment of the path wins.
AREAS: tuple[tuple[str, str], ...] = (
    ("/asyncio/sslproto.py", "TLS and socket I/O"),
    ("/ssl.py", "TLS and socket I/O"),
    ("/aiohttp/", "HTTP (aiohttp)"),
    ("/multidict/", "HTTP (aiohttp)"),
    ("/yarl/", "HTTP (aiohttp)"),
    ("/asyncio/", "event loop (asyncio)"),
    ("/selectors.py", "event loop (asyncio)"),
    ("/json/", "JSON encoding and decoding"),
    ("/pydantic", "AdmissionReview parsing (pydantic)"),
    ("/admission/protocol.py", "AdmissionReview parsing (pydantic)"),
    ("/admission/rules/", "policy: guardrails"),
    ("/admission/rules/", "policy: defaulters"),
    ("/crds/", "policy: defaulters"),
    ("/admission/patch.py", "policy: patch recorder"),
    ("/webhook/", "tenantgate server, dispatch, metrics"),
    ("/logging/", "logging"),
)
# Functions without Python source (C functions, `<frozen os>`, generated dataclass `__init__`s) by name; the
# rest count towards their caller, so that `os.environ` read by a guardrail is the guardrail's cost.
NAMED: tuple[tuple[str, str], ...] = (
    ("validate_json", "AdmissionReview parsing (pydantic)"),
    ("_SSLSocket.", "TLS and socket I/O"),
    ("SSLObject", "TLS and socket I/O"),
    ("socket.", "TLS and socket I/O"),
    ("Context.run", "event loop (asyncio)"),
    ("poll", "event loop (asyncio)"),
    ("select", "event loop (asyncio)"),
)


def area_of(file_path: str | None, function: str, caller_area: str) -> str:
    """The area a function's self time belongs to (see AREAS and NAMED)."""
    if file_path and not file_path.startswith("<"):
        for fragment, area in AREAS:
            if fragment in file_path:
                return area
        return "other"
    for fragment, area in NAMED:
        if fragment in function:
            return area
    return caller_area


def summarize(session: Any, top: int = 25) -> dict[str, Any]:
    """Self time per function and per area, from a pyinstrument session (sampled wall-clock time)."""
    root = session.root_frame(trim_stem=False)
    by_function: dict[tuple[str, str, int], float] = defaultdict(float)
    by_area: dict[str, float] = defaultdict(float)
    stack = [(root, "other")] if root is not None else []
    while stack:
        frame, caller_area = stack.pop()
        area = area_of(frame.file_path, frame.function, caller_area)
        stack.extend((child, area) for child in frame.children if not child.is_synthetic)
        self_time = frame.total_self_time
        if self_time <= 0:
            continue
        key = (frame.function, frame.file_path_short or frame.file_path or "", frame.line_no or 0)
        by_function[key] += self_time
        by_area[area] += self_time
    total = sum(by_area.values()) or 1.0
    functions = sorted(by_function.items(), key=lambda item: item[1], reverse=True)[:top]
    return {
        "seconds": round(total, 3),
        "areas": [
            {"area": area, "share": round(seconds / total, 4)}
            for area, seconds in sorted(by_area.items(), key=lambda item: item[1], reverse=True)
        ],
        "functions": [
            {"function": function, "file": file, "line": line, "share": round(seconds / total, 4)}
            for (function, file, line), seconds in functions
        ],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cert-dir", type=Path, required=True, help="directory holding tls.crt and tls.key")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--view", type=Path, required=True, help="JSON list of the objects the view holds")
    parser.add_argument("--profile", type=Path, help="sample the run with pyinstrument; write a summary here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s", stream=sys.stderr)
    view = InMemoryClusterView.from_objects(json.loads(args.view.read_text()))
    config = ServerConfig.from_cert_dir(args.cert_dir, host=args.host, port=args.port)
    if args.profile is None:
        return asyncio.run(serve(config, view))
    return asyncio.run(serve_profiled(config, view, args.profile))


async def serve_profiled(config: ServerConfig, view: InMemoryClusterView, out: Path) -> int:
    """`serve`, plus SIGUSR1/SIGUSR2 to start and stop sampling; each stop writes OUT (atomically)."""
    from pyinstrument import Profiler

    running: list[Profiler] = []  # a fresh profiler per start: a restarted one would merge the sessions

    def start() -> None:
        if not running:
            profiler = Profiler(interval=0.0005, async_mode="disabled")
            profiler.start()
            running.append(profiler)

    def stop() -> None:
        if running:
            session = running.pop().stop()
            partial = out.with_name(out.name + ".partial")
            partial.write_text(json.dumps(summarize(session), indent=1))
            partial.replace(out)

    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGUSR1, start)
    loop.add_signal_handler(signal.SIGUSR2, stop)
    return await serve(config, view)


if __name__ == "__main__":
    sys.exit(main())
