"""Strings made for a JSON Schema `pattern` (router.demo.pattern_string): for patterns of the
common regex subset (generated), the string matches, within the length asked for when one can;
variants give other matching strings; anything else (lookarounds, back-references, broken or
hostile patterns, any text at all) gives a matching string or None, never a crash."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from router.demo.pattern_string import matching

LITERALS = st.sampled_from(list("abcXYZ019-_ @.+")).map(re.escape)
CLASSES = st.sampled_from(["[A-Z]", "[a-z0-9]", "[^0-9]", r"[\d-]", r"\d", r"\w", r"\s", ".",
                           "[aeiou]", r"[^\s]", r"[\w.%+-]", "[0-9a-fA-F]", r"\D", r"\W"])
WORDS = st.lists(st.text("abcxyz019", min_size=1, max_size=4), min_size=1, max_size=3)
GROUPS = st.tuples(st.sampled_from(["(", "(?:"]), WORDS).map(
    lambda g: g[0] + "|".join(g[1]) + ")")
QUANTIFIERS = st.sampled_from(["", "", "?", "*", "+", "{2}", "{1,3}", "{2,}", "+?", "*?"])
UNBOUNDED = ("*", "+", "{2,}")


@st.composite
def patterns(draw: st.DrawFn) -> tuple[str, bool]:
    """A pattern, and whether strings of any length above some can match it."""
    atoms = draw(st.lists(st.tuples(st.one_of(LITERALS, CLASSES, GROUPS), QUANTIFIERS),
                          min_size=1, max_size=5))
    start, end = draw(st.booleans()), draw(st.booleans())
    body = "".join(a + q for a, q in atoms)
    stretchy = not (start and end) or any(q.startswith(UNBOUNDED) for _, q in atoms)
    return ("^" if start else "") + body + ("$" if end else ""), stretchy


@settings(max_examples=200, deadline=None)
@given(patterns(), st.integers(0, 40), st.integers(0, 5))
def test_a_pattern_of_the_subset_is_matched(drawn: tuple[str, bool], low: int, variant: int) -> None:
    pattern, stretchy = drawn
    made = matching(pattern, variant=variant)
    assert made is not None and re.search(pattern, made)
    if stretchy:
        long = matching(pattern, low)
        assert long is not None and len(long) >= low and re.search(pattern, long)


def test_lengths_and_variants() -> None:
    assert matching("^[A-Z]{3}-[0-9]{2}$") == "AAA-00"
    assert matching("^[A-Z]{3}-[0-9]{2}$", variant=1) == "BBB-11"
    assert matching("^[A-Z]{3}-[0-9]{2}$", 0, 5) is None, "no such string is that short"
    assert matching("^[a-z]+$", 10, 12) == "a" * 10
    assert matching("^(?:cat|dog)$", variant=1) == "dog"
    assert matching("(?=a)b") is None and matching("(a)\\1") is None, "beyond the subset"


HOSTILE = ["(?=a)b", r"(a)\1", "(?i)abc", "a{3,2}", "[z-a]", "(", "[", "a**", "\\", "a{99999}", "x{,3}",
           "(?<=a)b", "(?P=n)", "[^\x00-\U0010ffff]"]


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.text(max_size=30), st.sampled_from(HOSTILE)))
def test_any_pattern_is_answered_without_crashing(pattern: str) -> None:
    made = matching(pattern, 2)
    assert made is None or (len(made) >= 2 and re.search(pattern, made)), "what is returned matches"


def test_an_ambiguous_repeat_is_stretched_not_padded() -> None:
    # A padded try that fails would cost the regex engine 2^30 steps here (the branches `x`
    # and `x` of one repeat): the text grows to its length instead. (A CI run hung on it.)
    assert matching("^(?:x|9x0a|x){2,}b(y)?$", 33, None, 0) == "x" * 31 + "by"
