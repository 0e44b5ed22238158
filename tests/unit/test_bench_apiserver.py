"""The pure pieces of the API-server benchmark: percentiles, histogram deltas from scrapes, and connection counts."""

from __future__ import annotations

import importlib
from pathlib import Path

apiserver = importlib.import_module("bench.apiserver")

SCRAPE_BEFORE = """\
# HELP apiserver_request_duration_seconds x
apiserver_request_duration_seconds_sum{group="",resource="pods",verb="POST"} 1.5
apiserver_request_duration_seconds_count{group="",resource="pods",verb="POST"} 100
apiserver_request_duration_seconds_sum{group="",resource="pods",verb="GET"} 9
apiserver_admission_webhook_admission_duration_seconds_sum{name="v.tenantgate.io",type="validating"} 0.2
apiserver_admission_webhook_admission_duration_seconds_count{name="v.tenantgate.io",type="validating"} 100
apiserver_admission_webhook_admission_duration_seconds_sum{name="mutate.tenantgate.io",type="admit"} 0.1
"""
SCRAPE_AFTER = SCRAPE_BEFORE.replace("} 1.5", "} 3.5").replace("} 100\n", "} 300\n").replace("} 0.2", "} 0.8")


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert apiserver.percentile(values, 0.5) == 50.0
    assert apiserver.percentile(values, 0.99) == 99.0
    assert apiserver.percentile([7.0], 0.99) == 7.0


def test_metric_total_sums_matching_series_only() -> None:
    assert apiserver.metric_total(SCRAPE_BEFORE, "apiserver_request_duration_seconds_sum", verb="POST") == 1.5
    assert apiserver.metric_total(SCRAPE_BEFORE, "apiserver_request_duration_seconds_sum") == 10.5
    validating = apiserver.metric_total(
        SCRAPE_BEFORE, "apiserver_admission_webhook_admission_duration_seconds_sum", type="validat*"
    )
    assert validating == 0.2


def test_clock_is_the_difference_between_scrapes() -> None:
    create = apiserver.clock(SCRAPE_BEFORE, SCRAPE_AFTER, "apiserver_request_duration_seconds", verb="POST")
    assert (create.seconds, create.calls) == (2.0, 200)
    assert create.mean_ms == 10.0
    calls = apiserver.clock(
        SCRAPE_BEFORE, SCRAPE_AFTER, "apiserver_admission_webhook_admission_duration_seconds", type="validat*"
    )
    assert round(calls.mean_ms, 6) == 3.0
    named = apiserver.clock(
        SCRAPE_BEFORE, SCRAPE_AFTER, "apiserver_admission_webhook_admission_duration_seconds", name="v.tenantgate.io"
    )
    assert named.calls == 200  # a label called `name` is a label, not the metric


def test_established_peers_reads_the_kernel_table(tmp_path: Path) -> None:
    table = tmp_path / "tcp"
    table.write_text(
        "  sl  local_address rem_address   st tx_queue rx_queue\n"
        "   0: 0100007F:1F90 0100007F:C350 01 00000000:00000000\n"  # 127.0.0.1:8080 <- :50000, established
        "   1: 0100007F:1F90 0100007F:C351 06 00000000:00000000\n"  # TIME_WAIT: not counted
        "   2: 0100007F:1F91 0100007F:C352 01 00000000:00000000\n"  # another port
        "   3: 0100007F:1F90 0100007F:C353 01 00000000:00000000\n"
    )
    assert apiserver.established_peers(8080, [table]) == {"0100007F:C350", "0100007F:C353"}
