"""Readiness as the load balancer sees it: ready once the pool is built, not ready while draining."""

from __future__ import annotations


class Readiness:
    def __init__(self) -> None:
        self.ready = False
        self.draining = False

    @property
    def serving(self) -> bool:
        return self.ready and not self.draining
