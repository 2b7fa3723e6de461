"""Order statistics for latency samples and across repeated runs."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence


def percentile(samples: Sequence[float], fraction: float) -> float | None:
    """Nearest-rank percentile (``fraction`` in [0, 1]); None for no samples.

    Nearest rank, not interpolation: a reported p99 is a latency some request
    actually had.
    """
    if not samples:
        return None
    ordered = sorted(samples)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def median(values: Sequence[float | None]) -> float | None:
    """Median of the values that were measured; None when none were."""
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None
