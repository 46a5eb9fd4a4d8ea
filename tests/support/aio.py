"""``asyncio.run`` for tests that share a pytest worker with the browser tests: Playwright's sync
API keeps an event loop running in the worker's main thread for the whole session (one browser per
worker), and ``asyncio.run`` refuses to start inside a running loop. The coroutine runs to its end
in a thread of its own, with its own loop; its result or exception comes back to the caller."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="asyncio-run") as pool:
        return pool.submit(asyncio.run, coroutine).result()
