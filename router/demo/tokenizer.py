"""How the simulated backends count and cut text into tokens: a word of up to six letters, a
run of digits, or one punctuation mark, each with the whitespace before it. Cutting is lossless
(the pieces join back to the text), so a stream sends one piece per token and its usage counts
exactly what it sent."""

from __future__ import annotations

import re
from collections.abc import Iterable

TOKEN = re.compile(r"\s*(?:[^\W\d_]{1,6}|\d{1,3}|[^\w\s]|_)|\s+", re.UNICODE)
IMAGE_TOKENS = 85  # what OpenAI bills a low-detail image
MESSAGE_TOKENS = 3  # the per-message framing every chat template adds


def pieces(text: str) -> list[str]:
    """`text` in tokens; "".join(pieces(text)) == text."""
    return TOKEN.findall(text)


def count(texts: Iterable[str]) -> int:
    return sum(len(TOKEN.findall(t)) for t in texts)


def grouped(parts: list[str], groups: int) -> list[str]:
    """The pieces joined into about `groups` evenly sized chunks (0: one chunk per piece)."""
    if groups <= 0 or len(parts) <= groups:
        return parts
    size = -(-len(parts) // groups)
    return ["".join(parts[i:i + size]) for i in range(0, len(parts), size)]
