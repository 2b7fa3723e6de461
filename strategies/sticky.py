"""`sticky`: rendezvous (highest-random-weight) hashing of the session key over the candidates.

Every replica computes the same winner without shared state, and when a backend leaves the
candidate set only the sessions it won move. Requests without a session key go uniform."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence

from router.types import Candidate, Needs


def _rank(session: bytes, backend_id: str) -> int:
    digest = hashlib.blake2b(session + b"\x00" + backend_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


class Sticky:
    def __init__(self, rng: random.Random) -> None:
        self._rng = rng

    def pick(self, candidates: Sequence[Candidate], needs: Needs) -> Candidate:
        if needs.session_key is None:
            return candidates[self._rng.randrange(len(candidates))]
        key = needs.session_key.encode()
        return max(candidates, key=lambda c: _rank(key, c.backend.id))
