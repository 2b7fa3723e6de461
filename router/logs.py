"""Structured logs: one JSON object per line by default (what log shippers parse), a coloured
console rendering for humans on request. Three kinds of lines: one access line per client
request, one line per backend state transition, and a pool summary at startup.

Keys and prompt text never reach a log line: callers pass only names, ids and numbers, and a
processor redacts any field whose name says it may hold a secret or user content, in case a
future caller passes one anyway."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import sys
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TextIO

import orjson
import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from router.redact import MASK, redact
from router.types import Api, Backend

REDACTED = MASK

# A field is sensitive when one of the words of its name (split on _ and -) is one of these...
SENSITIVE_WORDS = frozenset({
    "key", "keys", "apikey", "authorization", "auth", "bearer", "token", "secret", "password",
    "credential", "credentials", "cookie", "messages", "prompt", "system", "content", "input",
    "body", "text",
})
# ...unless its last word says it holds a count, a size, a duration or a name, not the thing.
SAFE_LAST_WORDS = frozenset({"tokens", "count", "chars", "bytes", "len", "ms", "s", "name", "env",
                             "id"})

# Secret shapes that may hide inside free text such as a relayed upstream error.
SECRET_SHAPES = re.compile(
    r"(?i:\bbearer\s+[\w.~+/=-]+)"
    r"|\b(?:sk|gsk|sk-or|sk-ant|csk|hf|xai|pplx)[-_][\w-]{8,}"
    r"|\bAIza[\w-]{20,}"
)
# Fields whose values the router itself chooses (config names, enums, its own clock): scrubbing
# them on every access line would cost more than the rest of the line. Not request_id: a client
# may choose it.
ROUTER_CHOSEN = frozenset({"api", "route", "strategy", "backend", "client", "level", "timestamp",
                           "status", "attempts", "duration_ms", "ttft_ms", "prompt_tokens",
                           "completion_tokens", "stream"})
# Field names are chosen by code, so a few hundred at most; past this, stop remembering.
MAX_REMEMBERED_FIELDS = 1024

_WORD_SPLIT = re.compile(r"[_\-]+")
# Values that cannot hold text, checked by exact type first: most access-line fields are these.
_PLAIN = frozenset({int, float, bool, type(None)})


def is_sensitive(field: str) -> bool:
    words = [word for word in _WORD_SPLIT.split(field.lower()) if word]
    if not words or words[-1] in SAFE_LAST_WORDS:
        return False
    return any(word in SENSITIVE_WORDS for word in words)


class Redactor:
    """structlog processor: blank out sensitive fields (nested ones too) and secret-shaped
    substrings of text. It runs on every access line, so field verdicts are remembered."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._verdicts: dict[str, bool] = {}
        self._secrets = tuple(secret for secret in secrets if secret)

    def sensitive(self, field: str) -> bool:
        verdict = self._verdicts.get(field)
        if verdict is None:
            verdict = is_sensitive(field)
            if len(self._verdicts) < MAX_REMEMBERED_FIELDS:
                self._verdicts[field] = verdict
        return verdict

    def scrub(self, value: Any) -> Any:
        if type(value) in _PLAIN:
            return value
        if isinstance(value, str):
            return SECRET_SHAPES.sub(REDACTED, redact(value, self._secrets))
        if isinstance(value, Mapping):
            return {k: REDACTED if self.sensitive(str(k)) else self.scrub(v)
                    for k, v in value.items()}
        if isinstance(value, list | tuple | set | frozenset):
            return [self.scrub(item) for item in value]
        return value

    def __call__(self, _logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
        for field, value in event_dict.items():
            if field in ROUTER_CHOSEN:
                continue  # values from the config or the code, never from a client
            # The message itself is never blanked, only scrubbed: it says what happened.
            blank = field != "event" and self.sensitive(field)
            event_dict[field] = REDACTED if blank else self.scrub(value)
        return event_dict


def _orjson_dumps(obj: Any, **_: Any) -> str:
    return orjson.dumps(obj, default=repr).decode()


def configure(console: bool = False, level: str = "info", stream: TextIO | None = None,
              secrets: Iterable[str] = ()) -> None:
    """Set up structlog for the process; call once at startup (and again in tests, or with the
    configured provider and client keys once they are known: `secrets` are masked wherever they
    appear in a line, whatever the field)."""
    try:
        threshold = logging.getLevelNamesMapping()[level.upper()]
    except KeyError:
        raise ValueError(f"unknown log level {level!r}: use debug, info, warning or error") from None
    renderer: Processor = (
        structlog.dev.ConsoleRenderer(colors=stream is None and sys.stdout.isatty())
        if console else structlog.processors.JSONRenderer(serializer=_orjson_dumps)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            Redactor(secrets),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(threshold),
        logger_factory=structlog.PrintLoggerFactory(stream if stream is not None else sys.stdout),
        # Reconfiguring (tests, a console flag) must take effect on loggers already handed out.
        cache_logger_on_first_use=False,
    )
    _SINK.configure(None if console else (stream if stream is not None else sys.stdout),
                    threshold, secrets)


def logger() -> structlog.typing.FilteringBoundLogger:
    bound: structlog.typing.FilteringBoundLogger = structlog.get_logger("freerouter")
    return bound


# Access lines by status class: a 5xx means the router could not serve, worth a warning.
_ACCESS_LEVEL_BY_CLASS: Mapping[int, int] = {1: logging.INFO, 2: logging.INFO, 3: logging.INFO,
                                              4: logging.INFO, 5: logging.WARNING}


def access_log(
    *,
    request_id: str,
    api: Api,
    route: str,
    status: int,
    duration_ms: float,
    attempts: int = 0,
    strategy: str | None = None,
    backend: str | None = None,
    ttft_ms: float | None = None,
    prompt_tokens: int | None = None,
    completion_tokens: int | None = None,
    client: str | None = None,
    stream: bool = False,
    error: str | None = None,
) -> None:
    """One line per client request. `client` is the client key's configured NAME, never the key;
    `backend` is the one that answered (None when none was tried or all failed)."""
    level = _ACCESS_LEVEL_BY_CLASS.get(status // 100, logging.WARNING)
    if level < _SINK.threshold:
        return
    fields: dict[str, Any] = {
        "request_id": request_id, "api": api.value, "route": route, "strategy": strategy,
        "backend": backend, "attempts": attempts, "status": status,
        "duration_ms": round(duration_ms, 1),
        "ttft_ms": None if ttft_ms is None else round(ttft_ms, 1),
        "prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
        "client": client, "stream": stream, "error": error,
    }
    if not _SINK.write(level, fields):
        logger().log(level, "request", **fields)


class _AccessSink:
    """The JSON access line without structlog's processor chain (which costs ~10 us a line, a
    few percent of a request): every field but the request id is the router's own choice, so
    only that one is scrubbed, and the line is the one the chain would render. Logging is process
    configuration (as structlog's own), so this is the one module-level object: `configure()`
    points it at the stream, or at nothing when lines are rendered for the console."""

    def __init__(self) -> None:
        self.threshold = logging.INFO
        self._stream: TextIO | None = sys.stdout
        self._secrets: tuple[str, ...] = ()
        self._second = -1  # the whole second _stamp_prefix was formatted for
        self._stamp_prefix = ""
        self._flush_pending = False

    def configure(self, stream: TextIO | None, threshold: int, secrets: Iterable[str]) -> None:
        if self._stream is not None and self._stream is not stream:
            with contextlib.suppress(ValueError):  # what was written to it goes out now
                self._stream.flush()
        self._stream, self.threshold = stream, threshold
        self._secrets = tuple(secret for secret in secrets if secret)

    def write(self, level: int, fields: dict[str, Any]) -> bool:
        stream = self._stream
        if stream is None:
            return False
        request_id = redact(fields["request_id"], self._secrets)
        # Every secret shape holds a '-', '_', a space or "AIza": the router's own ids (hex)
        # and most clients' (uuids aside) skip the regex.
        if not request_id.isalnum() or "AIza" in request_id:
            request_id = SECRET_SHAPES.sub(REDACTED, request_id)
        fields["request_id"] = request_id
        fields["event"] = "request"
        fields["level"] = _LEVEL_NAMES[level]
        fields["timestamp"] = self._stamp()
        stream.write(orjson.dumps(fields).decode() + "\n")
        self._flush(stream)
        return True

    def _stamp(self) -> str:
        """structlog's ISO UTC timestamp, the date and time formatted once per second."""
        # The wall clock of a log line, as structlog's TimeStamper reads it: not the router's
        # injected clock, which tests move at will.
        now = time.time()
        second = int(now)
        if second != self._second:
            self._second = second
            self._stamp_prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return f"{self._stamp_prefix}.{int((now - second) * 1e6):06d}Z"

    def _flush(self, stream: TextIO) -> None:
        """One flush (a write syscall) per turn of the event loop, however many requests ended
        in it; at once when no loop runs."""
        if self._flush_pending:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            stream.flush()
            return
        self._flush_pending = True
        loop.call_soon(self._flushed)

    def _flushed(self) -> None:
        self._flush_pending = False
        # The stream of now: one replaced meanwhile was flushed by configure(). Closed in
        # between (a test's stream): nothing left to flush.
        if self._stream is not None:
            with contextlib.suppress(ValueError):
                self._stream.flush()


_SINK = _AccessSink()
_LEVEL_NAMES: Mapping[int, str] = {logging.INFO: "info", logging.WARNING: "warning"}


# Transitions into a state that takes a backend out of rotation are warnings.
_TRANSITION_LEVEL: Mapping[str, int] = {"healthy": logging.INFO, "half_open": logging.INFO,
                                        "degraded": logging.WARNING, "cooling": logging.WARNING}


def log_transition(backend: str, old: str, new: str, reason: str | None = None,
                   cooldown_s: float | None = None) -> None:
    """A backend changed state (healthy, degraded, cooling, half_open)."""
    logger().log(
        _TRANSITION_LEVEL.get(new, logging.WARNING),
        "backend_state", backend=backend, old=old, new=new, reason=reason,
        cooldown_s=None if cooldown_s is None else round(cooldown_s, 1),
    )


def log_store_down(store: str, op: str, error: str) -> None:
    """The shared state store stopped answering: local state stands in (once per outage).
    `store` is its address without credentials; `error` the failure's class, not its text."""
    logger().warning("state_store_down", store=store, op=op, error=error,
                     serving="local state, each budget at this replica's share")


def log_store_up(store: str, down_s: float, replayed: int) -> None:
    """The shared state store answers again; what was done locally meanwhile went back to it."""
    logger().info("state_store_up", store=store, down_s=round(down_s, 1), replayed=replayed)


def log_store_reset(store: str, replayed: int) -> None:
    """The shared state store came back without its data (restarted): this replica told it
    what its own windows and cooldowns hold."""
    logger().warning("state_store_reset", store=store, replayed=replayed)


def log_pool_summary(backends: Sequence[Backend], routes: Mapping[str, Sequence[str]],
                     **extra: Any) -> None:
    """The pool the process serves, once at startup (and after a reload): counts per provider
    and per capability, and each route's size, so an operator sees at once what is live."""
    by_provider = Counter(backend.provider for backend in backends)
    by_capability = Counter(cap.value for backend in backends for cap in backend.capabilities)
    logger().info(
        "pool",
        backends=len(backends),
        providers=dict(sorted(by_provider.items())),
        capabilities=dict(sorted(by_capability.items())),
        routes={name: len(members) for name, members in routes.items()},
        backend_ids=sorted(backend.id for backend in backends),
        **extra,
    )
