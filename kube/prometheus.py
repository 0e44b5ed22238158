"""Prometheus metrics rendered by hand in the text exposition format (version 0.0.4): the one renderer.

The controller and the webhook each need a handful of counters, gauges and histograms; a client library would be
a dependency for about a hundred lines, so the families here keep samples in dicts keyed by label values and
render them on scrape. Each process runs them on one event loop, so no locking is needed.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

LabelValues = tuple[str, ...]

DEFAULT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


def escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(names: Sequence[str], values: Sequence[str], extra: str = "") -> str:
    parts = [f'{n}="{escape_label(v)}"' for n, v in zip(names, values, strict=True)]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


def render_number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def _header(name: str, help_text: str, kind: str) -> Iterable[str]:
    yield f"# HELP {name} {help_text}"
    yield f"# TYPE {name} {kind}"


@dataclass
class Counter:
    name: str
    help: str
    labelnames: tuple[str, ...] = ()
    values: dict[LabelValues, float] = field(default_factory=dict)

    def inc(self, *labels: str, amount: float = 1.0) -> None:
        self.values[labels] = self.values.get(labels, 0.0) + amount

    def get(self, *labels: str) -> float:
        return self.values.get(labels, 0.0)

    def total(self, predicate: Callable[[LabelValues], bool] = lambda _: True) -> float:
        return sum(v for k, v in self.values.items() if predicate(k))

    def render(self) -> Iterable[str]:
        yield from _header(self.name, self.help, "counter")
        for labels, value in sorted(self.values.items()):
            yield f"{self.name}{_labels(self.labelnames, labels)} {render_number(value)}"


@dataclass
class Gauge:
    """A gauge whose samples are either set directly or read from a callback at scrape time."""

    name: str
    help: str
    labelnames: tuple[str, ...] = ()
    values: dict[LabelValues, float] = field(default_factory=dict)
    callbacks: dict[LabelValues, Callable[[], float]] = field(default_factory=dict)

    def set(self, *labels: str, value: float) -> None:
        self.values[labels] = value

    def set_function(self, *labels: str, function: Callable[[], float]) -> None:
        self.callbacks[labels] = function

    def get(self, *labels: str) -> float:
        if labels in self.callbacks:
            return self.callbacks[labels]()
        return self.values.get(labels, 0.0)

    def render(self) -> Iterable[str]:
        yield from _header(self.name, self.help, "gauge")
        samples = dict(self.values)
        samples.update({k: f() for k, f in self.callbacks.items()})
        for labels, value in sorted(samples.items()):
            yield f"{self.name}{_labels(self.labelnames, labels)} {render_number(value)}"


@dataclass
class Histogram:
    """Counts per bucket (not cumulative: one increment per observation) and sums; cumulated on render."""

    name: str
    help: str
    labelnames: tuple[str, ...] = ()
    buckets: tuple[float, ...] = DEFAULT_BUCKETS
    counts: dict[LabelValues, list[int]] = field(default_factory=dict)
    sums: dict[LabelValues, float] = field(default_factory=dict)

    def observe(self, *labels: str, value: float) -> None:
        counts = self.counts.get(labels)
        if counts is None:
            counts = self.counts[labels] = [0] * (len(self.buckets) + 1)
        counts[bisect.bisect_left(self.buckets, value)] += 1
        self.sums[labels] = self.sums.get(labels, 0.0) + value

    def count(self, *labels: str) -> int:
        return sum(self.counts.get(labels, ()))

    def render(self) -> Iterable[str]:
        yield from _header(self.name, self.help, "histogram")
        for labels, counts in sorted(self.counts.items()):
            cumulative = 0
            for bound, count in zip(self.buckets, counts, strict=False):
                cumulative += count
                le = 'le="' + render_number(bound) + '"'
                yield f"{self.name}_bucket{_labels(self.labelnames, labels, le)} {cumulative}"
            inf = 'le="+Inf"'
            total = cumulative + counts[-1]
            yield f"{self.name}_bucket{_labels(self.labelnames, labels, inf)} {total}"
            yield f"{self.name}_sum{_labels(self.labelnames, labels)} {render_number(self.sums[labels])}"
            yield f"{self.name}_count{_labels(self.labelnames, labels)} {total}"


Family = Counter | Gauge | Histogram


def render(families: Iterable[Family]) -> str:
    """The `/metrics` body for `families`, in the order given."""
    lines: list[str] = []
    for family in families:
        lines.extend(family.render())
    return "\n".join(lines) + "\n"


class ClientMetrics:
    """What the API client and the informers count: reads, writes, errors, relists, watch restarts, cache sizes.

    The series keep the controller's names (dashboards read them); a process that renders no metrics (the webhook's
    cluster view) still counts, at the cost of a few dict updates.
    """

    def __init__(self) -> None:
        self.watch_restarts = Counter(
            "tenantgate_controller_watch_restarts_total",
            "Watches restarted, by resource and reason (closed, expired, error).",
            ("resource", "reason"),
        )
        self.relists = Counter("tenantgate_controller_relists_total", "Full lists, by resource.", ("resource",))
        self.api_writes = Counter(
            "tenantgate_controller_api_writes_total",
            "Writes to the API server by verb (create, apply, patch, update, delete) and resource.",
            ("verb", "resource"),
        )
        self.api_reads = Counter(
            "tenantgate_controller_api_reads_total",
            "Reads from the API server by verb (get, list, watch, discovery) and resource.",
            ("verb", "resource"),
        )
        self.api_errors = Counter(
            "tenantgate_controller_api_errors_total", "API requests that failed, by HTTP status.", ("code",)
        )
        self.cache_objects = Gauge(
            "tenantgate_controller_cache_objects", "Objects held in each informer cache.", ("resource",)
        )

    def families(self) -> list[Family]:
        return [self.watch_restarts, self.relists, self.api_writes, self.api_reads, self.api_errors, self.cache_objects]

    def render(self) -> str:
        return render(self.families())

    def writes(self, exclude_resources: Sequence[str] = ("leases",)) -> float:
        """All API writes except those to `exclude_resources` (leader-election renewals by default)."""
        return self.api_writes.total(lambda labels: labels[1] not in exclude_resources)
