"""`@record`: an immutable value class for objects built on every request.

A `@dataclass(frozen=True)` enforces immutability at run time by setting each field through
`object.__setattr__` in its `__init__`, which costs about 0.3 µs a field: a 14-field frozen
dataclass takes 4.7 µs to build where the same plain one takes 0.5 µs, and a request builds a
dozen such objects. A record is frozen where it matters for us, to the type checker (mypy
refuses any assignment to a field, as for a frozen dataclass), and a plain slotted dataclass at
run time, hashable by its fields like a frozen one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeVar, dataclass_transform

T = TypeVar("T")


@dataclass_transform(frozen_default=True, field_specifiers=(field,))
def record(cls: type[T]) -> type[T]:
    return dataclass(slots=True, unsafe_hash=True)(cls)
