"""router.records: value classes frozen to the type checker, plain and fast at run time."""

from __future__ import annotations

import dataclasses
import textwrap
from pathlib import Path

from mypy import api as mypy_api

from router.records import record


@record
class Point:
    x: int
    y: int = 0


def test_a_record_is_a_value_equal_and_hashable_by_its_fields() -> None:
    assert Point(1, 2) == Point(1, 2) != Point(1, 3)
    assert {Point(1, 2), Point(1, 2)} == {Point(1, 2)}
    assert dataclasses.replace(Point(1), y=5) == Point(1, 5)
    assert not hasattr(Point(1), "__dict__")  # slotted: no stray attribute can be added


def test_the_type_checker_refuses_writing_a_field(tmp_path: Path) -> None:
    source = tmp_path / "writes.py"
    source.write_text(textwrap.dedent("""
        from router.types import Needs
        needs = Needs(capabilities=frozenset(), prompt_tokens=1)
        needs.prompt_tokens = 2
    """))
    out, _, status = mypy_api.run([str(source), "--strict", "--no-incremental",
                                   "--cache-dir", str(tmp_path / "cache")])
    assert status == 1 and "read-only" in out, out

