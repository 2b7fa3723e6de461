"""The Redis protocol (RESP2) over one pipelined connection: the Redis store's client.

Commands are written as they come, all on one connection, and Redis answers them in order, so
one connection carries every concurrent caller with no pool and no lock on the way (Redis runs
one command at a time anyway). Nothing is ever sent twice: a command whose connection ended
after it was written fails with ReplyLost (the server may have run it), and the caller decides.

A connection is replaced on the next call once it is closed: by the server, by a reply that
cannot be read, or by a caller that stopped waiting (its timeout cancelled the wait). That last
rule keeps a connection that went silent (a vanished host, a dropped conntrack entry, a frozen
server) from holding every later call: the next one connects afresh. The other callers still
waiting on a closed connection get ReplyLost.

Why not redis-py: its client-side work was most of a budget check's cost (119 us of CPU for a
PING here, against 44 us for the same round trip on a bare asyncio connection).

URLs: `redis://[[user]:password@]host[:port][/db]`, `rediss://` the same over TLS (the system's
certificate authorities), `unix:///path/to/socket`; query parameters `db`, `password`,
`ssl_ca_certs` (a CA file for rediss) and `ssl_cert_reqs` (`required`, the default, `optional`
or `none`), as redis-py reads them; any other is refused. Replies are bytes (bulk and simple
strings), int, None (a nil) or lists of them; an error reply is RespError."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast
from urllib.parse import parse_qs, unquote, urlsplit

DEFAULT_PORT = 6379
SCHEMES = ("redis", "rediss", "unix")
QUERY = frozenset({"db", "password", "ssl_ca_certs", "ssl_cert_reqs"})
CERT_REQS = {"required": ssl.CERT_REQUIRED, "optional": ssl.CERT_OPTIONAL, "none": ssl.CERT_NONE}
MAX_BULK = 512 * 1024 * 1024  # Redis's own proto-max-bulk-len
MAX_ITEMS = 1 << 20
MAX_DEPTH = 8  # the store's replies nest two deep
# Bytes written but not yet taken by the socket past which a call is refused: a server that
# stopped reading must not make this process hold everything sent meanwhile.
HIGH_WATER = 64 * 1024 * 1024
CLOSE_WAIT_S = 1.0


class RespError(Exception):
    """An error reply. Its text is Redis's own (it never holds a password)."""

    @property
    def kind(self) -> str:
        """Its first word: NOSCRIPT, WRONGPASS, NOAUTH, BUSY, ..."""
        return str(self).partition(" ")[0]


