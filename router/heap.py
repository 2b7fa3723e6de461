"""How a serving process sets up Python's cyclic garbage collector, once it listens.

Reference counting frees what a request allocates; almost none of it forms cycles (measured
under load: about one unreachable object per young collection). The collector still ran
often and long: with the default young threshold (700 net allocations) the requests in
flight at c=64 hold that many objects between them, so a young collection ran every ~23
requests, and every ~2,500 a full one walked the ~52,000 objects that importing the modules
and building the app had made (15 ms each: a stall for every request in flight). Together
6-7% of the CPU at c=64; docs/performance.md, "Fifth pass", has the figures.

So, once started: collect once, freeze what startup built (it lives as long as the process,
and full collections skip frozen objects), and raise the young threshold well past what the
requests in flight hold, so that collections are left to garbage that actually piles up."""

from __future__ import annotations

import gc

# Net allocations of tracked objects between young collections. ~30 per request in flight
# stay alive a while; 20,000 is several hundred requests' worth, and costs no memory when
# nothing forms cycles (RSS measured the same as with 700).
YOUNG_THRESHOLD = 20_000


def settle() -> int:
    """Freeze the startup heap and raise the young threshold; how many objects were frozen."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
    return gc.get_freeze_count()
