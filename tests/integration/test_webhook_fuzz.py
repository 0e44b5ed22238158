"""A few thousand generated hostile requests against a real TLS server: never a 5xx, always a reason.

The strategies live in `tests/fuzzing.py` (shared with `bench/fuzz.py`, which sends 20,000 and more). Runs are
derandomized, so CI sees the same requests every time and a failure reproduces; the whole module stays under
about a minute on a CI machine.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
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

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

FUZZ = settings(
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
PATHS = st.sampled_from(["/validate", "/mutate", "/admit"])


class _ErrorRecords(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(scope="module")
def errors() -> Iterator[_ErrorRecords]:
    handler = _ErrorRecords()
    logging.getLogger().addHandler(handler)
    yield handler
    logging.getLogger().removeHandler(handler)


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory, errors: _ErrorRecords) -> Iterator[FuzzTarget]:
    workdir: Path = tmp_path_factory.mktemp("fuzz-certs")
    served = serve_in_thread(workdir)
    yield served
    stop_target(served)


@pytest.fixture(scope="module")
def client(target: FuzzTarget) -> Iterator[Client]:
    connection = Client(target)
    yield connection
    connection.close()


@settings(FUZZ, max_examples=800)
@given(review=reviews())
def test_generated_reviews(target: FuzzTarget, client: Client, review: dict[str, object]) -> None:
    """Each review goes to every endpoint: both webhooks of the separate calls, and the single call."""
    for path in ("/mutate", "/validate", "/admit"):
        review_sender(review, path)(target, client)


@settings(FUZZ, max_examples=800)
@given(body=mutated_bytes(), path=PATHS)
def test_mutated_bytes(target: FuzzTarget, client: Client, body: bytes, path: str) -> None:
    bytes_sender(body, path)(target, client)


@settings(FUZZ, max_examples=400)
@given(request=http_requests())
def test_mutated_http(target: FuzzTarget, client: Client, request: RawRequest) -> None:
    raw_sender(request)(target, client)


def test_the_server_is_healthy_and_logged_no_error(target: FuzzTarget, errors: _ErrorRecords) -> None:
    """Runs after the fuzzing above (same module, file order): nothing broke, and nothing was logged as an error."""
    assert healthy(target)
    assert sum(target.statuses.values()) >= 2500, target.statuses
    assert all(status < 500 for status in target.statuses), target.statuses
    assert errors.records == [], [record.getMessage()[:300] for record in errors.records[:5]]