class ReplyLost(ConnectionError):
    """The connection ended after the command was written: the server may have run it."""


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
    ca_file: str | None = None
    cert_reqs: str = "required"

    @classmethod
    def parse(cls, url: str) -> Target:
        """ValueError, never naming the password, for a URL this client cannot use."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:  # its text may quote the whole address, password included
            raise ValueError("not a valid Redis URL") from None
        if parts.scheme not in SCHEMES:
            raise ValueError(f"a Redis URL starts with {', '.join(s + '://' for s in SCHEMES)}")
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        unknown = sorted(set(query) - QUERY)
        if unknown:
            raise ValueError(f"unknown Redis URL parameter {unknown[0]!r} (known: "
                             f"{', '.join(sorted(QUERY))})")
        in_path = parts.path.strip("/") if parts.scheme != "unix" else ""
        db = in_path or query.get("db", "")
        if db and not db.isdigit():
            raise ValueError("a Redis URL's database is a number")
        reqs = query.get("ssl_cert_reqs", "required")
        if reqs not in CERT_REQS:
            raise ValueError(f"ssl_cert_reqs is one of {', '.join(CERT_REQS)}")
        password = unquote(parts.password) if parts.password else query.get("password")
        return cls(
            host=parts.hostname or "localhost",
            port=port or DEFAULT_PORT,
            path=parts.path if parts.scheme == "unix" else None,
            tls=parts.scheme == "rediss",
            username=unquote(parts.username) if parts.username else None,
            password=password or None,  # an empty one: no AUTH, as redis-py
            db=int(db or 0),
            ca_file=query.get("ssl_ca_certs") or None,
            cert_reqs=reqs,
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

    def tls_context(self) -> ssl.SSLContext | None:
        if not self.tls:
            return None
        context = ssl.create_default_context(cafile=self.ca_file)
        if self.cert_reqs != "required":
            context.check_hostname = False
            context.verify_mode = CERT_REQS[self.cert_reqs]
        return context


def encode(command: Sequence[Arg]) -> bytes:
    """One command as RESP: an array of bulk strings."""
    out = [b"*%d\r\n" % len(command)]
    for arg in command:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        out.append(b"$%d\r\n%b\r\n" % (len(data), data))
    return b"".join(out)


def _count(line: bytes, most: int) -> int:
    """A length: digits, or -1 (nil). Nothing int() would also take (`+5`, ` 3`, `1_0`)."""
    if line == b"-1":
        return -1
    if not line.isdigit() or int(line) > most:
        raise ValueError("not a RESP length")
    return int(line)


def parse(buffer: bytearray, at: int, depth: int = 0) -> tuple[Reply, int]:
    """The reply starting at `at`, and where the next one starts. _Incomplete when the buffer
    ends first; ValueError for bytes that are no reply."""
    end = buffer.find(b"\r\n", at)
    if end < 0:
        raise _Incomplete
    kind, line, after = buffer[at], bytes(buffer[at + 1:end]), end + 2
    if kind == 0x24:  # $ bulk string
        size = _count(line, MAX_BULK)
        if size < 0:
            return None, after
        if len(buffer) < after + size + 2:
            raise _Incomplete
        if buffer[after + size:after + size + 2] != b"\r\n":
            raise ValueError("a bulk string longer than it said")
        return bytes(buffer[after:after + size]), after + size + 2
    if kind == 0x3A:  # : integer
        if not (line[1:] if line[:1] == b"-" else line).isdigit():
            raise ValueError("not a RESP integer")
        return int(line), after
    if kind == 0x2A:  # * array
        count = _count(line, MAX_ITEMS)
        if count < 0:
            return None, after
        if depth >= MAX_DEPTH:
            raise ValueError("arrays nested deeper than the store's replies ever are")
        items: list[Reply] = []
        for _ in range(count):
            item, after = parse(buffer, after, depth + 1)
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
        self.gone: asyncio.Future[None] = loop.create_future()  # once the socket is closed

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def send(self, payload: bytes, replies: int) -> list[asyncio.Future[Reply]]:
        transport = self._transport
        if self.closed or transport is None:
            raise ConnectionError("the store's connection is closed")
        if transport.get_write_buffer_size() > HIGH_WATER:
            raise ConnectionError("the store is not reading what was sent")
        futures = [self._loop.create_future() for _ in range(replies)]
        self._waiting.extend(futures)
        transport.write(payload)
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
                if not waiter.done():  # one cancelled with its caller: nothing to tell
                    waiter.set_result(reply)
        except _Incomplete:
            pass
        except ValueError:
            # Out of step with the server: no later reply could be trusted to be whose it seems.
            self.close()
            return
        del buffer[:at]

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost()
        if not self.gone.done():
            self.gone.set_result(None)

    def close(self) -> None:
        self._lost()
        if self._transport is None:
            self.connection_lost(None)
        else:
            self._transport.close()  # connection_lost follows once the socket is closed

    def _lost(self) -> None:
        self.closed = True
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_exception(ReplyLost("the store's connection ended before its reply"))


async def _replies(connection: _Connection, futures: list[asyncio.Future[Reply]]) -> list[Reply]:
    try:
        return [await future for future in futures]
    except asyncio.CancelledError:
        # The caller gave up: a server that does not answer may never do, so the connection
        # is not kept for the next call.
        connection.close()
        raise
    finally:
        for future in futures:  # what a failure or a cancellation left behind
            if not future.done():
                future.cancel()
            elif not future.cancelled():
                future.exception()  # seen: never reported as unretrieved


class RespClient:
    def __init__(self, url: str, connect_timeout_s: float, tls: ssl.SSLContext | None = None) -> None:
        self._target = Target.parse(url)
        self._connect_timeout_s = connect_timeout_s
        # Injected by tests; otherwise what the URL asks for (rediss: the system's authorities).
        self._tls = tls or self._target.tls_context()
        self._connection: _Connection | None = None
        self._connecting = asyncio.Lock()

    async def execute(self, *command: Arg) -> Reply:
        """One command's reply; RespError for an error reply; ReplyLost when the connection
        ended after the command was sent; TimeoutError (connecting) or another OSError when the
        store cannot be reached."""
        (reply,) = await self.execute_many([command])
        return reply

    async def execute_many(self, commands: Sequence[Sequence[Arg]]) -> list[Reply]:
        """Every command in one write, their replies in order; the first error reply raised
        (the replies after it are read all the same)."""
        connection = await self._connected()
        payload = b"".join(encode(c) for c in commands)
        replies = await _replies(connection, connection.send(payload, len(commands)))
        for reply in replies:
            if isinstance(reply, RespError):
                raise reply
        return replies

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
                transport, _ = await loop.create_connection(
                    lambda: connection, target.host, target.port, ssl=self._tls,
                    server_hostname=target.host if self._tls else None)
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
        for reply in await _replies(connection, connection.send(payload, len(hello))):
            if isinstance(reply, RespError):
                raise reply  # WRONGPASS, or a database the server does not have

    async def aclose(self) -> None:
        async with self._connecting:  # not while one is being opened: it would be left open
            connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(CLOSE_WAIT_S):
                    await connection.gone  # a TLS goodbye, when there is one, is sent
