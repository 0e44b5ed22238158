# ruff: noqa: E402  (imports follow the import-path fix below)
"""Fuzz the webhook with 20,000 generated hostile requests (or more) and report what it answered.

    .venv/bin/python bench/fuzz.py [--requests 20000] [--seed N]

The same strategies and checks as tests/integration/test_webhook_fuzz.py (`tests/fuzzing.py`), at a volume CI
cannot afford: AdmissionReviews with hostile objects (each sent to `/mutate` and `/validate`), byte mutations of
recorded reviews, and HTTP-level mutations over fresh TLS connections, all against one real server on loopback
with the standard test world (tenants acme and globex). Any answer that breaks the rules (a 5xx, a 200 that is
not a valid AdmissionReview for the request's uid, a denial that is an internal error, a 4xx without a reason)
stops the run with the smallest failing request hypothesis finds, and the exit status is 1.

The server runs in a child process of its own, so its memory is measured apart from the generator's. The run
prints the number of answers by HTTP status, the run time, the server's health at the end, its log records at
WARNING and above, and its resident set size after start-up and at its peak (`VmHWM`).
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/ must not shadow the packages under test, and the repository root holds `tests`.
_BENCH = Path(__file__).resolve().parent
sys.path[:] = [entry for entry in sys.path if not entry or Path(entry).resolve() != _BENCH]
sys.path.insert(0, str(_BENCH.parent))

import argparse
import logging
import multiprocessing
import random
import ssl
import tempfile
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection

from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from tests.fuzzing import (
    Client,
    FuzzTarget,
    RawRequest,
    bytes_sender,
    healthy,
    http_requests,
    mutated_bytes,
    raw_sender,
    review_sender,
    reviews,
    serve_in_thread,
    stop_target,
)

SHARES = {"reviews": 0.3, "bytes": 0.25, "http": 0.15}  # reviews count twice: each goes to both endpoints


class _Counter(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.by_level: dict[str, int] = {}

    def emit(self, record: logging.LogRecord) -> None:
        self.by_level[record.levelname] = self.by_level.get(record.levelname, 0) + 1


def memory_kib(pid: int, field: str) -> int:
    """`VmRSS` or `VmHWM` (peak) of a process, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise LookupError(field)


def serve(workdir: str, pipe: Connection) -> None:
    """The child process: serve until told to stop, then report the log records it counted."""
    counter = _Counter()
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.addHandler(counter)
    root.setLevel(logging.WARNING)
    target = serve_in_thread(Path(workdir))
    pipe.send((target.port, target.ca_pem))
    pipe.recv()
    stop_target(target)
    pipe.send(counter.by_level)


def run(target: FuzzTarget, total: int, run_seed: int) -> None:
    client = Client(target)
    common = settings(
        database=None, deadline=None, suppress_health_check=list(HealthCheck), print_blob=True, derandomize=False
    )
    paths = st.sampled_from(["/validate", "/mutate"])

    @seed(run_seed)
    @settings(common, max_examples=int(total * SHARES["reviews"]))
    @given(review=reviews())
    def send_reviews(review: dict[str, object]) -> None:
        for path in ("/mutate", "/validate"):
            review_sender(review, path)(target, client)

    @seed(run_seed)
    @settings(common, max_examples=int(total * SHARES["bytes"]))
    @given(body=mutated_bytes(), path=paths)
    def send_bytes(body: bytes, path: str) -> None:
        bytes_sender(body, path)(target, client)

    @seed(run_seed)
    @settings(common, max_examples=int(total * SHARES["http"]))
    @given(request=http_requests())
    def send_http(request: RawRequest) -> None:
        raw_sender(request)(target, client)

    try:
        for family in (send_reviews, send_bytes, send_http):
            started = time.perf_counter()
            family()
            print(f"{family.__name__}: done in {time.perf_counter() - started:.0f}s", flush=True)
    finally:
        client.close()


@dataclass
class FuzzResult:
    """What the server answered over one run, and its state at the end."""

    statuses: dict[int, int]
    elapsed: float
    failed: bool
    healthy: bool
    logged: dict[str, int]
    rss_started_kib: int
    rss_end_kib: int
    rss_peak_kib: int

    @property
    def answered(self) -> int:
        return sum(self.statuses.values())

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)

    @property
    def ok(self) -> bool:
        return not self.failed and self.healthy and self.server_errors == 0


def fuzz(requests: int, run_seed: int) -> FuzzResult:
    """Serve in a child process, send about `requests` generated requests, and collect the answers."""
    print(f"fuzzing with about {requests} requests, seed {run_seed}", flush=True)
    with tempfile.TemporaryDirectory(prefix="tenantgate-fuzz-") as workdir:
        ours, theirs = multiprocessing.Pipe()
        child = multiprocessing.get_context("spawn").Process(target=serve, args=(workdir, theirs), daemon=True)
        child.start()
        try:
            port, ca_pem = ours.recv()
            assert child.pid is not None
            rss_started = memory_kib(child.pid, "VmRSS")
            context = ssl.create_default_context(cadata=ca_pem.decode())
            target = FuzzTarget(port, context, ca_pem)
            started = time.perf_counter()
            failed = False
            try:
                run(target, requests, run_seed)
            except Exception as exc:  # noqa: BLE001 (reported below, with the falsifying example above it)
                failed = True
                print(f"FAILED: {type(exc).__name__}: {str(exc)[:2000]}", flush=True)
            elapsed = time.perf_counter() - started
            is_healthy = healthy(target)
            rss_end, rss_peak = memory_kib(child.pid, "VmRSS"), memory_kib(child.pid, "VmHWM")
            ours.send("stop")
            logged = ours.recv()
        finally:
            child.join(30)
            if child.is_alive():
                child.terminate()
    return FuzzResult(dict(target.statuses), elapsed, failed, is_healthy, logged, rss_started, rss_end, rss_peak)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=20_000, help="requests to send (about; default 20000)")
    parser.add_argument("--seed", type=int, default=random.randrange(2**32), help="hypothesis seed")
    args = parser.parse_args(argv)
    result = fuzz(args.requests, args.seed)
    print(f"answers: {result.answered} in {result.elapsed:.0f}s ({result.answered / result.elapsed:.0f}/s)")
    for status in sorted(result.statuses):
        print(f"  HTTP {status}: {result.statuses[status]}")
    print(f"  5xx: {result.server_errors}")
    print(f"server log records at WARNING and above: {result.logged}")
    print(f"server healthy at the end: {result.healthy}")
    print(
        f"server RSS: {result.rss_started_kib / 1024:.0f} MiB after start-up, {result.rss_end_kib / 1024:.0f} MiB "
        f"at the end, {result.rss_peak_kib / 1024:.0f} MiB at its peak"
    )
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
