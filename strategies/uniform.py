"""`random`: every candidate equally likely."""

from __future__ import annotations

import random
from collections.abc import Sequence

from router.types import Candidate, Needs


class UniformRandom:
    def __init__(self, rng: random.Random) -> None:
        self._rng = rng

    def pick(self, candidates: Sequence[Candidate], needs: Needs) -> Candidate:
        return candidates[self._rng.randrange(len(candidates))]
