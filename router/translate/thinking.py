"""Anthropic's extended thinking within a request's output bound (wire.md §1.5).

Anthropic counts thinking in `max_tokens` and wants `thinking.budget_tokens` at least 1024 and
below `max_tokens`. The client's `max_tokens` is a ceiling (INTERFACE.md): the budget is fitted
inside it, never added to it, and thinking is left off when the ceiling has no room for it."""

from __future__ import annotations

from router.types import JSON

MIN_BUDGET = 1024  # Anthropic's floor for thinking.budget_tokens


def room_for(budget: int, max_tokens: int) -> int | None:
    """The budget that fits below `max_tokens`: `budget` or less; None when not even the floor does."""
    fitted = min(budget, max_tokens - 1)
    return fitted if fitted >= MIN_BUDGET else None


def fit(body: JSON) -> None:
    """Keep an Anthropic body's thinking below its (int) max_tokens: shrink the budget, or drop
    thinking when there is no room for it."""
    thinking = body.get("thinking")
    if not isinstance(thinking, dict):
        return
    budget = thinking.get("budget_tokens")
    if not isinstance(budget, int) or isinstance(budget, bool):
        return
    fitted = room_for(budget, body["max_tokens"])
    if fitted is None:
        del body["thinking"]
    elif fitted != budget:
        body["thinking"] = {**thinking, "budget_tokens": fitted}
