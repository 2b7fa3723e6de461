"""A backend's health score in [0, 1], from a windowed error rate and a moving average of its
latency to the first byte. Pure arithmetic over an injected `now`: no clock, no I/O.

    error    = failures_in_window / (outcomes_in_window + PRIOR_SUCCESSES)
    latency  = 1 / (1 + (latency_ewma / LATENCY_REF_S) ** 2)
    score    = (1 - error) * latency

The prior keeps one stray error from looking like a 100% error rate; the latency factor is
almost flat below a second (0.99 at 0.5 s) and halves at LATENCY_REF_S, so it separates slow
backends from fast ones without punishing normal jitter. docs/health.md has the table."""

from __future__ import annotations

import enum
import statistics
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ScorePolicy:
    window_s: float = 60.0  # the error rate looks back this far
    max_window_entries: int = 512  # under heavy traffic the window covers less time, never more memory
    prior_successes: float = 2.0
    latency_alpha: float = 0.2  # weight of the newest latency in the moving average
    latency_ref_s: float = 5.0  # the latency at which the latency factor is 0.5
    latency_samples: int = 64  # recent latencies kept for the p50 in /status


class Mark(enum.Enum):
    """How one outcome counts in the window."""

    OK = "ok"
    FAILURE = "failure"  # the backend misbehaved: counts towards ejection
    LIMITED = "limited"  # a rate limit or a request-specific refusal: lowers the score only


@dataclass(frozen=True, slots=True)
class WindowCounts:
    total: int = 0
    failures: int = 0
    limited: int = 0

    @property
    def error_rate(self) -> float:
        """What /status shows: every non-OK outcome over every outcome."""
        return (self.failures + self.limited) / self.total if self.total else 0.0

    @property
    def failure_rate(self) -> float:
        """What ejection looks at: only the backend's own failures."""
        return self.failures / self.total if self.total else 0.0


class OutcomeWindow:
    """The outcomes of the last `window_s` seconds, oldest first, with running counts (read on
    every request for every capable backend: it must not rescan the window)."""

    __slots__ = ("_cap", "_counts", "_entries", "_span")

    def __init__(self, policy: ScorePolicy) -> None:
        self._span = policy.window_s
        self._entries: deque[tuple[float, Mark]] = deque()
        self._counts = dict.fromkeys(Mark, 0)
        self._cap = policy.max_window_entries

    def add(self, now: float, mark: Mark) -> None:
        if len(self._entries) >= self._cap:
            self._drop()
        self._entries.append((now, mark))
        self._counts[mark] += 1

    def _drop(self) -> None:
        _, mark = self._entries.popleft()
        self._counts[mark] -= 1

    def counts(self, now: float) -> WindowCounts:
        entries = self._entries
        while entries and entries[0][0] <= now - self._span:
            self._drop()
        return WindowCounts(len(entries), self._counts[Mark.FAILURE], self._counts[Mark.LIMITED])

    def oldest(self) -> float | None:
        return self._entries[0][0] if self._entries else None

    def forgive(self) -> None:
        """A backend that passed its half-open trial starts over: the failures that ejected it
        must not eject it again on its next stray error."""
        kept = [(t, m) for t, m in self._entries if m is Mark.OK]
        self._entries.clear()
        self._entries.extend(kept)
        self._counts = dict.fromkeys(Mark, 0)
        self._counts[Mark.OK] = len(kept)


class Latency:
    """Moving average of time to first byte, plus recent samples for the median."""

    __slots__ = ("_alpha", "_samples", "ewma")

    def __init__(self, policy: ScorePolicy) -> None:
        self._alpha = policy.latency_alpha
        self._samples: deque[float] = deque(maxlen=policy.latency_samples)
        self.ewma: float | None = None

    def add(self, seconds: float) -> None:
        seconds = max(seconds, 0.0)
        self._samples.append(seconds)
        self.ewma = seconds if self.ewma is None else self.ewma + self._alpha * (seconds - self.ewma)

    def p50_ms(self) -> float | None:
        return round(statistics.median(self._samples) * 1000.0, 1) if self._samples else None


def score(counts: WindowCounts, latency_ewma: float | None, policy: ScorePolicy) -> float:
    error = (counts.failures + counts.limited) / (counts.total + policy.prior_successes)
    factor = 1.0 if latency_ewma is None else 1.0 / (1.0 + (latency_ewma / policy.latency_ref_s) ** 2)
    return min(max((1.0 - error) * factor, 0.0), 1.0)
