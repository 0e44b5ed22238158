"""Prometheus metrics rendered by hand in the text exposition format (version 0.0.4).

The controller needs a handful of counters, gauges and one histogram; a client library would be a dependency for
about a hundred lines, so the registry here keeps samples in dicts keyed by label values and renders them on
scrape. Everything runs on one event loop, so no locking is needed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

LabelValues = tuple[str, ...]

DEFAULT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(names: Sequence[str], values: Sequence[str], extra: str = "") -> str:
    parts = [f'{n}="{_escape(v)}"' for n, v in zip(names, values, strict=True)]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


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
        yield f"# HELP {self.name} {self.help}"
        yield f"# TYPE {self.name} counter"
        for labels, value in sorted(self.values.items()):
            yield f"{self.name}{_labels(self.labelnames, labels)} {_number(value)}"


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
        yield f"# HELP {self.name} {self.help}"
        yield f"# TYPE {self.name} gauge"
        samples = dict(self.values)
        samples.update({k: f() for k, f in self.callbacks.items()})
        for labels, value in sorted(samples.items()):
            yield f"{self.name}{_labels(self.labelnames, labels)} {_number(value)}"


@dataclass
class Histogram:
    name: str
    help: str
    labelnames: tuple[str, ...] = ()
    buckets: tuple[float, ...] = DEFAULT_BUCKETS
    counts: dict[LabelValues, list[int]] = field(default_factory=dict)
    sums: dict[LabelValues, float] = field(default_factory=dict)

    def observe(self, *labels: str, value: float) -> None:
        counts = self.counts.setdefault(labels, [0] * (len(self.buckets) + 1))
        for i, bound in enumerate(self.buckets):
            if value <= bound:
                counts[i] += 1
        counts[-1] += 1
        self.sums[labels] = self.sums.get(labels, 0.0) + value

    def count(self, *labels: str) -> int:
        counts = self.counts.get(labels)
        return counts[-1] if counts else 0

    def render(self) -> Iterable[str]:
        yield f"# HELP {self.name} {self.help}"
        yield f"# TYPE {self.name} histogram"
        for labels, counts in sorted(self.counts.items()):
            for bound, count in zip(self.buckets, counts, strict=False):
                le = 'le="' + _number(bound) + '"'
                yield f"{self.name}_bucket{_labels(self.labelnames, labels, le)} {count}"
            inf = 'le="+Inf"'
            yield f"{self.name}_bucket{_labels(self.labelnames, labels, inf)} {counts[-1]}"
            yield f"{self.name}_sum{_labels(self.labelnames, labels)} {_number(self.sums[labels])}"
            yield f"{self.name}_count{_labels(self.labelnames, labels)} {counts[-1]}"


class Metrics:
    """The controller's metrics, one instance per Manager (so in-process tests do not share counters)."""

    def __init__(self) -> None:
        self.reconcile_total = Counter(
            "tenantgate_controller_reconcile_total", "Reconciles by kind and result.", ("kind", "result")
        )
        self.reconcile_errors = Counter(
            "tenantgate_controller_reconcile_errors_total", "Reconciles that ended in an error, by kind.", ("kind",)
        )
        self.reconcile_duration = Histogram(
            "tenantgate_controller_reconcile_duration_seconds", "Time spent in one reconcile, by kind.", ("kind",)
        )
        self.queue_depth = Gauge(
            "tenantgate_controller_queue_depth", "Keys waiting in the work queue, by kind.", ("kind",)
        )
        self.queue_adds = Counter("tenantgate_controller_queue_adds_total", "Keys added to the queue.", ("kind",))
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
        self.events_emitted = Counter(
            "tenantgate_controller_events_total", "Kubernetes Events emitted, by type and reason.", ("type", "reason")
        )
        self.leader = Gauge("tenantgate_controller_leader", "1 while this replica holds the leader Lease.")
        self.cache_objects = Gauge(
            "tenantgate_controller_cache_objects", "Objects held in each informer cache.", ("resource",)
        )

    def families(self) -> list[Counter | Gauge | Histogram]:
        return [
            self.reconcile_total,
            self.reconcile_errors,
            self.reconcile_duration,
            self.queue_depth,
            self.queue_adds,
            self.watch_restarts,
            self.relists,
            self.api_writes,
            self.api_reads,
            self.api_errors,
            self.events_emitted,
            self.leader,
            self.cache_objects,
        ]

    def render(self) -> str:
        lines: list[str] = []
        for family in self.families():
            lines.extend(family.render())
        return "\n".join(lines) + "\n"

    def writes(self, exclude_resources: Sequence[str] = ("leases",)) -> float:
        """All API writes except those to `exclude_resources` (leader-election renewals by default)."""
        return self.api_writes.total(lambda labels: labels[1] not in exclude_resources)
