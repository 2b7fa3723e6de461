"""The SSE decoder: frames split anywhere across reads decode the same."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from providers.sse import SSEDecoder

STREAM = (b": comment\n\nevent: message_start\ndata: {\"a\": 1}\n\n"
          b"data: {\"b\":\r\ndata: 2}\r\n\r\ndata: [DONE]\n\n")
EXPECTED = [("message_start", b'{"a": 1}'), (None, b'{"b":\n2}'), (None, b"[DONE]")]


@given(st.lists(st.integers(0, len(STREAM)), max_size=10))
def test_any_split_decodes_the_same(cuts: list[int]) -> None:
    bounds = [0, *sorted(cuts), len(STREAM)]
    decoder = SSEDecoder()
    out = []
    for a, b in itertools.pairwise(bounds):
        out += decoder.feed(STREAM[a:b])
    out += decoder.flush()
    assert out == EXPECTED


def test_a_final_frame_without_blank_line_is_flushed() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: x") == []
    assert decoder.flush() == [(None, b"x")]


def test_an_endless_frame_is_refused() -> None:
    decoder = SSEDecoder(max_buffer=100)
    try:
        decoder.feed(b"data: " + b"x" * 200)
    except ValueError:
        return
    raise AssertionError("no limit")
