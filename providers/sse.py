"""An incremental SSE decoder: bytes in, (event name, data) pairs out. It tolerates CRLF, comments,
multi-line data and frames split across network reads."""

from __future__ import annotations


class SSEDecoder:
    def __init__(self, max_buffer: int = 8 * 1024 * 1024) -> None:
        self._buf = b""
        self._max = max_buffer

    def feed(self, chunk: bytes) -> list[tuple[str | None, bytes]]:
        buf = self._buf + chunk
        held = b""
        if buf.endswith(b"\r"):  # maybe half of a CRLF split across reads: decide next time
            buf, held = buf[:-1], b"\r"
        if b"\r" in buf:
            buf = buf.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        frames = buf.split(b"\n\n")
        self._buf = frames.pop() + held
        if len(self._buf) > self._max:
            raise ValueError("SSE frame larger than the buffer limit")
        out: list[tuple[str | None, bytes]] = []
        for frame in frames:
            # Nearly every frame an LLM streams is one `data: ` line: no need to split it.
            if frame.startswith(b"data: ") and b"\n" not in frame:
                out.append((None, frame[6:]))
            elif (event := _parse(frame)) is not None:
                out.append(event)
        return out

    def flush(self) -> list[tuple[str | None, bytes]]:
        """Whatever complete-looking frame is left when the stream ends."""
        rest, self._buf = self._buf, b""
        ev = _parse(rest.replace(b"\r", b"\n").strip(b"\n"))
        return [ev] if ev is not None else []


def _parse(frame: bytes) -> tuple[str | None, bytes] | None:
    event: str | None = None
    data: list[bytes] = []
    for line in frame.split(b"\n"):
        if line.startswith(b"data:"):
            data.append(line[6:] if line[5:6] == b" " else line[5:])
        elif line.startswith(b"event:"):
            event = line[6:].strip().decode("utf-8", "replace")
    if not data:
        return None
    return event, b"\n".join(data)
