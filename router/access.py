"""What a finished client request leaves behind, all from its one Call record: the request
metrics, the token counters, the access-log line and its entry in the recent-requests ring."""

from __future__ import annotations

from router import logs
from router.call import Call
from router.metrics import Metrics
from router.recent import RecentRequests


class Access:
    def __init__(self, metrics: Metrics, recent: RecentRequests) -> None:
        self._metrics = metrics
        self._recent = recent

    def done(self, call: Call, duration_s: float) -> None:
        metrics = self._metrics
        metrics.request_done(call.api, call.route, call.status, duration_s)
        if call.backend and (call.prompt_tokens or call.completion_tokens):
            metrics.used_tokens(call.backend, call.prompt_tokens, call.completion_tokens)
        logs.access_log(
            request_id=call.request_id, api=call.api, route=call.route, status=call.status,
            duration_ms=round(duration_s * 1000, 2), attempts=call.attempts,
            strategy=call.strategy, backend=call.backend,
            ttft_ms=round(call.ttft_s * 1000, 2) if call.ttft_s is not None else None,
            prompt_tokens=call.prompt_tokens, completion_tokens=call.completion_tokens,
            client=call.client, stream=call.stream, error=call.error,
        )
        self._recent.record(call, duration_s)
