"""The controller's metrics: the API client's and informers' series plus reconciles, queues, Events and leadership.

Rendered by `kube.prometheus`, the one text-format renderer; one instance per Manager, so in-process tests do not
share counters.
"""

from __future__ import annotations

from kube.prometheus import ClientMetrics, Counter, Family, Gauge, Histogram


class Metrics(ClientMetrics):
    def __init__(self) -> None:
        super().__init__()
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
        self.events_emitted = Counter(
            "tenantgate_controller_events_total", "Kubernetes Events emitted, by type and reason.", ("type", "reason")
        )
        self.caught_up = Gauge(
            "tenantgate_controller_caught_up_seconds",
            "Seconds from the start of the workers until every queue first drained: the initial pass is over.",
        )
        self.leader = Gauge("tenantgate_controller_leader", "1 while this replica holds the leader Lease.")
        self.events_sent = Counter(
            "tenantgate_lifecycle_events_sent_total", "Lifecycle events delivered (2xx), by type.", ("type",)
        )
        self.events_failed = Counter(
            "tenantgate_lifecycle_events_failed_total",
            "Lifecycle events given up on (refused, or out of attempts), by type and reason.",
            ("type", "reason"),
        )
        self.events_retries = Counter(
            "tenantgate_lifecycle_events_retries_total",
            "Failed delivery attempts that were retried, by type.",
            ("type",),
        )
        self.events_dropped = Counter(
            "tenantgate_lifecycle_events_dropped_total",
            "Lifecycle events dropped before any attempt (queue full), by type and reason.",
            ("type", "reason"),
        )
        self.events_latency = Histogram(
            "tenantgate_lifecycle_event_attempt_duration_seconds",
            "Duration of one delivery attempt, by type.",
            ("type",),
        )
        self.events_queue_depth = Gauge(
            "tenantgate_lifecycle_events_pending", "Lifecycle events waiting to be delivered or retried."
        )
        self.provider_requests = Counter(
            "tenantgate_provider_requests_total",
            "Calls to the DNS and ACME HTTP providers, by provider, action and outcome "
            "(accepted, absent, http_4xx, http_5xx, http_other, unreachable, timeout).",
            ("provider", "action", "outcome"),
        )
        self.provider_latency = Histogram(
            "tenantgate_provider_request_duration_seconds",
            "Duration of one call to a DNS or ACME HTTP provider, answered or not, by provider.",
            ("provider",),
        )
        self.tenant_usage = Gauge(
            "tenantgate_tenant_usage",
            "What a tenant's project consumes now: requests/limits of unfinished pods, storage requests, pods.",
            ("tenant", "project", "resource"),
        )

    def families(self) -> list[Family]:
        return [
            self.reconcile_total,
            self.reconcile_errors,
            self.reconcile_duration,
            self.queue_depth,
            self.queue_adds,
            *super().families(),
            self.events_emitted,
            self.caught_up,
            self.leader,
            self.events_sent,
            self.events_failed,
            self.events_retries,
            self.events_dropped,
            self.events_latency,
            self.events_queue_depth,
            self.provider_requests,
            self.provider_latency,
            self.tenant_usage,
        ]


def controller_metrics(shared: ClientMetrics) -> Metrics:
    """The Manager's metrics when `shared` (a client's or an informer's) is them; fresh ones otherwise."""
    return shared if isinstance(shared, Metrics) else Metrics()
