"""The Redis protocol (RESP2) over one pipelined connection: the Redis store's client.

Commands are written as they come, all on one connection, and Redis answers them in order, so
one connection carries every concurrent caller with no pool and no lock on the way (Redis runs
one command at a time anyway). A caller that stops waiting (its timeout cancels the wait)
keeps its place in the queue: its reply is read and dropped when it comes, and the replies
after it still reach their own callers. A connection the server closed is replaced on the next
call, and every caller still waiting on it gets ConnectionError; a call that finds a reused
connection closed under it (a restarted server whose goodbye was not read yet) is sent once more
on a fresh one.

Why not redis-py: its client-side work was most of a budget check's cost (119 us of CPU for a
PING here, against 44 us for the same round trip on a bare asyncio connection).

URLs: `redis://[[user]:password@]host[:port][/db]`, `rediss://` the same over TLS (the
system's certificate authorities), `unix:///path/to/socket[?db=N]`. Replies are bytes (bulk
and simple strings), int, None (a nil) or lists of them; an error reply is RespError."""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast
from urllib.parse import parse_qs, unquote, urlsplit

DEFAULT_PORT = 6379
SCHEMES = ("redis", "rediss", "unix")


class RespError(Exception):
    """An error reply. Its text is Redis's own (it never holds a password)."""

    @property
    def kind(self) -> str:
        """Its first word: NOSCRIPT, WRONGPASS, NOAUTH, BUSY, ..."""
        return str(self).partition(" ")[0]


Arg = str | int | bytes
Reply = bytes | int | None | list["Reply"] | RespError


class _Incomplete(Exception):
    """The buffer ends inside a reply: read more."""


@dataclass(frozen=True, slots=True)
class Target:
    """Where a URL points and how to log in there."""

    host: str
    port: int
    path: str | None  # a unix socket instead of host:port
    tls: bool
    username: str | None
    password: str | None
    db: int

    @classmethod
    def parse(cls, url: str) -> Target:
        """ValueError (never naming the password) for a URL this client cannot use."""
        parts = urlsplit(url)
        if parts.scheme not in SCHEMES:
            raise ValueError(f"a Redis URL starts with {', '.join(s + '://' for s in SCHEMES)}")
        query = parse_qs(parts.query)
        db_text = (query.get("db") or [""])[0] if parts.scheme == "unix" else parts.path.strip("/")
        if db_text and not db_text.isdigit():
            raise ValueError("a Redis URL's database is a number")
        return cls(
            host=parts.hostname or "localhost",
            port=parts.port or DEFAULT_PORT,
            path=parts.path if parts.scheme == "unix" else None,
            tls=parts.scheme == "rediss",
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password is not None else None,
            db=int(db_text or 0),
        )

    def hello(self) -> list[tuple[Arg, ...]]:
        """The commands a new connection sends first: AUTH, SELECT."""
        commands: list[tuple[Arg, ...]] = []
        if self.password is not None:
            commands.append(("AUTH", self.username, self.password) if self.username
                            else ("AUTH", self.password))
        if self.db:
            commands.append(("SELECT", self.db))
        return commands


def encode(command: Sequence[Arg]) -> bytes:
    """One command as RESP: an array of bulk strings."""
    out = [b"*%d\r\n" % len(command)]
    for arg in command:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        out.append(b"$%d\r\n%b\r\n" % (len(data), data))
    return b"".join(out)


def parse(buffer: bytearray, at: int) -> tuple[Reply, int]:
    """The reply starting at `at`, and where the next one starts. _Incomplete when the buffer
    ends first; ValueError for bytes that are no reply."""
    end = buffer.find(b"\r\n", at)
    if end < 0:
        raise _Incomplete
    kind, line, after = buffer[at], bytes(buffer[at + 1:end]), end + 2
    if kind == 0x24:  # $ bulk string
        size = int(line)
        if size < 0:
            return None, after
        if len(buffer) < after + size + 2:
            raise _Incomplete
        return bytes(buffer[after:after + size]), after + size + 2
    if kind == 0x3A:  # : integer
        return int(line), after
    if kind == 0x2A:  # * array
        count = int(line)
        if count < 0:
            return None, after
        items: list[Reply] = []
        for _ in range(count):
            item, after = parse(buffer, after)
            items.append(item)
        return items, after
    if kind == 0x2B:  # + simple string
        return line, after
    if kind == 0x2D:  # - error
        return RespError(line.decode(errors="replace")), after
    raise ValueError("not a RESP reply")


