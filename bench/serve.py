"""Serving an aiohttp app until SIGTERM/SIGINT, announcing the bound port on stdout.

The ``READY <port>`` line lets a parent wait on an event (the line) instead of
polling, and lets the child bind port 0 so parallel runs never collide.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Callable

from aiohttp import web

READY_PREFIX = "READY "
# 1,000 streams are opened at once in one scenario; the default backlog of 128
# would turn that burst into SYN retries measured as latency.
LISTEN_BACKLOG = 4096


async def serve_until_stopped(
    app: web.Application, host: str, port: int, on_started: Callable[[], object] | None = None
) -> None:
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=LISTEN_BACKLOG)
    await site.start()
    bound = _bound_port(runner, port)
    if on_started is not None:
        on_started()
    sys.stdout.write(f"{READY_PREFIX}{bound}\n")
    sys.stdout.flush()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def _bound_port(runner: web.AppRunner, requested: int) -> int:
    for address in runner.addresses:
        if isinstance(address, tuple) and len(address) >= 2:
            return int(address[1])
    return requested
