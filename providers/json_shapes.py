"""Readers over untyped JSON: a provider's answer is whatever it sent, and a field of the wrong
type must read as absent rather than raise."""

from __future__ import annotations

from typing import Any


def as_dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def as_list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []
