"""Prometheus metrics for the webhook, rendered by hand in the text exposition format (version 0.0.4).

Three series are all an operator needs to see admission health, and they do not justify a client library:
a request counter by endpoint/group/kind/operation/verdict, a latency histogram per endpoint, and the
number of reviews in flight. Everything runs on the event loop thread, so no locking is needed.

Group and kind come from requests, which anyone who can reach the Service can send: after
`MAX_SERIES` distinct label sets new ones are folded into `kind="other"` so a client cannot grow memory.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from typing import Final

VERDICTS: Final = ("allowed", "denied", "patched", "error", "bad_request")
BUCKETS: Final[tuple[float, ...]] = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
)
MAX_SERIES: Final = 2000

RequestLabels = tuple[str, str, str, str, str]  # endpoint, group, kind, operation, verdict


def escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(names: Sequence[str], values: Sequence[str]) -> str:
    return ",".join(f'{n}="{escape_label(v)}"' for n, v in zip(names, values, strict=True))


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(value)


class _Histogram:
    __slots__ = ("counts", "sum", "total")

    def __init__(self) -> None:
        self.counts = [0] * len(BUCKETS)
        self.total = 0
        self.sum = 0.0

    def observe(self, seconds: float) -> None:
        index = bisect.bisect_left(BUCKETS, seconds)
        if index < len(self.counts):
            self.counts[index] += 1
        self.total += 1
        self.sum += seconds


class Metrics:
    """The webhook's counters; `render()` produces the `/metrics` body."""

    def __init__(self, prefix: str = "tenantgate_webhook") -> None:
        self.prefix = prefix
        self._requests: dict[RequestLabels, int] = {}
        self._latency: dict[str, _Histogram] = {}
        self.in_flight = 0
        self.cert_reloads = 0
        self.cert_reload_failures = 0

    def record(self, endpoint: str, group: str, kind: str, operation: str, verdict: str, seconds: float) -> None:
        if verdict not in VERDICTS:
            raise ValueError(f"unknown verdict {verdict!r}")
        key: RequestLabels = (endpoint, group, kind, operation, verdict)
        if key not in self._requests and len(self._requests) >= MAX_SERIES:
            key = (endpoint, "other", "other", operation, verdict)
        self._requests[key] = self._requests.get(key, 0) + 1
        self._latency.setdefault(endpoint, _Histogram()).observe(seconds)

    def requests(self, **match: str) -> int:
        """Sum of the request counter over series whose labels equal `match` (tests and diagnostics)."""
        names = ("endpoint", "group", "kind", "operation", "verdict")
        return sum(
            count
            for key, count in self._requests.items()
            if all(key[names.index(name)] == value for name, value in match.items())
        )

    def render(self) -> str:
        p = self.prefix
        lines = [
            f"# HELP {p}_requests_total Admission reviews answered, by endpoint, object kind, operation and verdict.",
            f"# TYPE {p}_requests_total counter",
        ]
        names = ("endpoint", "group", "kind", "operation", "verdict")
        for key in sorted(self._requests):
            lines.append(f"{p}_requests_total{{{_labels(names, key)}}} {self._requests[key]}")
        lines += [
            f"# HELP {p}_request_duration_seconds Time from request received to response ready, per endpoint.",
            f"# TYPE {p}_request_duration_seconds histogram",
        ]
        for endpoint in sorted(self._latency):
            hist = self._latency[endpoint]
            cumulative = 0
            label = f'endpoint="{escape_label(endpoint)}"'
            for bound, count in zip(BUCKETS, hist.counts, strict=True):
                cumulative += count
                lines.append(f'{p}_request_duration_seconds_bucket{{{label},le="{_number(bound)}"}} {cumulative}')
            lines.append(f'{p}_request_duration_seconds_bucket{{{label},le="+Inf"}} {hist.total}')
            lines.append(f"{p}_request_duration_seconds_sum{{{label}}} {_number(hist.sum)}")
            lines.append(f"{p}_request_duration_seconds_count{{{label}}} {hist.total}")
        lines += [
            f"# HELP {p}_requests_in_flight Admission reviews being handled right now.",
            f"# TYPE {p}_requests_in_flight gauge",
            f"{p}_requests_in_flight {self.in_flight}",
            f"# HELP {p}_certificate_reloads_total Serving certificate reloads after the files changed.",
            f"# TYPE {p}_certificate_reloads_total counter",
            f"{p}_certificate_reloads_total {self.cert_reloads}",
            f"# HELP {p}_certificate_reload_failures_total Changed certificate files that could not be loaded.",
            f"# TYPE {p}_certificate_reload_failures_total counter",
            f"{p}_certificate_reload_failures_total {self.cert_reload_failures}",
        ]
        return "\n".join(lines) + "\n"
