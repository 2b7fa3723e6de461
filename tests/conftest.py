from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.clock import FakeClock
from tests.harness import Harness, harness


@pytest.fixture
def h() -> Iterator[Harness]:
    with harness() as running:
        yield running


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
