"""Prometheus metrics for the webhook, rendered by `kube.prometheus`.

Three series are all an operator needs to see admission health, and they do not justify a client library:
a request counter by endpoint/group/kind/operation/verdict, a latency histogram per endpoint, and the
number of reviews in flight. Everything runs on the event loop thread, so no locking is needed.

Group and kind come from requests, which anyone who can reach the Service can send: the server labels a
kind no rule judges as `other` (`OTHER`), a label value longer than `MAX_LABEL_CHARS` becomes `other` here, and
after `MAX_SERIES` distinct label sets new ones are folded into `kind="other"`, so a client cannot grow memory
or the `/metrics` page.
"""

from __future__ import annotations

from typing import Final

from kube.prometheus import Counter, Gauge, Histogram, escape_label, render

VERDICTS: Final = ("allowed", "denied", "patched", "error", "bad_request")
BUCKETS: Final[tuple[float, ...]] = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
MAX_SERIES: Final = 2000
MAX_LABEL_CHARS: Final = 253  # the longest API group (a DNS subdomain); kinds are far shorter
OTHER: Final = "other"
REQUEST_LABELS: Final = ("endpoint", "group", "kind", "operation", "verdict")

__all__ = ["MAX_LABEL_CHARS", "MAX_SERIES", "OTHER", "VERDICTS", "Metrics", "escape_label"]


class Metrics:
    """The webhook's counters; `render()` produces the `/metrics` body."""

    def __init__(self, prefix: str = "tenantgate_webhook") -> None:
        self.prefix = prefix
        self._requests = Counter(
            f"{prefix}_requests_total",
            "Admission reviews answered, by endpoint, object kind, operation and verdict.",
            REQUEST_LABELS,
        )
        self._latency = Histogram(
            f"{prefix}_request_duration_seconds",
            "Time from request received to response ready, per endpoint.",
            ("endpoint",),
            BUCKETS,
        )
        self.in_flight = 0
        self.cert_reloads = 0
        self.cert_reload_failures = 0

    def record(self, endpoint: str, group: str, kind: str, operation: str, verdict: str, seconds: float) -> None:
        if verdict not in VERDICTS:
            raise ValueError(f"unknown verdict {verdict!r}")
        if len(group) > MAX_LABEL_CHARS or len(kind) > MAX_LABEL_CHARS:
            group = kind = OTHER
        key = (endpoint, group, kind, operation, verdict)
        if key not in self._requests.values and len(self._requests.values) >= MAX_SERIES:
            key = (endpoint, OTHER, OTHER, operation, verdict)
        self._requests.inc(*key)
        self._latency.observe(endpoint, value=seconds)

    def requests(self, **match: str) -> int:
        """Sum of the request counter over series whose labels equal `match` (tests and diagnostics)."""
        wanted = [(REQUEST_LABELS.index(name), value) for name, value in match.items()]
        return int(self._requests.total(lambda key: all(key[index] == value for index, value in wanted)))

    def render(self) -> str:
        p = self.prefix
        in_flight = Gauge(f"{p}_requests_in_flight", "Admission reviews being handled right now.")
        in_flight.set(value=self.in_flight)
        reloads = Counter(f"{p}_certificate_reloads_total", "Serving certificate reloads after the files changed.")
        reloads.inc(amount=self.cert_reloads)
        failures = Counter(
            f"{p}_certificate_reload_failures_total", "Changed certificate files that could not be loaded."
        )
        failures.inc(amount=self.cert_reload_failures)
        return render([self._requests, self._latency, in_flight, reloads, failures])
