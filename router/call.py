"""The record of one client request as it moves through the router: filled in by the proxy, read
once at the end for the access log line and the request metrics."""

from __future__ import annotations

from dataclasses import dataclass

from router.metrics import UNKNOWN_ROUTE
from router.types import Api
from router.wire import ClientApi


@dataclass(slots=True)
class Call:
    wire: ClientApi  # the API the client speaks, recognised once from its request
    request_id: str
    started: float  # monotonic
    route: str = UNKNOWN_ROUTE
    strategy: str | None = None
    backend: str | None = None
    attempts: int = 0
    status: int = 0
    ttft_s: float | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    client: str | None = None  # the client key's name, never the key
    stream: bool = False
    error: str | None = None  # the error type, when the answer is an error

    @property
    def api(self) -> Api:
        return self.wire.api
