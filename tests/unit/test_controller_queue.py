"""Work queue semantics: dedupe, per-key serial processing, backoff growth and cap, delayed adds, shutdown."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from controller.queue import Backoff, WorkQueue

pytestmark = pytest.mark.unit


async def test_dedupes_keys_waiting_in_the_queue() -> None:
    queue = WorkQueue()
    for _ in range(3):
        queue.add("a")
    queue.add("b")
    assert len(queue) == 2
    assert await queue.get() == "a"
    assert await queue.get() == "b"


async def test_key_added_while_processing_is_requeued_once_after_done() -> None:
    queue = WorkQueue()
    queue.add("a")
    key = await queue.get()
    assert key == "a"
    queue.add("a")
    queue.add("a")
    assert len(queue) == 0, "a key in flight must not be handed to a second worker"
    queue.done("a")
    assert len(queue) == 1
    assert await queue.get() == "a"
    queue.done("a")
    assert len(queue) == 0


async def test_one_reconcile_per_key_at_a_time_with_many_workers() -> None:
    queue = WorkQueue()
    running: dict[str, int] = {}
    overlap: list[str] = []
    processed: list[str] = []

    async def worker() -> None:
        while (key := await queue.get()) is not None:
            running[key] = running.get(key, 0) + 1
            if running[key] > 1:
                overlap.append(key)
            await asyncio.sleep(0.01)
            processed.append(key)
            running[key] -= 1
            queue.done(key)

    workers = [asyncio.create_task(worker()) for _ in range(4)]
    for _ in range(5):
        for key in ("a", "b", "c"):
            queue.add(key)
        await asyncio.sleep(0.004)
    await asyncio.sleep(0.1)
    queue.shutdown()
    await asyncio.gather(*workers)
    assert overlap == []
    assert set(processed) == {"a", "b", "c"}


def test_backoff_doubles_from_base_and_stops_at_cap() -> None:
    backoff = Backoff(base=0.005, cap=1000.0, jitter=0.0)
    delays = [backoff.next_delay("k") for _ in range(20)]
    assert delays[:4] == pytest.approx([0.005, 0.01, 0.02, 0.04])
    assert all(b >= a for a, b in itertools.pairwise(delays))
    assert max(delays) == 1000.0
    assert backoff.delay_for(200) == 1000.0  # no overflow far past the cap


def test_backoff_jitter_stays_within_bounds_and_cap() -> None:
    backoff = Backoff(base=1.0, cap=3.0, jitter=0.5, rng=lambda: 1.0)
    assert backoff.next_delay("k") == pytest.approx(1.5)
    assert backoff.next_delay("k") == pytest.approx(3.0)  # 2 * 1.5 = 3.0
    assert backoff.next_delay("k") == pytest.approx(3.0)  # capped, jitter never exceeds it


def test_backoff_is_per_key_and_forget_resets() -> None:
    backoff = Backoff(base=1.0, jitter=0.0)
    backoff.next_delay("a")
    backoff.next_delay("a")
    assert backoff.next_delay("b") == 1.0
    backoff.forget("a")
    assert backoff.next_delay("a") == 1.0


async def test_rate_limited_add_waits_for_the_backoff() -> None:
    queue = WorkQueue(Backoff(base=0.05, jitter=0.0))
    delay = queue.add_rate_limited("a")
    assert delay == pytest.approx(0.05)
    assert len(queue) == 0
    assert queue.delayed == 1
    assert await asyncio.wait_for(queue.get(), 1.0) == "a"


async def test_requeue_after_keeps_the_earliest_time() -> None:
    queue = WorkQueue()
    queue.add_after("a", 5.0)
    queue.add_after("a", 0.02)
    queue.add_after("a", 10.0)
    assert queue.delayed == 1
    started = asyncio.get_running_loop().time()
    assert await asyncio.wait_for(queue.get(), 1.0) == "a"
    assert asyncio.get_running_loop().time() - started < 1.0


async def test_add_after_zero_adds_at_once() -> None:
    queue = WorkQueue()
    queue.add_after("a", 0)
    assert len(queue) == 1


async def test_shutdown_wakes_waiting_workers_and_refuses_new_keys() -> None:
    queue = WorkQueue()
    waiting = asyncio.create_task(queue.get())
    await asyncio.sleep(0)
    queue.add_after("later", 10)
    queue.shutdown()
    assert await waiting is None
    queue.add("a")
    assert len(queue) == 0
    assert queue.delayed == 0


async def test_on_add_is_called_for_each_new_key() -> None:
    added: list[str] = []
    queue = WorkQueue(on_add=added.append)
    queue.add("a")
    queue.add("a")
    queue.add("b")
    assert added == ["a", "b"]


async def test_idle_only_when_nothing_waits_and_nothing_is_in_flight() -> None:
    queue = WorkQueue()
    assert queue.idle
    await asyncio.wait_for(queue.wait_idle(), 1)
    queue.add("a")
    assert not queue.idle
    key = await queue.get()
    assert key == "a"
    assert not queue.idle, "a key in flight is work not yet done"
    waiter = asyncio.create_task(queue.wait_idle())
    queue.add("a")  # dirty while in flight: done() hands it out again
    queue.done("a")
    await asyncio.sleep(0)
    assert not waiter.done()
    assert await queue.get() == "a"
    queue.done("a")
    await asyncio.wait_for(waiter, 1)
    assert queue.idle


async def test_a_delayed_key_is_not_pending_work() -> None:
    queue = WorkQueue()
    queue.add_after("a", 60)
    assert queue.idle
    assert queue.delayed == 1
    queue.shutdown()
