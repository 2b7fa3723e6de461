"""The router's own HTTP/1.1 client, behind the transport seam (providers.transport).

Why not aiohttp's client: under callgrind it costs ~370K instructions per proxied request, more
than all of the router's own work (docs/performance.md, issue 17): a request object with cookie
jar, tracing hooks and redirect handling, the connector's bookkeeping, a stream reader per
answer. The router needs much less: keep-alive connections to a few upstreams, a JSON or SSE
answer, three timeouts, TLS. So this is that and no more: asyncio's Protocol, llhttp (httptools,
the parser Node.js uses) for the answer, chunked and close-delimited bodies, gzip/deflate when an
upstream sends them unasked, and every failure raised as router.errors, never as a foreign
exception.

    connection pool (LIFO per scheme/host/port, idle ones dropped after IDLE_S)
      -> _Connection: one socket, one answer at a time, parser callbacks
      -> _Answer: the TransportResponse handle the exchange reads

A connection the upstream closed while it sat idle is retried once on a fresh one when it fails
before a single byte of the answer: that race (the upstream's keep-alive timeout against our
next request) is not the upstream's fault and must not count against its health."""

from __future__ import annotations

import asyncio
import copy
import ssl
import zlib
from collections.abc import Mapping
from typing import cast
from urllib.parse import urlencode, urlsplit

import httptools
from multidict import CIMultiDict

from providers.transport import Timeouts, TransportResponse
from router.errors import BadResponse, UpstreamConnectError, UpstreamError, UpstreamTimeout

IDLE_S = 15.0  # aiohttp's keep-alive default: upstreams close idle connections after 15-75 s
HIGH_WATER = 256 * 1024  # unread body bytes at which the socket stops being read
HEAD_MAX = 64 * 1024  # bytes before an answer's head is complete: past it the answer is refused
_TARGETS_MAX = 1024  # parsed URLs kept; the router calls a few fixed URLs per provider

_Key = tuple[str, str, int]
_NO_HEADERS: CIMultiDict[str] = CIMultiDict()


class _Target:
    __slots__ = ("host", "host_header", "key", "path", "port", "tls")

    def __init__(self, url: str) -> None:
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            raise UpstreamConnectError("cannot connect to the upstream: invalid URL") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UpstreamConnectError("cannot connect to the upstream: not an http(s) URL")
        self.tls = parts.scheme == "https"
        self.host = parts.hostname
        self.port = port or (443 if self.tls else 80)
        self.key: _Key = (parts.scheme, self.host, self.port)
        self.host_header = parts.netloc.rpartition("@")[2]
        self.path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def _header_block(headers: Mapping[str, str]) -> str:
    lines = [f"{name}: {value}\r\n" for name, value in headers.items()]
    block = "".join(lines)
    # A line break inside a name or value would end the header early (request splitting); an
    # API key read from a file with its trailing newline is the usual way one gets there.
    if block.count("\n") != len(lines) or block.count("\r") != len(lines):
        bad = next(n for n, v in headers.items() if "\r" in n + v or "\n" in n + v)
        raise UpstreamConnectError(f"the {bad!r} header holds a line break")
    return block


def _decoder(encoding: str | None) -> zlib._Decompress | None:
    if not encoding:
        return None
    encoding = encoding.strip().lower()
    if encoding in ("gzip", "x-gzip"):
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if encoding == "deflate":
        return zlib.decompressobj()
    return None  # identity, or one we did not ask for and cannot read: passed through as is


