"""Blocking calls kept off the event loop, so a slow database never freezes the server.

Reads (key checks, prior studies) are quick even while another process writes (SQLite in
WAL mode lets readers through): they run in the default thread pool, as FastAPI runs a
plain ``def`` route. Writes (the audit trail) wait for the store's write lock, up to its
busy timeout, when another process holds it (a long ``dexacode history import``): they
run in a small pool of their own, so that a locked store cannot take every thread the
server has (static files are read in the default pool too).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import anyio.to_thread
from anyio import CapacityLimiter
from anyio.lowlevel import RunVar
from starlette.concurrency import run_in_threadpool

__all__ = ["db_write", "thread"]

P = ParamSpec("P")
T = TypeVar("T")

_WRITERS = 4
_writers: RunVar[CapacityLimiter] = RunVar("dexacode_writers")  # one per event loop


def _writer_limit() -> CapacityLimiter:
    try:
        return _writers.get()
    except LookupError:
        limiter = CapacityLimiter(_WRITERS)
        _writers.set(limiter)
        return limiter


async def thread(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """``fn(*args, **kwargs)`` in the default thread pool."""
    return await run_in_threadpool(fn, *args, **kwargs)


async def db_write(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """``fn(*args, **kwargs)``, work that writes to the database, in the writers' own
    thread pool."""
    return await anyio.to_thread.run_sync(
        functools.partial(fn, *args, **kwargs), limiter=_writer_limit()
    )
