"""How a serving process sets up Python's cyclic garbage collector, once it listens.

Reference counting frees what a request allocates; almost none of it forms cycles (measured
under load: none per request served, failures included). The collector still ran often and
long: with the default young threshold (700 net allocations) the requests in flight at c=64
hold that many objects between them, so a young collection ran every ~23 requests, and every
~2,500 a full one walked the ~52,000 objects that importing the modules and building the app
had made (15 ms each: a stall for every request in flight). Together 6% of the CPU at c=64;
docs/performance.md, "Fifth pass", has the figures.

So, once started: collect once, freeze what startup built (it lives as long as the process,
and full collections skip frozen objects), and raise the young threshold well past what the
requests in flight hold, so that collections are left to garbage that actually piles up."""

from __future__ import annotations

import gc

# Net allocations of tracked objects between young collections. A request in flight holds ~30
# for a while, so 64 of them hold ~2,000: at 10,000 a c=64 load triggers none (measured: none
# in 30,000 requests), while garbage that does form cycles (a closed upstream connection leaves
# ~16 small objects) is still collected every few hundred such events. Failures must not tie
# the request into a cycle (tests/core/test_cycles.py): it would wait that long too.
YOUNG_THRESHOLD = 10_000


def settle() -> int:
    """Freeze the startup heap and raise the young threshold; how many objects were frozen."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
    return gc.get_freeze_count()
