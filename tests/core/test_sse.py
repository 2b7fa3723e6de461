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


LINES = st.one_of(
    st.binary(max_size=12).filter(lambda b: b"\n" not in b and b"\r" not in b).map(
        lambda b: b"data: " + b),
    st.sampled_from([b"data:x", b"data:", b"data: ", b"event: delta", b": keep-alive",
                     b"id: 7", b"data: data: y"]),
)


@given(st.lists(st.lists(LINES, min_size=1, max_size=4), max_size=8))
def test_single_data_line_frames_decode_as_the_general_parser_does(
        frames: list[list[bytes]]) -> None:
    # The decoder's shortcut for one-line `data: ` frames must agree with the line parser.
    raw = b"".join(b"\n".join(lines) + b"\n\n" for lines in frames)
    expected = []
    for lines in frames:
        event, data = None, []
        for line in lines:
            if line.startswith(b"data:"):
                data.append(line[6:] if line[5:6] == b" " else line[5:])
            elif line.startswith(b"event:"):
                event = line[6:].strip().decode()
        if data:
            expected.append((event, b"\n".join(data)))
    assert SSEDecoder().feed(raw) == expected