class _Connection(asyncio.Protocol):
    """One socket to one upstream, and the answer it is receiving. The parser calls back into
    the on_* methods; whoever reads the answer waits in `changed()`."""

    def __init__(self, loop: asyncio.AbstractEventLoop, key: _Key) -> None:
        self.loop = loop
        self.key = key
        self.idle_since = 0.0
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        # Bare LF line endings, as hand-written servers send them: aiohttp's client took them too.
        self._parser.set_dangerous_leniencies(lenient_optional_cr_before_lf=True)
        self._lost = False
        self._paused = False
        self._waiter: asyncio.Future[None] | None = None
        self._active = False  # an exchange is under way (bytes at any other time are an error)
        self._begin()

    def _begin(self) -> None:
        self._raw: list[tuple[str, str]] = []
        self._head_bytes = 0
        self.status = 0
        self.headers: CIMultiDict[str] = _NO_HEADERS
        self._head = False
        self._complete = False
        self._reusable = False
        self._close_delimited = False
        self._received = False
        self._pieces: list[bytes] = []
        self._buffered = 0
        self._unzip: zlib._Decompress | None = None
        self._error: UpstreamError | None = None

    # -- the socket ------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        if not self._active or self._complete:
            # An idle connection's "408 timeout", or bytes after a whole answer: nothing we asked
            # for, and whatever follows on this connection could not be trusted.
            self.close()
            return
        self._received = True
        if not self._head:
            self._head_bytes += len(data)
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserCallbackError:
            raise  # our own callback failed: a bug, let asyncio report it
        except httptools.HttpParserError as exc:
            if not self._complete:  # junk after a whole answer spoils only the connection
                self._fail(BadResponse(f"unusable upstream answer: {exc}"))
            self.close()
            return
        if not self._head and self._head_bytes > HEAD_MAX:  # llhttp itself sets no bound
            self._fail(BadResponse(f"the upstream's headers are larger than {HEAD_MAX} bytes"))
            self.close()
            return
        if self._buffered > HIGH_WATER and not self._paused and self._transport is not None:
            self._paused = True
            self._transport.pause_reading()

    def eof_received(self) -> bool:
        return False  # close our side too: an HTTP/1.1 answer never continues after EOF

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        self._transport = None
        if not self._complete and self._error is None:
            if self._head and self._close_delimited and exc is None:
                self._finish()  # the answer's length was "until the connection closes"
            elif self._received:
                self._fail(BadResponse(
                    "the upstream closed the connection before a complete answer"))
            else:
                self._fail(_StaleError())
        self._wake()

    # -- the parser's callbacks ------------------------------------------------------------------

    # Once the answer is complete, whatever else the same read held (a second answer nobody asked
    # for) is ignored, and the connection is not used again.

    def on_message_begin(self) -> None:
        if self._complete:
            self._reusable = False

    def on_header(self, name: bytes, value: bytes) -> None:
        if self._complete:
            return
        self._raw.append((name.decode("latin-1"), value.decode("latin-1")))

    def on_headers_complete(self) -> None:
        if self._complete:
            return
        status = self._parser.get_status_code()
        if 100 <= status < 200:  # 100 Continue and the like: the real answer follows
            self._raw = []
            return
        self.status = status
        self._reusable = self._parser.should_keep_alive()
        self.headers = headers = CIMultiDict(self._raw)
        self._close_delimited = ("Content-Length" not in headers
                                 and "chunked" not in headers.get("Transfer-Encoding", "").lower())
        if "Content-Encoding" in headers:
            self._unzip = _decoder(headers["Content-Encoding"])
        self._head = True
        self._wake()

    def on_body(self, body: bytes) -> None:
        if self._complete:
            return
        if self._unzip is not None:
            try:
                body = self._unzip.decompress(body)
            except zlib.error:
                self._fail(BadResponse("the upstream's compressed answer does not decompress"))
                self.close()
                return
        if body:  # an empty piece would read as the end of the body
            self._pieces.append(body)
            self._buffered += len(body)
            self._wake()

    def on_message_complete(self) -> None:
        if self._head and not self._complete:
            self._finish()

    def _finish(self) -> None:
        if self._unzip is not None and (tail := self._unzip.flush()):
            self._pieces.append(tail)
        self._complete = True
        self._wake()

    # -- waiting ---------------------------------------------------------------------------------

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _fail(self, error: UpstreamError) -> None:
        if self._error is None:
            self._error = error
        self._wake()

    def _timed_out(self, waiter: asyncio.Future[None]) -> None:
        if not waiter.done():
            self.expire()

    def expire(self) -> None:
        self._fail(UpstreamTimeout("the upstream did not answer in time"))
        self.close()

    async def changed(self, deadline: float | None) -> None:
        """Until the parser or the socket has news, or `deadline` (loop time) passes."""
        waiter = self._waiter = self.loop.create_future()
        timer = None if deadline is None else self.loop.call_at(deadline, self._timed_out, waiter)
        try:
            await waiter
        finally:
            self._waiter = None
            if timer is not None:
                timer.cancel()

    # -- one exchange ----------------------------------------------------------------------------

    def send(self, data: bytes) -> None:
        self._begin()
        self._active = True
        if self._lost or self._transport is None:
            self._fail(_StaleError())
            return
        self._transport.write(data)

    def take(self) -> bytes:
        """The body bytes received and not yet taken."""
        data = self._pieces[0] if len(self._pieces) == 1 else b"".join(self._pieces)
        self._pieces = []
        self._buffered = 0
        if self._paused and self._transport is not None:
            self._paused = False
            self._transport.resume_reading()
        return data

    @property
    def has_body(self) -> bool:
        return bool(self._pieces)

    @property
    def head(self) -> bool:
        return self._head

    @property
    def complete(self) -> bool:
        return self._complete

    @property
    def error(self) -> UpstreamError | None:
        """The failure, as a new exception at each read: the one kept here, raised from a
        frame that reaches this connection, would make a cycle (its traceback holds the frame)
        that keeps the whole request, body and all, alive until the collector runs."""
        error = self._error
        return None if error is None else copy.copy(error)

    @property
    def reusable(self) -> bool:
        return self._complete and self._reusable and not self._lost and not self._pieces

    def idle(self, now: float) -> None:
        self._active = False
        self.idle_since = now

    def close(self) -> None:
        self._lost = True
        if self._transport is not None:
            self._transport.close()


