"""Running the app: listen, then drain on SIGTERM exactly as INTERFACE.md says, and reload the
config on SIGHUP (an invalid one is kept out, with the reason logged)."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Awaitable, Callable

import structlog
from aiohttp import web

from router.app import swap_runtime
from router.appkeys import READINESS, RELOADER, RUNTIME, STARTUP_CONFIG
from router.config import ConfigError, state_changes

log = structlog.get_logger("freerouter")


class ListenError(Exception):
    """The listener could not be opened (the port taken, the host unknown): the OS's reason."""

    def __init__(self, host: str, port: int, reason: str) -> None:
        super().__init__(f"cannot listen on {host}:{port}: {reason}")


async def serve(
    app: web.Application, host: str, port: int, *, shutdown_delay_s: float, drain_timeout_s: float,
    on_started: Callable[[int], Awaitable[None]] | None = None,
) -> None:
    # handler_cancellation: a client that disconnects cancels its upstream request at once.
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=drain_timeout_s,
                           handler_cancellation=True, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        # The OS's words ("Address already in use"), not the event loop's longer wrapping.
        reason = os.strerror(exc.errno) if exc.errno and exc.errno > 0 else exc.strerror
        raise ListenError(host, port, reason or type(exc).__name__) from None
    bound = runner.addresses[0][1] if runner.addresses else port
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    if RELOADER in app:
        loop.add_signal_handler(signal.SIGHUP, lambda: _reload(app, drain_timeout_s))
    log.info("listening", host=host, port=bound,
             backends=len(app[RUNTIME].current.pool.backends))
    if on_started is not None:
        await on_started(bound)
    await stop.wait()
    # Drain: not ready at once, serve as usual for shutdown_delay_s so load balancers notice,
    # then close the listener and let in-flight requests finish within drain_timeout_s.
    app[READINESS].draining = True
    log.info("draining", shutdown_delay_s=shutdown_delay_s, drain_timeout_s=drain_timeout_s)
    await asyncio.sleep(shutdown_delay_s)
    await runner.cleanup()
    log.info("stopped")


def _reload(app: web.Application, grace_s: float) -> None:
    try:
        runtime = app[RELOADER]()
    except ConfigError as exc:
        log.error("reload rejected; keeping the current config", errors=exc.errors)
        return
    except Exception as exc:  # a reload must never take the server down
        log.error("reload failed; keeping the current config", error=str(exc))
        return
    swap_runtime(app, runtime, grace_s)
    log.info("config reloaded", backends=len(runtime.pool.backends))
    changed = state_changes(app[STARTUP_CONFIG], runtime.config)
    if changed:
        log.warning("state settings changed: a restart applies them; the running store is kept",
                    changed=list(changed))