class _Connection(asyncio.Protocol):
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._transport: asyncio.Transport | None = None
        self._waiting: deque[asyncio.Future[Reply]] = deque()
        self._buffer = bytearray()
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def send(self, payload: bytes, replies: int) -> list[asyncio.Future[Reply]]:
        if self.closed or self._transport is None:
            raise ConnectionError("the store's connection is closed")
        futures = [self._loop.create_future() for _ in range(replies)]
        self._waiting.extend(futures)
        self._transport.write(payload)
        return futures

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        at = 0
        try:
            while at < len(buffer):
                reply, at = parse(buffer, at)
                if not self._waiting:
                    raise ValueError("a reply nobody asked for")
                waiter = self._waiting.popleft()
                if not waiter.done():  # a caller that gave up: its reply is dropped
                    waiter.set_result(reply)
        except _Incomplete:
            pass
        except ValueError:
            # Out of step with the server: no later reply could be trusted to be whose it seems.
            self.close()
            return
        del buffer[:at]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_exception(ConnectionError("the store closed the connection"))

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
        self.connection_lost(None)


async def _replies(futures: list[asyncio.Future[Reply]]) -> list[Reply]:
    try:
        return [await future for future in futures]
    finally:
        for future in futures:  # what a failure or a cancellation left behind
            if not future.done():
                future.cancel()  # its reply, when it comes, is dropped
            elif not future.cancelled():
                future.exception()  # seen: never reported as unretrieved


class RespClient:
    def __init__(self, url: str, connect_timeout_s: float, tls: ssl.SSLContext | None = None) -> None:
        self._target = Target.parse(url)
        self._connect_timeout_s = connect_timeout_s
        self._tls = tls  # injected by tests; rediss:// otherwise trusts the system's authorities
        self._connection: _Connection | None = None
        self._connecting = asyncio.Lock()

    async def execute(self, *command: Arg) -> Reply:
        """One command's reply; RespError for an error reply, ConnectionError, TimeoutError
        (connecting) or OSError when the store cannot be reached."""
        (reply,) = await self.execute_many([command])
        return reply

    async def execute_many(self, commands: Sequence[Sequence[Arg]]) -> list[Reply]:
        """Every command in one write, their replies in order; the first error reply raised
        once all have come."""
        payload = b"".join(encode(c) for c in commands)
        reused = self._connection is not None and not self._connection.closed
        try:
            replies = await self._send(payload, len(commands))
        except ConnectionError:
            if not reused:
                raise
            replies = await self._send(payload, len(commands))  # a server that restarted
        for reply in replies:
            if isinstance(reply, RespError):
                raise reply
        return replies

    async def _send(self, payload: bytes, count: int) -> list[Reply]:
        connection = await self._connected()
        return await _replies(connection.send(payload, count))

    async def _connected(self) -> _Connection:
        connection = self._connection
        if connection is not None and not connection.closed:
            return connection
        async with self._connecting:  # callers arriving meanwhile wait for the same one
            connection = self._connection
            if connection is None or connection.closed:
                connection = self._connection = await self._open()
            return connection

    async def _open(self) -> _Connection:
        loop = asyncio.get_running_loop()
        target = self._target
        connection = _Connection(loop)
        async with asyncio.timeout(self._connect_timeout_s):
            if target.path is not None:
                transport, _ = await loop.create_unix_connection(lambda: connection, target.path)
            else:
                tls = (self._tls or ssl.create_default_context()) if target.tls else None
                transport, _ = await loop.create_connection(
                    lambda: connection, target.host, target.port, ssl=tls,
                    server_hostname=target.host if tls else None)
            connection.connection_made(transport)  # uvloop may not have called it yet
            try:
                await self._hello(connection)
            except BaseException:
                connection.close()
                raise
        return connection

    async def _hello(self, connection: _Connection) -> None:
        hello = self._target.hello()
        if not hello:
            return
        payload = b"".join(encode(c) for c in hello)
        for reply in await _replies(connection.send(payload, len(hello))):
            if isinstance(reply, RespError):
                raise reply  # WRONGPASS, or a database the server does not have

    async def aclose(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
