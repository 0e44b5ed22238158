"""Every benchmark behind one command: `python -m bench <name> [--quick] [--no-write]`, or `all` for each in turn.

    .venv/bin/python -m bench --help
    .venv/bin/python -m bench hotpath --quick --no-write

Each sub-command is bounded in time and count, uses loopback only, prints a markdown table and writes it, with
the machine, the load average before and after and the versions, into its own section of docs/performance.md
(other sections are kept). The scripts stay runnable on their own (`bench/webhook.py` and the rest); this
command calls their functions. A benchmark module is imported only when its sub-command runs, so `--help`
costs nothing and needs none of the optional dependencies (kopf, wrk).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
# The repository root holds the packages under test and `tests`; bench/ itself must not shadow `webhook`.
_BENCH = Path(__file__).resolve().parent
sys.path[:] = [entry for entry in sys.path if not entry or Path(entry).resolve() != _BENCH]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bench.report import Table, load_average, publish  # noqa: E402


@dataclass(frozen=True)
class Options:
    quick: bool
    write: bool
    command: str
    extra: argparse.Namespace


Runner = Callable[[Options], int]


@dataclass(frozen=True)
class Benchmark:
    name: str
    help: str
    run: Runner
    configure: Callable[[argparse.ArgumentParser], None] | None = None


def _publish(title: str, options: Options, tables: Sequence[Table], started: float, **extra: object) -> None:
    loads = (options.extra.load_before, load_average())
    elapsed = time.monotonic() - started
    publish(title, options.command, tables, loads, write=options.write, elapsed=elapsed, **extra)  # type: ignore[arg-type]


def run_webhook(options: Options) -> int:
    from bench import webhook

    # bench/webhook.py writes its own section (results, targets, profile), with machine, load and versions.
    return webhook.main([*(["--quick"] if options.quick else []), *([] if options.write else ["--no-write"])])


def run_fuzz(options: Options) -> int:
    import random

    from bench import fuzz

    started = time.monotonic()
    requests = 1_000 if options.quick else options.extra.requests
    result = fuzz.fuzz(requests, random.randrange(2**32) if options.extra.seed is None else options.extra.seed)
    table = Table(["measure", "value"], right=frozenset({1}))
    table.rows += [
        ["answers", f"{result.answered:,}"],
        ["answers per second", f"{result.answered / result.elapsed:,.0f}"],
        *[[f"HTTP {status}", f"{count:,}"] for status, count in sorted(result.statuses.items())],
        ["5xx", str(result.server_errors)],
        ["failing example found", "yes" if result.failed else "no"],
        ["healthy at the end", "yes" if result.healthy else "no"],
        ["log records at WARNING and above", str(sum(result.logged.values()))],
        ["server RSS after start-up / end / peak, MiB", _mib(result)],
    ]
    _publish("Webhook under fuzzing", options, [table], started)
    return 0 if result.ok else 1


def _mib(result: object) -> str:
    kib = [getattr(result, name) for name in ("rss_started_kib", "rss_end_kib", "rss_peak_kib")]
    return " / ".join(f"{value / 1024:.0f}" for value in kib)


def run_shapes(options: Options) -> int:
    from bench import shapes

    started = time.monotonic()
    table = Table(["measurement", "µs/call (CPU)"], right=frozenset({1}))
    table.rows += [[label, f"{seconds * 1e6:.1f}"] for label, seconds in shapes.measure_all(options.quick)]
    _publish("Depth and shape checks, in process", options, [table], started)
    return 0


def run_model_validation(options: Options) -> int:
    from bench import model_validation

    started = time.monotonic()
    table = Table(["object", "with µs", "without µs", "added µs"], right=frozenset({1, 2, 3}))
    table.rows += [
        [label, f"{with_it:.1f}", f"{without:.1f}", f"{with_it - without:.1f}"]
        for label, with_it, without in model_validation.measure(options.quick)
    ]
    _publish("Model validation on `/validate`", options, [table], started)
    return 0


def run_hotpath(options: Options) -> int:
    from bench import hotpath

    started = time.monotonic()
    rows = hotpath.measure(options.quick)
    peer = rows[0][1]
    table = Table(["measurement", "µs/call", "vs peer"], right=frozenset({1, 2}))
    table.rows += [[label, f"{seconds * 1e6:.1f}", f"{seconds / peer:.2f}"] for label, seconds in rows]
    _publish("Admission hot path, in process", options, [table], started)
    return 0


def run_apiserver(options: Options) -> int:
    from bench import apiserver

    return apiserver.run(options.quick, options.write, options.command, options.extra)


def run_controller(options: Options) -> int:
    from bench import controller

    return controller.run(options.quick, options.write, options.command, options.extra)


def run_failure(options: Options) -> int:
    from bench import failure

    return failure.run(options.quick, options.write, options.command, options.extra)


def configure_failure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--replica-creates",
        dest="replica_creates",
        type=int,
        default=None,
        help="creates per replica scenario (default 3000, quick 200)",
    )
    parser.add_argument(
        "--rotation-seconds",
        dest="rotation_seconds",
        type=float,
        default=None,
        help="seconds of load during the rotations (default 60, quick 10)",
    )
    parser.add_argument(
        "--outages", type=int, default=None, help="replica stops per signal, replicas in turn (default 3, quick 1)"
    )


def configure_controller(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--sizes",
        default=None,
        help="comma-separated App counts, one control plane each (default 300,1000,3000; quick 40,80)",
    )
    parser.add_argument(
        "--parts",
        default=None,
        help="comma-separated subset of apps,projects,mix,steady,restarts (default all)",
    )
    parser.add_argument("--projects", type=int, default=None, help="Projects to create (default 300, quick 20)")
    parser.add_argument(
        "--mix", type=int, default=None, help="Shops and as many Djangos for the mix (default 150 each, quick 10)"
    )
    parser.add_argument(
        "--steady-apps", type=int, default=None, help="converged Apps for steady state and restarts (default 1000)"
    )
    parser.add_argument("--idle", type=float, default=None, help="seconds of idle to count writes in (default 120)")
    parser.add_argument(
        "--restart-apps", type=int, default=None, help="Apps converging across the API server restart (default 300)"
    )
    parser.add_argument(
        "--app-concurrency", dest="concurrency_apps", type=int, default=16, help="concurrent writers (default 16)"
    )
    parser.add_argument(
        "--profile", default=None, help="run the controller under pyinstrument; pstats files next to this path"
    )


def configure_fuzz(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--requests", type=int, default=20_000, help="requests to send (about; default 20000)")
    parser.add_argument("--seed", type=int, default=None, help="hypothesis seed (default: random)")


def configure_apiserver(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--creates", type=int, default=None, help="creates per kind and phase (default 2000, quick 100)"
    )
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16], help="concurrent writers (default 1 16)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of each routing and none (default 2)")
    parser.add_argument(
        "--routings",
        nargs="+",
        choices=["one", "two"],
        default=["one", "two"],
        help="webhook routings to measure against none: one call per write (the default) and two (default both)",
    )


BENCHMARKS: tuple[Benchmark, ...] = (
    Benchmark("webhook", "the webhook over TLS under wrk, against a bare aiohttp limit and kopf", run_webhook),
    Benchmark("fuzz", "generated hostile requests against a real server; answers by status", run_fuzz, configure_fuzz),
    Benchmark("shapes", "depth and shape checks in process, with and without", run_shapes),
    Benchmark("model-validation", "model validation on /validate in process, with and without", run_model_validation),
    Benchmark("hotpath", "the mutating hot path in process against deepcopy + jsonpatch", run_hotpath),
    Benchmark(
        "apiserver",
        "Pod and Shop creates through a real API server, webhooks registered vs not",
        run_apiserver,
        configure_apiserver,
    ),
    Benchmark(
        "controller",
        "seconds from the last App create to every child and status, against server-side apply of the children",
        run_controller,
        configure_controller,
    ),
    Benchmark(
        "failure",
        "creates through the API server while a webhook replica is stopped, and while certificates rotate",
        run_failure,
        configure_failure,
    ),
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="benchmark", required=True, metavar="BENCHMARK")
    for benchmark in (*BENCHMARKS, Benchmark("all", "every benchmark above, one after the other", run_all)):
        sub = commands.add_parser(benchmark.name, help=benchmark.help, description=benchmark.help)
        sub.add_argument("--quick", action="store_true", help="a short smoke run (seconds to a couple of minutes)")
        sub.add_argument("--no-write", action="store_true", help="print only; leave docs/performance.md alone")
        if benchmark.configure is not None:
            benchmark.configure(sub)
        elif benchmark.name == "all":
            for other in BENCHMARKS:
                if other.configure is not None:
                    other.configure(sub)
        sub.set_defaults(runner=benchmark.run)
    return parser


def run_all(options: Options) -> int:
    failed = []
    for benchmark in BENCHMARKS:
        options.extra.load_before = load_average()  # each section reports the load its own run started at
        if benchmark.run(options) != 0:
            failed.append(benchmark.name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(arguments)
    args.load_before = load_average()
    options = Options(
        quick=args.quick,
        write=not args.no_write,
        command=" ".join([".venv/bin/python", "-m", "bench", *arguments]),
        extra=args,
    )
    runner: Runner = args.runner
    return runner(options)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("\ninterrupted; every started process was stopped", file=sys.stderr)
        sys.exit(130)
