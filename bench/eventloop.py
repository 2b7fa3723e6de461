"""Choosing the event loop: uvloop when it is installed, the standard loop otherwise."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def run(main: Coroutine[Any, Any, T]) -> T:
    """Run ``main`` to completion on uvloop when available.

    The benchmark compares processes that all use the same loop, so the load
    generator must not be the slower party because it fell back silently.
    """
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        return runner.run(main)


def loop_name() -> str:
    """The loop implementation ``run`` uses, for the report."""
    return "uvloop" if _loop_factory() is not None else "asyncio"