class _StaleError(BadResponse):
    """The connection ended before any byte of the answer: on a pooled one, the keep-alive race
    (Http11Transport._exchange retries it on a fresh one)."""

    def __init__(self, message: str = "the upstream closed the connection before answering") -> None:
        super().__init__(message)


class _Answer:
    """The TransportResponse of one exchange: reads go to the connection until released."""

    __slots__ = ("_conn", "_deadline", "_pool", "_read_s", "headers", "status")

    def __init__(self, conn: _Connection, pool: Http11Transport, read_s: float | None,
                 deadline: float | None) -> None:
        self._conn: _Connection | None = conn
        self._pool = pool
        self._read_s = read_s
        self._deadline = deadline
        self.status = conn.status
        self.headers: Mapping[str, str] = conn.headers

    async def chunk(self) -> bytes:
        conn = self._conn
        if conn is None:
            return b""
        if self._deadline is not None and not conn.complete and conn.loop.time() >= self._deadline:
            # Past the total timeout, even with bytes waiting (an endless answer read slowly).
            conn.expire()
            raise conn.error or UpstreamTimeout("the upstream did not answer in time")
        while not conn.has_body:
            if conn.error is not None:
                raise conn.error
            if conn.complete:
                return b""
            gap = None if self._read_s is None else conn.loop.time() + self._read_s
            await conn.changed(_sooner(gap, self._deadline))
        return conn.take()

    async def read(self, limit: int, *, truncate: bool = False) -> bytes:
        parts: list[bytes] = []
        size = 0
        while chunk := await self.chunk():
            size += len(chunk)
            if size > limit:
                if truncate:
                    parts.append(chunk[: limit - size + len(chunk)])
                    break
                raise BadResponse(f"the upstream's answer is larger than {limit} bytes")
            parts.append(chunk)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            self._pool.put_back(conn)


