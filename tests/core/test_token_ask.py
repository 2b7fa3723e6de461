"""What a request asks of a backend's token budgets: the contract's estimate, and for an
upstream that counts declared output the bound it declares and what that needs reserved."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from router.token_ask import DECLARED_OUTPUT, declared, least, most, prompt_charge, token_estimate
from router.types import Api, Backend, Needs

PLAIN = Backend(id="p/m", provider="p", model="m", api=Api.OPENAI, capabilities=frozenset(),
                context_length=131072)
COUNTING = replace(PLAIN, id="groq/m", provider="groq", counts_max_tokens=True)
NEEDS = Needs(frozenset(), prompt_tokens=20_000)


def test_the_estimate_follows_the_contract() -> None:
    assert token_estimate(NEEDS, 1024) == 21_024  # no max_tokens: min_output_tokens
    assert token_estimate(replace(NEEDS, max_output=100), 1024) == 20_100
    assert token_estimate(replace(NEEDS, max_output=32_000), 1024) == 21_024


def test_a_plain_upstream_asks_its_estimate_and_is_told_nothing() -> None:
    assert least(PLAIN, NEEDS, 21_024) == 21_024
    assert most(PLAIN, NEEDS) is None
    assert declared(PLAIN, NEEDS, 25_000) is None


def test_an_upstream_counting_declared_output_is_told_what_was_granted() -> None:
    small = Needs(frozenset(), prompt_tokens=500)
    assert prompt_charge(small) == 550
    assert least(COUNTING, small, 1524) == 550 + 1024
    assert most(COUNTING, small) == 550 + DECLARED_OUTPUT  # no max_tokens: 4096
    assert declared(COUNTING, small, 550 + DECLARED_OUTPUT) == DECLARED_OUTPUT
    assert declared(COUNTING, small, 2000) == 2000 - 550  # less was left
    assert declared(COUNTING, small, 0) == DECLARED_OUTPUT  # no token budget known
    asked = replace(small, max_output=300)
    assert most(COUNTING, asked) == 550 + 300
    # Within the context too.
    near_full = replace(COUNTING, context_length=2000)
    assert declared(near_full, small, 0) == 1500


@given(prompt=st.integers(1, 120_000), ceiling=st.none() | st.integers(1, 64_000),
       granted=st.integers(0, 200_000))
def test_what_is_declared_never_exceeds_the_grant(prompt: int, ceiling: int | None,
                                                  granted: int) -> None:
    needs = Needs(frozenset(), prompt_tokens=prompt, max_output=ceiling)
    bound = declared(COUNTING, needs, granted)
    assert bound is not None and bound >= 1
    if granted >= least(COUNTING, needs, token_estimate(needs, 1024)):
        # The upstream counts at most prompt_charge + bound: never more than was reserved.
        assert prompt_charge(needs) + bound <= granted
