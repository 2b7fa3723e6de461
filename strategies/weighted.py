"""`weighted`: chance proportional to the configured weight times the current health score."""

from __future__ import annotations

import random
from collections.abc import Sequence

from router.types import Candidate, Needs


class Weighted:
    def __init__(self, rng: random.Random) -> None:
        self._rng = rng

    def pick(self, candidates: Sequence[Candidate], needs: Needs) -> Candidate:
        weights = [max(c.backend.weight * c.score, 0.0) for c in candidates]
        total = sum(weights)
        if total <= 0:
            # Every weight is zero: fall back to uniform rather than refusing to route.
            return candidates[self._rng.randrange(len(candidates))]
        point = self._rng.random() * total
        for candidate, w in zip(candidates, weights, strict=True):
            point -= w
            if point < 0:
                return candidate
        return candidates[-1]
