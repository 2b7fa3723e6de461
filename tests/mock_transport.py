"""A transport built from a function (as httpx's MockTransport): tests of the provider adapters and
the exchange script what the network does, failures mid-body included, without a socket."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from router.errors import BadResponse


@dataclass
class Sent:
    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes | None


@dataclass
class MockResponse:
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    # The body as the pieces it arrives in; an exception among them is raised when reached.
    pieces: Sequence[bytes | BaseException] = ()
    released: bool = False

    async def read(self, limit: int, *, truncate: bool = False) -> bytes:
        out = b""
        while piece := await self.chunk():
            out += piece
            if len(out) > limit:
                if truncate:
                    return out[:limit]
                raise BadResponse(f"the upstream's answer is larger than {limit} bytes")
        return out

    async def chunk(self) -> bytes:
        if not self.pieces:
            return b""
        piece, *rest = self.pieces
        self.pieces = rest
        if isinstance(piece, BaseException):
            raise piece
        return piece

    def release(self) -> None:
        self.released = True


Handler = Callable[[Sent], MockResponse]


class MockTransport:
    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self.sent: list[Sent] = []
        self.closed = False

    async def request(self, method: str, url: str, headers: Mapping[str, str],
                      body: bytes | None = None, params: Mapping[str, str] | None = None,
                      ) -> MockResponse:
        sent = Sent(method, url, dict(headers), body)
        self.sent.append(sent)
        return self._handler(sent)

    async def aclose(self) -> None:
        self.closed = True
