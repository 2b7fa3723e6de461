"""A string that a JSON Schema `pattern` matches, for the simulated backends' structured outputs.

The common subset of regular expressions is understood: literals and escapes, `.`, character
classes (ranges, negation, `\\d` `\\w` `\\s` and their negations), groups (capturing, `(?:...)`,
named) with alternation, the quantifiers `?` `*` `+` `{n}` `{n,}` `{n,m}` (lazy or possessive
too), and the anchors `^` `$` `\\b` `\\A` `\\Z`. The string is built from the pattern, stretched
(unbounded and ranged repeats taken more often) until it fits a length range, and checked with
the `re` module, which is what JSON Schema validators in Python use: what is returned always
matches. Anything beyond the subset (lookarounds, back-references, inline flags) or a pattern
no string of the wanted length was found for gives None, and the caller falls back."""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_REPEAT = 10_000  # a repeat count beyond this is not built (a hostile pattern)
MAX_LENGTH = 100_000  # nor a string longer than this
# How much longer the repeats are made, in turn, when the shortest string is too short.
STRETCHES = (*range(33), 48, 64, 96, 128, 256, 512, 1024, 2048, 4096)
# What a negated class or `.` picks from, nicest first.
POOL = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 _-.,:;!?@#%&*+=/"
MEMBERS_PER_RANGE = 64  # the members of a range a class picks from
DIGITS = (("0", "9"),)
WORD = (("a", "z"), ("A", "Z"), ("0", "9"), ("_", "_"))
SPACE = ((" ", " "), ("\t", "\t"), ("\n", "\n"))
CONTROL = {"n": "\n", "t": "\t", "r": "\r", "f": "\f", "v": "\v", "0": "\0"}
ZERO_WIDTH = frozenset("bBAZz")


class _Beyond(ValueError):
    """The pattern uses something outside the subset (never leaves this module)."""


@dataclass(frozen=True, slots=True)
class _Text:
    text: str


@dataclass(frozen=True, slots=True)
class _Class:
    ranges: tuple[tuple[str, str], ...]
    negated: bool = False

    def members(self) -> list[str]:
        if self.negated:
            return [c for c in POOL if not self._has(c)]
        return [chr(c) for low, high in self.ranges
                for c in range(ord(low), min(ord(high), ord(low) + MEMBERS_PER_RANGE - 1) + 1)]

    def _has(self, char: str) -> bool:
        return any(low <= char <= high for low, high in self.ranges)


@dataclass(frozen=True, slots=True)
class _Repeat:
    node: _Node
    low: int
    high: int | None


@dataclass(frozen=True, slots=True)
class _Sequence:
    items: tuple[_Node, ...]


@dataclass(frozen=True, slots=True)
class _Choice:
    options: tuple[_Node, ...]


_Node = _Text | _Class | _Repeat | _Sequence | _Choice
_ESCAPED_CLASSES = {"d": _Class(DIGITS), "w": _Class(WORD), "s": _Class(SPACE),
                    "D": _Class(DIGITS, True), "W": _Class(WORD, True), "S": _Class(SPACE, True)}


def matching(pattern: str, low: int = 0, high: int | None = None, variant: int = 0) -> str | None:
    """A string `pattern` matches (re.search) with a length in [low, high]; `variant` picks
    another one (other class members and alternatives) for when the first is taken. None when
    the pattern is beyond the subset or no such string was found."""
    try:
        compiled = re.compile(pattern)
        tree = _Parser(pattern).parse()
    except (re.error, _Beyond, RecursionError):
        return None
    shorter = -1  # the length at the stretch before
    for stretch in STRETCHES:
        try:
            text = _build(tree, stretch, variant)
        except _Beyond:
            return None
        if high is not None and len(text) > high:
            return None  # longer only with more stretch
        grew, shorter = len(text) > shorter, len(text)
        if len(text) < low and grew and stretch != STRETCHES[-1]:
            # More stretch may reach `low` by itself. A padded try that fails can cost the
            # regex engine 2^repeats (`(?:x|x){2,}`): padding waits until the text stops growing.
            continue
        pad = "a" * max(low - len(text), 0)
        for candidate in dict.fromkeys((text, text + pad, pad + text)):
            if len(candidate) >= low and compiled.search(candidate):
                return candidate
    return None


def _build(node: _Node, stretch: int, variant: int) -> str:
    if isinstance(node, _Text):
        return node.text
    if isinstance(node, _Class):
        members = node.members()
        if not members:
            raise _Beyond("a class with no member to offer")
        return members[variant % len(members)]
    if isinstance(node, _Choice):
        return _build(node.options[variant % len(node.options)], stretch, variant)
    if isinstance(node, _Sequence):
        text = "".join(_build(item, stretch, variant) for item in node.items)
    else:
        count = node.low + stretch if node.high is None else min(node.high, node.low + stretch)
        text = "".join(_build(node.node, stretch, variant) for _ in range(count))
    if len(text) > MAX_LENGTH:
        raise _Beyond("too long a string")
    return text


