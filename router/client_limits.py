"""Per-client-key request rate limits ([server] client_rpm): a sliding one-minute window per key
name, kept in memory per replica (so the effective limit is client_rpm x replicas)."""

from __future__ import annotations

from collections import deque

from router.clock import Clock

WINDOW_S = 60.0


class ClientLimits:
    def __init__(self, rpm: int | None, clock: Clock) -> None:
        self._rpm = rpm
        self._clock = clock
        self._seen: dict[str, deque[float]] = {}

    def admit(self, client: str) -> float | None:
        """None when the request may go; else the seconds until it could."""
        if self._rpm is None:
            return None
        now = self._clock.monotonic()
        times = self._seen.setdefault(client, deque())
        while times and times[0] <= now - WINDOW_S:
            times.popleft()
        if len(times) >= self._rpm:
            return times[0] + WINDOW_S - now
        times.append(now)
        return None
