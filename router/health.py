"""The health tracker: the only writer of backend health. Fed with Outcomes by the proxy
(passive, real requests) and the prober (active); read by the proxy to choose candidates."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from router.clock import Clock
from router.types import Backend, Candidate, FailureReason, Outcome

RATE_LIMIT_DEFAULT_S = 30.0
CLIENT_ERROR_COOLDOWN_S = 600.0  # a 401/403 means the key is wrong: do not hammer
EJECT_AFTER_CONSECUTIVE = 3
EJECT_BASE_S = 10.0
EJECT_MAX_S = 300.0
SCORE_ALPHA = 0.2  # weight of the newest outcome in the success-rate average


@dataclass(slots=True)
class _State:
    score: float = 1.0
    consecutive_failures: int = 0
    ejections: int = 0
    cooling_until: float = 0.0
    reason: FailureReason | None = None
    requests: int = 0
    failures: int = 0


class HealthTracker:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._states: dict[str, _State] = {}
        self._provider_until: dict[str, float] = {}

    def _state(self, backend_id: str) -> _State:
        state = self._states.get(backend_id)
        if state is None:
            state = self._states[backend_id] = _State()
        return state

    def record(self, outcome: Outcome, provider: str) -> None:
        s = self._state(outcome.backend_id)
        now = self._clock.monotonic()
        if not outcome.probe:
            s.requests += 1
        if outcome.ok:
            s.score += SCORE_ALPHA * (1.0 - s.score)
            s.consecutive_failures = 0
            return
        s.failures += 1
        s.score -= SCORE_ALPHA * s.score
        s.consecutive_failures += 1
        cooldown = self._cooldown(outcome, s)
        if cooldown > 0:
            until = now + cooldown
            s.cooling_until = max(s.cooling_until, until)  # a repeat never shortens it
            s.reason = outcome.reason
            if outcome.provider_wide:
                self._provider_until[provider] = max(self._provider_until.get(provider, 0.0), until)

    def _cooldown(self, outcome: Outcome, s: _State) -> float:
        if outcome.until_epoch is not None:
            return max(outcome.until_epoch - self._clock.wall(), 0.0)
        if outcome.reason is FailureReason.RATE_LIMITED:
            return outcome.retry_after_s if outcome.retry_after_s is not None else RATE_LIMIT_DEFAULT_S
        if outcome.reason is FailureReason.CLIENT_ERROR:
            return outcome.retry_after_s or CLIENT_ERROR_COOLDOWN_S
        if s.consecutive_failures >= EJECT_AFTER_CONSECUTIVE:
            s.ejections += 1
            s.consecutive_failures = 0
            return min(EJECT_BASE_S * 2 ** (s.ejections - 1), EJECT_MAX_S)
        return 0.0

    def cooldown_left(self, backend: Backend) -> float:
        s = self._states.get(backend.id)
        until = max(s.cooling_until if s else 0.0, self._provider_until.get(backend.provider, 0.0))
        return max(until - self._clock.monotonic(), 0.0)

    def candidates(self, backends: Iterable[Backend]) -> list[Candidate]:
        out = []
        for b in backends:
            if self.cooldown_left(b) > 0:
                continue
            s = self._states.get(b.id)
            out.append(Candidate(b, s.score if s else 1.0))
        return out

    def soonest_recovery(self, backends: Sequence[Backend]) -> float:
        return min((self.cooldown_left(b) for b in backends), default=0.0)

    def status(self, backend: Backend) -> dict[str, object]:
        """One backend's row of GET /status."""
        s = self._states.get(backend.id) or _State()
        left = self.cooldown_left(backend)
        return {
            "id": backend.id, "provider": backend.provider,
            "state": "cooling" if left > 0 else ("healthy" if s.score >= 0.8 else "degraded"),
            "score": round(s.score, 3), "latency_ms_p50": None,
            "error_rate": round(s.failures / s.requests, 3) if s.requests else 0.0,
            "cooldown_s": round(left, 1),
            "cooldown_reason": s.reason.value if left > 0 and s.reason else None,
            "budget": {"rpm_left": None, "rpd_left": None},
            "requests": s.requests, "failures": s.failures, "inflight": 0,
        }
