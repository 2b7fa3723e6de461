"""Per-client-key request rate limits ([server] client_rpm): a sliding one-minute window per key
name in the state store, so with a shared store the limit is the pool's, not each replica's."""

from __future__ import annotations

from router.state.store import Full, StateStore, Window

WINDOW_S = 60.0


class ClientLimits:
    def __init__(self, store: StateStore) -> None:
        self._store = store

    async def admit(self, client: str, rpm: int | None) -> float | None:
        """None when the request may go (it is counted); else the seconds until it could."""
        if rpm is None:
            return None
        result = await self._store.reserve([Window(f"client:{client}:rpm", rpm, WINDOW_S)])
        return result.retry_in_s if isinstance(result, Full) else None
