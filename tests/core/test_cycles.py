"""What a failed request leaves behind: nothing only the garbage collector can free.

The serving process collects rarely (router/heap.py), so an error that ends up in a cycle with
the frames it went through would keep each failed request, body and all, alive for hundreds
of requests. Reference counting must free them at once."""

from __future__ import annotations

import gc
import os
from types import FrameType

import httpx
import pytest

from router.demo.scripted import Fault
from router.errors import BadResponse, detached
from tests.core.test_failover import USER, two_backends
from tests.harness import Harness

_ROUTER = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_OURS = (os.path.join(_ROUTER, "router", ""), os.path.join(_ROUTER, "providers", ""))
_FAKES = os.path.join(_ROUTER, "router", "demo", "")


def _ours(thing: object) -> bool:
    """A frame of the router's code (not of the fake upstreams): what holds a request. Not any
    error: a closed upstream connection keeps its failure in a small cycle with its parser,
    which holds no request and may or may not be unreachable yet when the test collects."""
    if isinstance(thing, FrameType):
        path = thing.f_code.co_filename
        return path.startswith(_OURS) and not path.startswith(_FAKES)
    return False


@pytest.mark.parametrize("fault", [Fault(status=500), Fault(kind="truncate"),
                                   Fault(kind="midstream_error"), Fault(kind="garbage"),
                                   Fault(kind="stall")],
                         ids=lambda f: f"{f.kind}-{f.status}")
def test_a_failed_attempt_leaves_no_cycle_of_the_routers(h: Harness, fault: Fault) -> None:
    # A stall mid-stream times the upstream connection out: the failure it keeps is raised.
    two_backends(h, timeout_s=0.2 if fault.kind == "stall" else 5)
    body = {"model": "free", "messages": USER, "stream": fault.kind != "status"}
    seen: list[object] = []
    # Few enough failures that the first backend stays in rotation (health ejects from ten on).
    h.fakes["first"].inject(fault)
    assert httpx.post(f"{h.url}/v1/chat/completions", json=body).status_code == 200
    gc.collect()  # whatever the warm-up made, before counting
    gc.disable()
    try:
        for _ in range(2):
            h.fakes["first"].inject(fault)
            assert httpx.post(f"{h.url}/v1/chat/completions", json=body).status_code == 200
            assert not h.fakes["first"].faults  # the failure did happen
        gc.set_debug(gc.DEBUG_SAVEALL)
        gc.collect()
        seen.extend(thing for thing in gc.garbage if _ours(thing))
    finally:
        gc.garbage.clear()
        gc.set_debug(0)
        gc.enable()
        h.call(h.fakes["first"].hang.set)  # the stalled answers may end now
    assert seen == []


def test_a_detached_error_holds_no_frame_and_no_chained_error() -> None:
    def fail() -> None:
        try:
            raise KeyError("inner")
        except KeyError:
            raise BadResponse("outer") from None

    try:
        fail()
    except BadResponse as exc:
        kept = detached(exc)
        assert kept is exc
    assert kept.__traceback__ is None and kept.__context__ is None and kept.__cause__ is None
    assert kept.message == "outer"
