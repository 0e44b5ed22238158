"""A keyed work queue with the semantics controllers rely on (client-go's workqueue, rebuilt for asyncio).

- **Dedupe**: a key waiting in the queue is there once, however many events named it.
- **Per-key serial**: a key being processed is not handed to another worker; if it is added meanwhile it is
  marked dirty and queued again when the first worker calls `done`, so the latest state is always reconciled
  and never twice at once.
- **Rate-limited retry**: `add_rate_limited` waits an exponential, jittered, capped delay per key (5 ms doubling
  to 1000 s by default); `forget` resets it after a success.
- **Delayed adds** for `requeue_after`; the earliest pending time for a key wins.
- **Shutdown**: `get` returns None at once; keys in flight finish and call `done`.
"""

from __future__ import annotations

import asyncio
import collections
import random
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Backoff:
    """Per-key exponential backoff: `base * factor**failures`, times up to `1 + jitter`, never above `cap`."""

    base: float = 0.005
    cap: float = 1000.0
    factor: float = 2.0
    jitter: float = 0.1
    rng: Callable[[], float] = random.random
    _failures: dict[str, int] = field(default_factory=dict)

    def failures(self, key: str) -> int:
        return self._failures.get(key, 0)

    def delay_for(self, failures: int) -> float:
        """The un-jittered delay after `failures` consecutive failures (pure, for tests and docs)."""
        exponent = min(failures, 64)  # 2**64 * 5 ms is far past any cap; avoids float overflow
        return min(self.cap, self.base * self.factor**exponent)

    def next_delay(self, key: str) -> float:
        failures = self._failures.get(key, 0)
        self._failures[key] = failures + 1
        delay = self.delay_for(failures) * (1.0 + self.jitter * self.rng())
        return min(self.cap, delay)

    def forget(self, key: str) -> None:
        self._failures.pop(key, None)


class WorkQueue:
    def __init__(self, backoff: Backoff | None = None, on_add: Callable[[str], None] | None = None) -> None:
        self.backoff = backoff or Backoff()
        self._queue: collections.deque[str] = collections.deque()
        self._dirty: set[str] = set()
        self._processing: set[str] = set()
        self._timers: dict[str, tuple[float, asyncio.TimerHandle]] = {}
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._shutdown = False
        self._on_add = on_add
        self._idle = asyncio.Event()
        self._idle.set()

    def __len__(self) -> int:
        """Keys ready to be handed out (not counting those in flight or waiting on a timer)."""
        return len(self._queue)

    @property
    def delayed(self) -> int:
        return len(self._timers)

    @property
    def idle(self) -> bool:
        """Nothing waiting and nothing in flight (keys on a timer do not count: they are work for later)."""
        return not self._queue and not self._processing

    async def wait_idle(self) -> None:
        """Until the queue is idle (at once if it is)."""
        await self._idle.wait()

    def add(self, key: str) -> None:
        if self._shutdown or key in self._dirty:
            return
        self._dirty.add(key)
        self._idle.clear()
        if self._on_add is not None:
            self._on_add(key)
        if key in self._processing:
            return  # re-queued by done()
        self._queue.append(key)
        self._wake_one()

    def add_after(self, key: str, delay: float) -> None:
        if self._shutdown:
            return
        if delay <= 0:
            self.add(key)
            return
        loop = asyncio.get_running_loop()
        when = loop.time() + delay
        pending = self._timers.get(key)
        if pending is not None:
            if pending[0] <= when:
                return
            pending[1].cancel()
        self._timers[key] = (when, loop.call_at(when, self._fire, key))

    def add_rate_limited(self, key: str) -> float:
        delay = self.backoff.next_delay(key)
        self.add_after(key, delay)
        return delay

    def forget(self, key: str) -> None:
        self.backoff.forget(key)

    def _fire(self, key: str) -> None:
        self._timers.pop(key, None)
        self.add(key)

    async def get(self) -> str | None:
        """The next key to process, or None once the queue is shut down."""
        while not self._queue or self._shutdown:
            if self._shutdown:
                return None
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            finally:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
        key = self._queue.popleft()
        self._processing.add(key)
        self._dirty.discard(key)
        return key

    def done(self, key: str) -> None:
        self._processing.discard(key)
        if key in self._dirty and not self._shutdown:
            self._queue.append(key)
            self._wake_one()
        elif self.idle:
            self._idle.set()

    def shutdown(self) -> None:
        self._shutdown = True
        for _, handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)

    def _wake_one(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
