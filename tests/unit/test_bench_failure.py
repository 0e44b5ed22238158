"""The pure pieces of the failure benchmark: naming the cause of a failed write, and the balancer's choice."""

from __future__ import annotations

import asyncio
import importlib
import ssl
from collections import Counter

failure = importlib.import_module("bench.failure")
balancer = importlib.import_module("bench.balancer")

URL = "https://localhost:40123/mutate?timeout=10s"


def failed_call(error: str, hook: str = "mutate.tenantgate.io") -> str:
    """The message the API server answers with when a webhook call fails (failurePolicy Fail)."""
    return f'Internal error occurred: failed calling webhook "{hook}": failed to call webhook: Post "{URL}": {error}'


def test_cause_names_the_webhook_and_what_broke_in_the_call() -> None:
    assert (
        failure.cause_of(500, failed_call("EOF")) == "HTTP 500, webhook mutate.tenantgate.io: connection closed (EOF)"
    )
    reset = failed_call("read tcp 127.0.0.1:5->127.0.0.1:6: read: connection reset by peer", "validate.tenantgate.io")
    assert failure.cause_of(500, reset) == "HTTP 500, webhook validate.tenantgate.io: connection reset"
    refused = failed_call("dial tcp 127.0.0.1:40123: connect: connection refused")
    assert failure.cause_of(500, refused).endswith(": connection refused")
    unknown_ca = failed_call("tls: failed to verify certificate: x509: certificate signed by unknown authority")
    assert failure.cause_of(500, unknown_ca).endswith(": certificate not trusted")
    idle = failed_call("http: server closed idle connection")
    assert failure.cause_of(500, idle).endswith(": idle connection closed as the review went out")
    pipe = failed_call("write tcp 127.0.0.1:5->127.0.0.1:6: write: broken pipe")
    assert failure.cause_of(500, pipe).endswith(": connection closed (broken pipe)")
    timeout = failed_call("context deadline exceeded")
    assert failure.cause_of(500, timeout).endswith(": timeout")


def test_cause_of_an_unrecognised_call_failure_keeps_the_error_words() -> None:
    assert failure.cause_of(500, failed_call("something new happened")).endswith(": something new happened")


def test_cause_of_a_denial_is_its_status_and_first_words() -> None:
    message = 'admission webhook "validate.tenantgate.io" denied the request: spec.containers[0].image is not allowed'
    expected = 'HTTP 403: admission webhook "validate.tenantgate.io" denied the request: spec.containers[0].image is'
    assert failure.cause_of(403, message) == expected


def test_client_cause_singles_out_untrusted_certificates() -> None:
    verify = ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")
    assert failure.client_cause(verify) == "certificate not trusted"
    assert failure.client_cause(ConnectionResetError("reset")) == "ConnectionResetError"


def test_summary_lists_causes_most_frequent_first() -> None:
    assert failure.summarise(Counter({"b": 1, "a": 3})) == "a: 3; b: 1"
    assert failure.summarise(Counter()) == "none"


def test_writes_signal_each_milestone_once_reached() -> None:
    async def scenario() -> tuple[bool, bool]:
        writes = failure.Writes()
        third = writes.reached(2)
        writes.record(0.1)
        before = third.is_set()
        writes.record(0.1)
        return before, third.is_set()

    assert asyncio.run(scenario()) == (False, True)


def test_balancer_sends_new_connections_round_robin_to_ready_backends_only() -> None:
    a, b, c = (balancer.Backend("127.0.0.1", port, ready=True) for port in (1, 2, 3))
    b.ready = False
    chooser = balancer.Balancer([a, b, c])
    assert [chooser.candidates() for _ in range(3)] == [[a, c], [c, a], [a, c]]
    a.ready = c.ready = False
    assert chooser.candidates() == []


def test_backend_parses_host_and_port() -> None:
    backend = balancer.parse_backend("127.0.0.1:8443")
    assert (backend.host, backend.port, backend.ready) == ("127.0.0.1", 8443, False)


def test_graceful_stops_are_read_from_the_webhook_log() -> None:
    log = (
        "server.started host=127.0.0.1 port=1\n"
        "server.stopping port=1 in_flight=2\n"
        "server.stopped port=1 abandoned=0 left_open=3\n"
        "server.stopped port=1 abandoned=2 left_open=0\n"
    )
    stops = failure.graceful_stops(log)
    assert stops == [(0, 3), (2, 0)]
    assert (
        failure.stops_line(stops) == "2 graceful stops logged by the replicas over the run, 2 reviews abandoned in all"
    )
    assert failure.graceful_stops("server.started port=1\n") == []


def test_plans_hold_only_the_shipped_graceful_stop_to_the_target() -> None:
    held = {plan.slug for plan in failure.PLANS if plan.counts_against_target}
    assert held == {"undisturbed", "sigterm"}
    labels = [plan.label for plan in failure.PLANS]
    assert labels == ["none", "SIGTERM, replicas run with `--drain-grace 0`", "SIGTERM", "SIGKILL"]


def test_outages_are_spread_evenly_and_never_overlap() -> None:
    assert failure.outage_marks(300, 1) == [(100, 200)]
    marks = failure.outage_marks(3000, 3)
    assert marks == [(429, 857), (1286, 1714), (2143, 2571)]
    flat = [mark for pair in marks for mark in pair]
    assert flat == sorted(flat)
    assert flat[-1] < 3000


def test_target_sentences_say_by_how_much_a_target_is_missed() -> None:
    assert failure.graceful_target(0, 3000) == ""
    assert "missed by 2 of 3,000 creates" in failure.graceful_target(2, 3000)
    assert "about 4 per kill" in failure.killed(12, 3000, 3)
    assert failure.killed(0, 3000, 3).endswith("In this run no review was caught that way.")
    assert failure.failed_writes(1) == "1 failed write"
    assert failure.failed_writes(3) == "3 failed writes"


def test_refused_connections_are_summed_over_replicas() -> None:
    line = failure.refused_line({"refused replica a": 9, "refused replica b": 16, "connections replica a": 3})
    assert line.startswith("25 new connection(s) reached a replica whose listener had just closed")
