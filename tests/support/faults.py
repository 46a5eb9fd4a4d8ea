"""Fault injection for the providers' fakes: a share of the API calls a fake serves is answered
with what a real provider does on a bad day — 429 with ``Retry-After``, a 5xx, or a timeout.

A fake takes a ``Faults`` as its ``faults`` attribute (off by default: ``rate`` 0) and asks
``draw()`` once per API call. The kinds:

- ``429``: refused, ``Retry-After: <retry_after_s>``; nothing carried out;
- ``5xx``: 500, 502 or 503 by turn; nothing carried out;
- ``timeout``: held past the client's timeout, then the connection is dropped; nothing carried out;
- ``lost``: carried out, then the answer is held past the client's timeout and dropped (the
  caller cannot know the call succeeded: "request sent, answer lost").

Every draw is counted in ``counts`` (kind -> calls) so a harness can say what it injected.
"""

from __future__ import annotations

import random
import threading
from collections import Counter

KINDS = ("429", "5xx", "timeout", "lost")


class Faults:
    def __init__(
        self,
        rate: float = 0.0,
        *,
        seed: int = 0,
        kinds: tuple[str, ...] = KINDS,
        retry_after_s: int = 1,
        hang_s: float = 2.0,
    ) -> None:
        unknown = set(kinds) - set(KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds {sorted(unknown)}: use {KINDS}")
        self.rate = rate
        self.kinds = kinds
        self.retry_after_s = retry_after_s
        self.hang_s = hang_s
        self.counts: Counter[str] = Counter()
        self.release = threading.Event()  # set: hangs end at once (the fake is stopping)
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._turn = 0

    def draw(self) -> str | None:
        """The fault for this call, or None to serve it normally."""
        with self._lock:
            self.counts["calls"] += 1
            if self.rate <= 0 or self._rng.random() >= self.rate:
                return None
            kind = self._rng.choice(self.kinds)
            self.counts[kind] += 1
            return kind

    def status_5xx(self) -> int:
        with self._lock:
            self._turn += 1
            return (500, 502, 503)[self._turn % 3]

    def hang(self) -> None:
        """Hold the answer past the client's timeout (or until the fake stops)."""
        self.release.wait(self.hang_s)

    @property
    def injected(self) -> int:
        return sum(n for kind, n in self.counts.items() if kind != "calls")
