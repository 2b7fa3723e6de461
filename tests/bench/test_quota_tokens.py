"""The token scenario of the quota simulation, on a few simulated minutes (seeded, in process,
no clock but the simulation's): token budgets keep a token-limited pool free of 429s and 413s
where plain random choice runs into them, and the mix's big prompts still get served."""

from __future__ import annotations

import asyncio

import pytest

from bench import quota_tokens
from bench.quota_tokens import TokenResult

MINUTES = 6


@pytest.fixture(scope="module")
def results() -> dict[str, TokenResult]:
    return {name: asyncio.run(quota_tokens.simulate_tokens(name, make, 1, MINUTES / 60, 0.9))
            for name, make in quota_tokens.TOKEN_ROUTERS}


def test_token_budgets_serve_without_429s_or_413s(results: dict[str, TokenResult]) -> None:
    budgets = results["freerouter, token budgets"]
    assert budgets.requests > 300
    assert budgets.upstream_413 == 0
    assert budgets.share_429 <= 0.01
    assert budgets.served_share >= 0.98


def test_without_them_the_small_backends_answer_413_and_429(
        results: dict[str, TokenResult]) -> None:
    rpm_only = results["freerouter, no token budgets"]
    uniform = results["uniform random, no budgets"]
    assert rpm_only.upstream_413 > 0.1 * rpm_only.upstream_calls
    assert uniform.share_429 > 0.1
    assert results["freerouter, token budgets"].served >= rpm_only.served


def test_the_table_prints_every_router(results: dict[str, TokenResult]) -> None:
    text = quota_tokens.token_table(list(results.values()))
    assert all(name in text for name in results)
    assert "tokens served / available" in text
