"""The last requests the router answered (GET /status/requests): a bounded ring of the access
records the middleware closes, newest first.

An entry holds exactly what the contract lists and nothing a client sent as content: no prompt,
no output, no key (the client key's *name* only). The one client-chosen value, the request id, is
scrubbed of secret shapes and cut short when it is shown, as the access line scrubs it."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from datetime import UTC, datetime

from router.call import Call
from router.clock import Clock
from router.logs import SECRET_SHAPES
from router.redact import MASK, redact
from router.types import JSON

CAPACITY = 1000  # entries kept; also the largest `limit` a caller may ask for
DEFAULT_LIMIT = 100
MAX_ID_CHARS = 128  # a request id is the client's header, up to 8 KiB: shown cut to this


class Entry:
    """One request as kept: its closed Call and when it arrived. Nothing is copied or rendered
    when it is kept (that runs on every request); the Call is not written to after it closed."""

    __slots__ = ("arrived", "call", "duration_s")

    def __init__(self, call: Call, arrived: float, duration_s: float) -> None:
        self.call = call
        self.arrived = arrived  # wall clock, seconds since the epoch
        self.duration_s = duration_s

    @property
    def request_id(self) -> str:
        return self.call.request_id

    def render(self, secrets: Iterable[str]) -> JSON:
        """The entry as /status/requests shows it."""
        call = self.call
        request_id = SECRET_SHAPES.sub(MASK, redact(call.request_id, secrets))
        if len(request_id) > MAX_ID_CHARS:
            request_id = request_id[: MAX_ID_CHARS - 1] + "…"
        stamp = datetime.fromtimestamp(self.arrived, UTC).isoformat(timespec="milliseconds")
        return {
            "time": stamp.replace("+00:00", "Z"), "request_id": request_id, "api": call.api.value,
            "route": call.route, "backend": call.backend, "status": call.status,
            "attempts": call.attempts, "duration_ms": round(self.duration_s * 1000, 1),
            "ttft_ms": None if call.ttft_s is None else round(call.ttft_s * 1000, 1),
            "stream": call.stream, "client": call.client,
        }


class RecentRequests:
    """A ring of the last `capacity` entries; recording is one append (it runs on every request),
    the work of showing them is done when someone asks."""

    def __init__(self, clock: Clock, capacity: int = CAPACITY) -> None:
        self._clock = clock
        self.capacity = capacity
        self._entries: deque[Entry] = deque(maxlen=capacity)

    def __len__(self) -> int:
        return len(self._entries)

    def record(self, call: Call, duration_s: float) -> None:
        """Keep the closed Call of one request that has just ended."""
        self._entries.append(Entry(call, self._clock.wall() - duration_s, duration_s))

    def latest(self, limit: int) -> list[Entry]:
        """Up to `limit` entries, newest first."""
        out: list[Entry] = []
        for entry in reversed(self._entries):
            if len(out) >= limit:
                break
            out.append(entry)
        return out
