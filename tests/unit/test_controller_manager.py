"""The manager shares informers by exact key, never answers "the informer of a kind" with a filtered one, and
runs the reconciler setups its caller names; it says when the initial pass is over."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from controller.config import ManagerConfig
from controller.manager import Manager, build_manager
from controller.queue import WorkQueue
from kube.client import Connection

pytestmark = pytest.mark.unit


def manager() -> Manager:
    return Manager(ManagerConfig(health_port=None), Connection("http://127.0.0.1:1", False))


def test_same_key_shares_one_informer() -> None:
    m = manager()
    first = m.informer("v1", "ServiceAccount", field_selector="metadata.name=default")
    assert m.informer("v1", "ServiceAccount", field_selector="metadata.name=default") is first


def test_a_filtered_informer_never_stands_for_the_whole_kind() -> None:
    m = manager()
    filtered = m.informer("v1", "ServiceAccount", label_selector="app.kubernetes.io/managed-by=tenantgate")
    with pytest.raises(KeyError):
        m.informer_of("v1", "ServiceAccount")
    whole = m.informer("v1", "ServiceAccount")
    assert m.informer_of("v1", "ServiceAccount") is whole
    assert whole is not filtered


def test_build_manager_runs_the_named_setups_and_refuses_unknown_names() -> None:
    ran: list[str] = []
    setups = {"first": lambda m: ran.append("first"), "second": lambda m: ran.append("second")}
    connection = Connection("http://127.0.0.1:1", False)
    build_manager(ManagerConfig(health_port=None, reconcilers=["second"]), setups, connection)
    assert ran == ["second"]
    build_manager(ManagerConfig(health_port=None), setups, connection)
    assert ran == ["second", "first", "second"]
    with pytest.raises(ValueError, match="unknown reconciler"):
        build_manager(ManagerConfig(health_port=None, reconcilers=["third"]), setups, connection)


def test_fit_name_keeps_short_names_and_bounds_long_ones() -> None:
    from kube.objects import fit_name

    assert fit_name("shop", "web") == "shop-web"
    long_a, long_b = fit_name("n" * 70 + "a", "web"), fit_name("n" * 70 + "b", "web")
    assert len(long_a) <= 63
    assert long_a.endswith("-web")
    assert long_a != long_b


class _Queued:
    """A controller as the catch-up watch sees it: only its queue."""

    def __init__(self) -> None:
        self.queue = WorkQueue()


async def test_caught_up_once_every_queue_drained_even_if_one_wakes_another(
    caplog: pytest.LogCaptureFixture,
) -> None:
    subject = manager()
    first, second = _Queued(), _Queued()
    subject.controllers = {"First": first, "Second": second}  # type: ignore[dict-item]
    first.queue.add("ns/a")
    watch = asyncio.create_task(subject._watch_catch_up(time.monotonic() - 5))
    assert await first.queue.get() == "ns/a"
    second.queue.add("ns/b")  # the first reconcile wakes the other controller before it finishes
    first.queue.done("ns/a")
    await asyncio.sleep(0.01)
    assert not subject.caught_up.is_set()
    assert await second.queue.get() == "ns/b"
    second.queue.done("ns/b")
    with caplog.at_level(logging.INFO, logger="controller.manager"):
        await asyncio.wait_for(watch, 1)
    assert subject.caught_up.is_set()
    assert subject.metrics.caught_up.get() >= 5, "counted from when the workers started, not from the watch"
    assert [r.getMessage() for r in caplog.records] == ["controllers caught up"]
