"""Sticky session keys read from a request body (INTERFACE.md: the first one found wins)."""

from __future__ import annotations

from collections.abc import Sequence

from router.types import JSON


def first_key(body: JSON, paths: Sequence[tuple[str, ...]]) -> str | None:
    """The first non-empty string at one of `paths` (each a chain of object keys)."""
    for path in paths:
        value: object = body
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        if isinstance(value, str) and value:
            return value
    return None
