"""Request ids: the client's own `x-request-id` when it sends one, else a new one."""

from __future__ import annotations

import itertools
import secrets


class RequestIds:
    """A random per-process prefix and a counter: unique across replicas and restarts in
    practice, and free of the getrandom syscall a uuid4 costs per request."""

    def __init__(self) -> None:
        self._prefix = secrets.token_hex(6)
        self._counter = itertools.count(1)

    def __call__(self, given: str | None) -> str:
        return given or f"{self._prefix}{next(self._counter):010x}"
