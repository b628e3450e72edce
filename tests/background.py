"""Builds that run in their own processes start at collection time, beside the session build.

Why: the hostile, twice-killed build (tests/fault_build.py) and the first-run core stage
(tests/test_first_run.py) each run ``service-insight materialize`` in child processes on data
folders of their own, while the session build (tests/conftest.py) runs in this process. They share
nothing (each data folder has its own warehouse, Dagster home, dbt parse and PII key), so on a
machine with two cores the child processes run beside the session build instead of after it. One
at a time, in the order the tests will ask for them; a test that needs one waits for it.

The work done in the background never touches this process's environment or settings: it gets
its folders as arguments and passes its environment to the children explicitly. ``SI_TEST_SERIAL=1``
builds each on first use instead, as before.
"""

from __future__ import annotations

import os
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable

_pool: ThreadPoolExecutor | None = None
_started: dict[str, Future] = {}


def enabled() -> bool:
    return os.environ.get("SI_TEST_SERIAL", "") not in ("1", "true", "yes")


def start(name: str, build: Callable[[], object]) -> None:
    """Queue ``build`` (one background build runs at a time, in the order queued)."""
    global _pool
    if name in _started:
        return
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="si-background-build")
    _started[name] = _pool.submit(build)


def take(name: str, build: Callable[[], object]):
    """The background build's result (waiting for it), or ``build()`` now when none was queued.

    A background build that raised raises here, in the test that needed it."""
    future = _started.pop(name, None)
    return future.result() if future is not None else build()


def shutdown() -> None:
    """Wait for queued builds at the end of the session (never leave child processes behind)."""
    global _pool
    if _pool is not None:
        for future in _started.values():
            future.cancel()
        _pool.shutdown(wait=True)
        _pool = None
    _started.clear()