class _Parser:
    """Recursive descent over the subset; lives for one pattern."""

    def __init__(self, pattern: str) -> None:
        self.text = pattern
        self.at = 0

    def parse(self) -> _Node:
        node = self._choice()
        if self.at != len(self.text):
            raise _Beyond(f"unexpected {self.text[self.at]!r}")
        return node

    def _peek(self, ahead: int = 0) -> str:
        k = self.at + ahead
        return self.text[k] if k < len(self.text) else ""

    def _take(self) -> str:
        char = self._peek()
        if not char:
            raise _Beyond("the pattern ends early")
        self.at += 1
        return char

    def _choice(self) -> _Node:
        options = [self._sequence()]
        while self._peek() == "|":
            self.at += 1
            options.append(self._sequence())
        return options[0] if len(options) == 1 else _Choice(tuple(options))

    def _sequence(self) -> _Node:
        items: list[_Node] = []
        while self._peek() not in ("", "|", ")"):
            items.append(self._quantified(self._atom()))
        return _Sequence(tuple(items))

    def _atom(self) -> _Node:
        char = self._take()
        if char == "(":
            return self._group()
        if char == "[":
            return self._class()
        if char == ".":
            return _Class((("\n", "\n"),), negated=True)
        if char in "^$":
            return _Text("")
        if char == "\\":
            return self._escape()
        if char in "*+?":
            raise _Beyond("nothing to repeat")
        return _Text(char)

    def _group(self) -> _Node:
        if self._peek() == "?":
            self.at += 1
            kind = self._take()
            if (kind == "P" and self._peek() == "<") or (kind == "<" and self._peek() not in "=!"):
                end = self.text.find(">", self.at)
                if end < 0:
                    raise _Beyond("an unterminated group name")
                self.at = end + 1
            elif kind != ":":
                raise _Beyond("lookarounds and inline flags")
        node = self._choice()
        if self._take() != ")":
            raise _Beyond("an unterminated group")
        return node

    def _escape(self) -> _Node:
        char = self._take()
        if char in _ESCAPED_CLASSES:
            return _ESCAPED_CLASSES[char]
        if char in ZERO_WIDTH:
            return _Text("")
        if char.isdigit() and char != "0":
            raise _Beyond("back-references")
        return _Text(self._literal(char))

    def _literal(self, char: str) -> str:
        """The character an escape `\\char` stands for (after the backslash)."""
        if char in CONTROL:
            return CONTROL[char]
        width = {"x": 2, "u": 4}.get(char)
        if width is None:
            return char
        digits = self.text[self.at:self.at + width]
        if len(digits) != width or not all(c in "0123456789abcdefABCDEF" for c in digits):
            raise _Beyond("a malformed escape")
        self.at += width
        return chr(int(digits, 16))

    def _class(self) -> _Node:
        negated = self._peek() == "^"
        if negated:
            self.at += 1
        ranges: list[tuple[str, str]] = []
        first = True
        while first or self._peek() != "]":
            first = False
            low = self._class_char(ranges)
            if low is None:
                continue
            if self._peek() == "-" and self._peek(1) not in ("]", ""):
                self.at += 1
                high = self._class_char(ranges)
                if high is None or high < low:
                    raise _Beyond("a malformed range")
                ranges.append((low, high))
            else:
                ranges.append((low, low))
        self.at += 1  # the closing ]
        return _Class(tuple(ranges), negated)

    def _class_char(self, ranges: list[tuple[str, str]]) -> str | None:
        """One character of a class, or None for a class escape (added to `ranges`)."""
        char = self._take()
        if char != "\\":
            return char
        escaped = self._take()
        if escaped in "dws":
            ranges.extend(_ESCAPED_CLASSES[escaped].ranges)
            return None
        if escaped in "DWS":
            raise _Beyond("a negated class escape inside a class")
        return "\b" if escaped == "b" else self._literal(escaped)

    def _quantified(self, node: _Node) -> _Node:
        char = self._peek()
        bounds: tuple[int, int | None] | None = None
        if char in ("*", "+", "?"):
            self.at += 1
            bounds = {"*": (0, None), "+": (1, None), "?": (0, 1)}[char]
        elif char == "{":
            bounds = self._braces()
        if bounds is None:
            return node
        if self._peek() in ("?", "+"):  # lazy or possessive: the same strings match
            self.at += 1
        if self._peek() in ("*", "+", "?") or (self._peek() == "{" and self._braces_ahead()):
            raise _Beyond("a repeated repeat")
        low, high = bounds
        if low > MAX_REPEAT or (high is not None and high < low):
            raise _Beyond("a repeat out of bounds")
        return _Repeat(node, low, None if high is None else min(high, MAX_REPEAT))

    def _braces(self) -> tuple[int, int | None] | None:
        """`{n}`, `{n,}`, `{n,m}`; None (and `{` a literal, as in Python) for anything else."""
        found = _BRACES.match(self.text, self.at)
        if found is None:
            return None
        self.at = found.end()
        low = int(found.group(1))
        if found.group(2) is None:
            return low, low
        return low, int(found.group(3)) if found.group(3) else None

    def _braces_ahead(self) -> bool:
        return _BRACES.match(self.text, self.at) is not None


_BRACES = re.compile(r"\{(\d+)(,(\d*))?\}")

