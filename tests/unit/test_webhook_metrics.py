"""/metrics text format and /version contents."""

from __future__ import annotations

import re

import pytest

from webhook.metrics import MAX_LABEL_CHARS, MAX_SERIES, Metrics, escape_label
from webhook.version import version_info

pytestmark = pytest.mark.unit

SAMPLE = re.compile(r'^[a-z_]+(\{([a-z_]+="([^"\\]|\\.)*",?)*\})? [0-9.e+-]+$')


def test_every_line_is_a_comment_or_a_valid_sample() -> None:
    metrics = Metrics()
    metrics.record("/validate", "paas.kubeop.io", "Project", "CREATE", "denied", 0.0004)
    metrics.record("/mutate", "", "", "", "bad_request", 0.002)
    for line in metrics.render().splitlines():
        assert line.startswith("# HELP ") or line.startswith("# TYPE ") or SAMPLE.match(line), line


def test_request_counter_by_endpoint_group_kind_operation_verdict() -> None:
    metrics = Metrics()
    for _ in range(3):
        metrics.record("/validate", "paas.kubeop.io", "Project", "CREATE", "denied", 0.001)
    metrics.record("/validate", "paas.kubeop.io", "Project", "CREATE", "allowed", 0.001)
    text = metrics.render()
    assert (
        'tenantgate_webhook_requests_total{endpoint="/validate",group="paas.kubeop.io",kind="Project",'
        'operation="CREATE",verdict="denied"} 3'
    ) in text
    assert metrics.requests(verdict="allowed") == 1


def test_latency_histogram_is_cumulative_per_endpoint() -> None:
    metrics = Metrics()
    metrics.record("/mutate", "g", "K", "CREATE", "patched", 0.0004)
    metrics.record("/mutate", "g", "K", "CREATE", "patched", 0.003)
    metrics.record("/mutate", "g", "K", "CREATE", "patched", 30.0)
    text = metrics.render()
    assert 'tenantgate_webhook_request_duration_seconds_bucket{endpoint="/mutate",le="0.0005"} 1' in text
    assert 'tenantgate_webhook_request_duration_seconds_bucket{endpoint="/mutate",le="0.005"} 2' in text
    assert 'tenantgate_webhook_request_duration_seconds_bucket{endpoint="/mutate",le="5"} 2' in text
    assert 'tenantgate_webhook_request_duration_seconds_bucket{endpoint="/mutate",le="+Inf"} 3' in text
    assert 'tenantgate_webhook_request_duration_seconds_count{endpoint="/mutate"} 3' in text


def test_in_flight_gauge_is_rendered() -> None:
    metrics = Metrics()
    metrics.in_flight = 2
    assert "tenantgate_webhook_requests_in_flight 2" in metrics.render()


def test_label_values_are_escaped() -> None:
    assert escape_label('a"b\\c\nd') == 'a\\"b\\\\c\\nd'


def test_series_are_capped_against_label_flooding() -> None:
    metrics = Metrics()
    for index in range(MAX_SERIES + 50):
        metrics.record("/validate", "g", f"Kind{index}", "CREATE", "allowed", 0.001)
    assert metrics.requests(kind="other") == 50
    assert metrics.requests() == MAX_SERIES + 50


def test_overlong_label_values_become_other() -> None:
    metrics = Metrics()
    metrics.record("/validate", "g", "K" * (MAX_LABEL_CHARS + 1), "CREATE", "allowed", 0.001)
    metrics.record("/validate", "g" * 10_000, "Pod", "CREATE", "allowed", 0.001)
    assert metrics.requests(group="other", kind="other") == 2
    assert len(metrics.render()) < 4096


def test_unknown_verdict_is_rejected() -> None:
    with pytest.raises(ValueError, match="verdict"):
        Metrics().record("/validate", "g", "K", "CREATE", "maybe", 0.1)


def test_version_reports_package_version_and_build_environment() -> None:
    from importlib.metadata import version

    info = version_info({"TENANTGATE_GIT_COMMIT": "abc123", "TENANTGATE_BUILD_DATE": "2024-05-01T00:00:00Z"})
    assert info == {
        "service": "admission",
        "version": version("tenantgate"),
        "gitCommit": "abc123",
        "buildDate": "2024-05-01T00:00:00Z",
    }


def test_version_without_build_environment_says_unknown() -> None:
    info = version_info({})
    assert info["gitCommit"] == "unknown"
    assert info["buildDate"] == "unknown"
