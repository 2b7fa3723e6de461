"""The serving process's collector settings: startup frozen, young collections rare."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from router import heap


@pytest.fixture
def restored() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


@pytest.mark.usefixtures("restored")
def test_settle_freezes_what_exists_and_raises_the_young_threshold_only() -> None:
    gc.set_threshold(700, 10, 10)
    held = [[n] for n in range(1_000)]  # startup state, tracked by the collector

    frozen = heap.settle()

    assert frozen == gc.get_freeze_count() >= len(held)
    assert gc.get_threshold() == (heap.YOUNG_THRESHOLD, 10, 10)
    # Frozen: in no generation a collection walks.
    assert not any(o is held[0] for o in gc.get_objects())


@pytest.mark.usefixtures("restored")
def test_garbage_made_after_settling_is_still_collected() -> None:
    heap.settle()

    class Node:
        partner: object = None

    a, b = Node(), Node()
    a.partner, b.partner = b, a  # a cycle only the collector can free
    del a, b

    assert gc.collect() >= 2