class Http11Transport:
    """An AsyncTransport: pooled keep-alive HTTP/1.1 connections, created on the running loop."""

    def __init__(self, timeouts: Timeouts | None = None,
                 tls: ssl.SSLContext | None = None) -> None:
        self._timeouts = timeouts or Timeouts()
        self._tls = tls
        self._idle: dict[_Key, list[_Connection]] = {}
        self._targets: dict[str, _Target] = {}

    def _target(self, url: str) -> _Target:
        target = self._targets.get(url)
        if target is None:
            target = _Target(url)
            if len(self._targets) >= _TARGETS_MAX:
                self._targets.clear()
            self._targets[url] = target
        return target

    async def request(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes | None = None,
        params: Mapping[str, str] | None = None,
    ) -> TransportResponse:
        target = self._target(url)
        path = target.path
        if params:
            path += ("&" if "?" in path else "?") + urlencode(params)
        head = f"{method} {path} HTTP/1.1\r\nHost: {target.host_header}\r\n{_header_block(headers)}"
        if body is None and method == "GET":
            data = (head + "\r\n").encode()
        else:
            body = body or b""
            data = (head + f"Content-Length: {len(body)}\r\n\r\n").encode()
            data += body
        loop = asyncio.get_running_loop()
        total = self._timeouts.total_s
        deadline = None if total is None else loop.time() + total
        conn = await self._exchange(loop, target, data, deadline)
        return _Answer(conn, self, self._timeouts.read_s, deadline)

    async def _exchange(self, loop: asyncio.AbstractEventLoop, target: _Target, data: bytes,
                        deadline: float | None) -> _Connection:
        """The connection that carried the request and has the answer's head: a pooled one, or
        a fresh one when there is none or the pooled one was closed under us."""
        conn = self._take_idle(target.key, loop.time())
        if conn is not None:
            try:
                await self._head(loop, conn, data, deadline)
                return conn
            except _StaleError:
                pass
        conn = await self._connect(loop, target, deadline)
        await self._head(loop, conn, data, deadline)
        return conn

    async def _head(self, loop: asyncio.AbstractEventLoop, conn: _Connection, data: bytes,
                    deadline: float | None) -> None:
        """Sends the request and waits for the answer's head (the connection closed on failure)."""
        conn.send(data)
        read_s = self._timeouts.read_s
        when = _sooner(None if read_s is None else loop.time() + read_s, deadline)
        try:
            while not conn.head:
                if conn.error is not None:
                    raise conn.error
                await conn.changed(when)
        except BaseException:
            conn.close()
            raise

    def _take_idle(self, key: _Key, now: float) -> _Connection | None:
        idle = self._idle.get(key)
        while idle:
            conn = idle.pop()
            if conn.reusable and now - conn.idle_since < IDLE_S:
                return conn
            conn.close()
        return None

    async def _connect(self, loop: asyncio.AbstractEventLoop, target: _Target,
                       deadline: float | None) -> _Connection:
        tls = None
        if target.tls:
            if self._tls is None:
                self._tls = ssl.create_default_context()
            tls = self._tls
        connect_s = self._timeouts.connect_s
        limit = None if deadline is None else deadline - loop.time()
        if connect_s is not None:
            limit = connect_s if limit is None else min(limit, connect_s)
        conn = _Connection(loop, target.key)
        try:
            async with asyncio.timeout(limit):
                transport, _ = await loop.create_connection(
                    lambda: conn, target.host, target.port, ssl=tls,
                    server_hostname=target.host if tls else None)
        except TimeoutError:
            raise UpstreamTimeout("the upstream did not answer in time") from None
        except (OSError, ssl.SSLError, ValueError) as exc:
            raise UpstreamConnectError(
                f"cannot connect to the upstream: {exc.__class__.__name__}") from None
        conn.connection_made(transport)  # uvloop may not have called it yet
        return conn

    def put_back(self, conn: _Connection) -> None:
        if not conn.reusable:
            conn.close()
            return
        now = conn.loop.time()
        conn.idle(now)
        idle = self._idle.setdefault(conn.key, [])
        # The oldest sit at the bottom, below those reused first: drop them there once expired.
        while idle and (now - idle[0].idle_since >= IDLE_S or not idle[0].reusable):
            idle.pop(0).close()
        idle.append(conn)

    async def aclose(self) -> None:
        idle, self._idle = self._idle, {}
        for conns in idle.values():
            for conn in conns:
                conn.close()


def _sooner(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else min(a, b)
