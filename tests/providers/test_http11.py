"""The HTTP/1.1 client against scripted loopback servers that misbehave on purpose (answers cut,
late, malformed, compressed, close-delimited, on connections closed while idle), plus the parser
fed arbitrary splits of an answer, without a socket."""

from __future__ import annotations

import asyncio
import copy
import gzip
import ssl
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from providers import http11
from providers.http11 import Http11Transport
from providers.transport import Timeouts
from router.errors import BadResponse, UpstreamConnectError, UpstreamError, UpstreamTimeout

Reader = asyncio.StreamReader
Writer = asyncio.StreamWriter
# One connection's script: it reads requests with `seen.next(reader)` and writes what it likes.
Script = Callable[["Seen", Reader, Writer], Awaitable[None]]


@dataclass
class Seen:
    requests: list[bytes] = field(default_factory=list)
    connections: int = 0
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)  # a request has been read

    async def next(self, reader: Reader) -> bytes:
        """One whole request (head and Content-Length body), or b"" at EOF."""
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return b""
        length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                       if line.lower().startswith(b"content-length:")), 0)
        request = head + await reader.readexactly(length)
        self.requests.append(request)
        self.arrived.set()
        return request


def answer(body: bytes = b'{"ok":true}', *extra: str, status: str = "200 OK") -> bytes:
    head = "".join(f"{line}\r\n" for line in extra)
    return (f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n{head}\r\n").encode() + body


def chunked(*pieces: bytes) -> bytes:
    body = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces)
    return b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + body + b"0\r\n\r\n"


async def serve_answers(seen: Seen, reader: Reader, writer: Writer) -> None:
    while await seen.next(reader):
        writer.write(answer())


def replies(wire: bytes, *, hold: bool = False) -> Script:
    """A connection that reads one request and writes `wire`, then closes, or with `hold` waits
    for the client to close it."""
    async def script(seen: Seen, reader: Reader, writer: Writer) -> None:
        await seen.next(reader)
        writer.write(wire)
        if hold:
            await reader.read()
    return script


@asynccontextmanager
async def upstream(*scripts: Script, tls: ssl.SSLContext | None = None) -> AsyncIterator[
        tuple[str, Seen]]:
    """A server whose n-th connection runs scripts[n] (the last one for any after it)."""
    seen = Seen()

    async def handle(reader: Reader, writer: Writer) -> None:
        script = scripts[min(seen.connections, len(scripts) - 1)]
        seen.connections += 1
        try:
            await script(seen, reader, writer)
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            seen.closed.set()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=tls)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{port}", seen
        server.close()


async def post(transport: Http11Transport, url: str, limit: int = 1 << 20) -> bytes:
    resp = await transport.request("POST", url + "/v1/x", {"Content-Type": "application/json"},
                                   b"{}")
    try:
        return await resp.read(limit)
    finally:
        resp.release()


async def test_a_keep_alive_connection_carries_request_after_request() -> None:
    transport = Http11Transport()
    async with upstream(serve_answers) as (url, seen):
        assert await post(transport, url) == b'{"ok":true}'
        assert await post(transport, url) == b'{"ok":true}'
        await transport.aclose()
        await seen.closed.wait()
    assert seen.connections == 1
    head = seen.requests[0].decode()
    assert head.startswith("POST /v1/x HTTP/1.1\r\n")
    assert f"Host: {url.removeprefix('http://')}\r\n" in head
    assert "Content-Length: 2\r\n" in head and head.endswith("\r\n\r\n{}")


async def test_a_chunked_answer_arrives_piece_by_piece() -> None:
    released = asyncio.Event()

    async def script(seen: Seen, reader: Reader, writer: Writer) -> None:
        await seen.next(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n")
        await released.wait()  # the client has the first piece before the rest exists
        writer.write(b"6\r\nsecond\r\n0\r\n\r\n")

    transport = Http11Transport()
    async with upstream(script) as (url, _):
        resp = await transport.request("GET", url, {})
        assert await resp.chunk() == b"first"
        released.set()
        assert await resp.chunk() == b"second"
        assert await resp.chunk() == b""
        resp.release()
        await transport.aclose()


async def test_a_close_delimited_answer_is_read_to_eof_and_its_connection_not_kept() -> None:
    script = replies(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end")

    transport = Http11Transport()
    async with upstream(script) as (url, seen):
        assert await post(transport, url) == b"until the end"
        assert await post(transport, url) == b"until the end"
    assert seen.connections == 2
    await transport.aclose()


async def test_connection_close_is_honoured() -> None:
    async def script(seen: Seen, reader: Reader, writer: Writer) -> None:
        await seen.next(reader)
        writer.write(answer(b"x", "Connection: close"))
        await seen.next(reader)  # held open: only the header tells the client not to reuse it

    assert await connections_for_two(script) == 2


async def connections_for_two(script: Script) -> int:
    """How many connections two requests in a row took."""
    transport = Http11Transport()
    async with upstream(script) as (url, seen):
        await post(transport, url)
        await post(transport, url)
    await transport.aclose()
    return seen.connections


@pytest.mark.parametrize(("wire", "body"), [
    (answer(gzip.compress(b"zipped"), "Content-Encoding: gzip"), b"zipped"),
    (answer(zlib.compress(b"deflated"), "Content-Encoding: deflate"), b"deflated"),
    (b"HTTP/1.1 100 Continue\r\n\r\n" + answer(b"real"), b"real"),
    (b"HTTP/1.1 200 OK\nContent-Length: 4\n\nbare", b"bare"),
    (b"HTTP/1.0 200\r\nContent-Length: 4\r\n\r\nbare", b"bare"),
], ids=["gzip", "deflate", "informational-first", "lf-line-endings", "http10-no-reason"])
async def test_answers_however_framed_are_read(wire: bytes, body: bytes) -> None:
    transport = Http11Transport()
    async with upstream(replies(wire)) as (url, _):
        assert await post(transport, url) == body
    await transport.aclose()


async def test_headers_and_status_are_the_answers() -> None:
    script = replies(answer(b"{}", "x-ratelimit-remaining-requests: 7", "Set-Cookie: a=1",
                            "set-cookie: b=2", status="429 Too Many Requests"))

    transport = Http11Transport()
    async with upstream(script) as (url, _):
        resp = await transport.request("POST", url, {}, b"")
        assert resp.status == 429
        assert resp.headers["X-RateLimit-Remaining-Requests"] == "7"
        assert [v for k, v in resp.headers.items() if k.lower() == "set-cookie"] == ["a=1", "b=2"]
        resp.release()
    await transport.aclose()


async def test_params_are_added_to_the_query() -> None:
    transport = Http11Transport()
    async with upstream(serve_answers) as (url, seen):
        resp = await transport.request("GET", url + "/v1/models?a=1", {}, params={"b": "x y"})
        await resp.read(100)
        resp.release()
    assert seen.requests[0].startswith(b"GET /v1/models?a=1&b=x+y HTTP/1.1\r\n")
    assert b"Content-Length" not in seen.requests[0]
    await transport.aclose()


# -- failures -------------------------------------------------------------------------------------

async def test_a_refused_connection_is_a_connect_error() -> None:
    async with upstream(serve_answers) as (url, _):
        pass  # closed: nothing listens on the port any more
    with pytest.raises(UpstreamConnectError):
        await post(Http11Transport(), url)


@pytest.mark.parametrize("url", ["ftp://host/x", "http:///nohost", "http://host:99999/x"])
async def test_a_url_it_cannot_call_is_a_connect_error(url: str) -> None:
    with pytest.raises(UpstreamConnectError):
        await Http11Transport().request("GET", url, {})


async def test_a_line_break_in_a_header_is_refused_before_anything_is_sent() -> None:
    async with upstream(serve_answers) as (url, seen):
        with pytest.raises(UpstreamConnectError, match="Authorization"):
            await Http11Transport().request(
                "POST", url, {"Authorization": "Bearer sk-1\r\nX-Injected: 1"}, b"")
    assert seen.connections == 0


hang = replies(b"", hold=True)  # reads the request and answers nothing, until the client gives up


async def test_no_first_byte_in_time_is_a_timeout_and_the_connection_is_closed() -> None:
    transport = Http11Transport(Timeouts(read_s=0.05))
    async with upstream(hang) as (url, seen):
        with pytest.raises(UpstreamTimeout):
            await post(transport, url)
        await seen.closed.wait()
    await transport.aclose()


async def test_a_gap_mid_body_is_a_timeout_after_what_came_before() -> None:
    script = replies(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npart", hold=True)

    transport = Http11Transport(Timeouts(read_s=0.05))
    async with upstream(script) as (url, _):
        resp = await transport.request("GET", url, {})
        assert await resp.chunk() == b"part"
        with pytest.raises(UpstreamTimeout):
            await resp.chunk()
        resp.release()
    await transport.aclose()


async def test_the_total_timeout_bounds_the_whole_exchange() -> None:
    script = replies(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", hold=True)

    transport = Http11Transport(Timeouts(total_s=0.05))
    async with upstream(script) as (url, _):
        with pytest.raises(UpstreamTimeout):
            await post(transport, url)
    await transport.aclose()


async def test_an_answer_cut_mid_body_raises_after_the_bytes_that_came() -> None:
    script = replies(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npart")

    transport = Http11Transport()
    async with upstream(script) as (url, _):
        resp = await transport.request("GET", url, {})
        assert await resp.chunk() == b"part"
        with pytest.raises(BadResponse, match="before a complete answer"):
            await resp.chunk()
        resp.release()
    await transport.aclose()


async def test_a_connections_failure_is_raised_as_a_new_error_each_time() -> None:
    # The one kept on the connection, raised from frames that reach it, would tie them (and
    # the request they hold) into a cycle only the garbage collector frees.
    script = replies(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npart")

    transport = Http11Transport()
    async with upstream(script) as (url, _):
        resp = await transport.request("GET", url, {})
        await resp.chunk()
        raised = []
        for _ in range(2):
            with pytest.raises(BadResponse) as caught:
                await resp.chunk()
            raised.append(caught.value)
        resp.release()
    await transport.aclose()
    assert raised[0] is not raised[1] and str(raised[0]) == str(raised[1])


@pytest.mark.parametrize("error", [BadResponse("cut", upstream_status=200), http11._StaleError(),
                                   UpstreamTimeout("late", retry_after_s=3.0)],
                         ids=lambda e: type(e).__name__)
def test_every_failure_a_connection_keeps_can_be_raised_anew(error: UpstreamError) -> None:
    fresh = copy.copy(error)
    assert type(fresh) is type(error) and fresh is not error
    assert vars(fresh) == vars(error)


@pytest.mark.parametrize(("wire", "match"), [
    (b"SMTP ready\r\n\r\n", "unusable"),
    (answer(b"not gzip at all", "Content-Encoding: gzip"), "does not decompress"),
], ids=["not-http", "bad-gzip"])
async def test_a_malformed_answer_is_a_bad_response(wire: bytes, match: str) -> None:
    transport = Http11Transport()
    async with upstream(replies(wire, hold=True)) as (url, _):
        with pytest.raises(BadResponse, match=match):
            await post(transport, url)
    await transport.aclose()


async def test_endless_headers_are_refused() -> None:
    async def script(seen: Seen, reader: Reader, writer: Writer) -> None:
        await seen.next(reader)
        writer.write(b"HTTP/1.1 200 OK\r\n" + b"X-Filler: " + b"y" * 1000 + b"\r\n")
        for _ in range(100):
            writer.write(b"X-More: " + b"y" * 1000 + b"\r\n")
        await reader.read()

    transport = Http11Transport()
    async with upstream(script) as (url, _):
        with pytest.raises(BadResponse, match="headers are larger"):
            await post(transport, url)
    await transport.aclose()


async def test_an_answer_over_the_limit_is_refused_or_truncated() -> None:
    async def script(seen: Seen, reader: Reader, writer: Writer) -> None:
        while await seen.next(reader):
            writer.write(answer(b"x" * 1000))

    transport = Http11Transport()
    async with upstream(script) as (url, _):
        with pytest.raises(BadResponse, match="larger than 10 bytes"):
            await post(transport, url, limit=10)
        resp = await transport.request("GET", url, {})
        assert await resp.read(10, truncate=True) == b"x" * 10
        resp.release()
    await transport.aclose()


async def test_a_connection_closed_while_idle_is_retried_once_on_a_fresh_one() -> None:
    async def answer_then_drop(seen: Seen, reader: Reader, writer: Writer) -> None:
        await seen.next(reader)
        writer.write(answer(b"first"))
        await seen.next(reader)  # the upstream's keep-alive ran out as the request arrived

    transport = Http11Transport()
    async with upstream(answer_then_drop, replies(answer(b"second"))) as (url, seen):
        assert await post(transport, url) == b"first"
        assert await post(transport, url) == b"second"
    assert seen.connections == 2 and len(seen.requests) == 3
    await transport.aclose()


async def test_a_fresh_connection_closed_before_answering_is_not_retried() -> None:
    async def drop(seen: Seen, reader: Reader, writer: Writer) -> None:
        await seen.next(reader)

    transport = Http11Transport()
    async with upstream(drop) as (url, seen):
        with pytest.raises(BadResponse, match="before answering"):
            await post(transport, url)
    assert len(seen.requests) == 1
    await transport.aclose()


async def test_bytes_on_an_idle_connection_retire_it() -> None:
    chatty = replies(answer(b"one") + b"HTTP/1.1 408 Request Timeout\r\n\r\n", hold=True)
    transport = Http11Transport()
    async with upstream(chatty, serve_answers) as (url, seen):
        resp = await transport.request("GET", url, {})
        assert (resp.status, await resp.read(100)) == (200, b"one")
        resp.release()
        await seen.closed.wait()  # the client hung up on the unasked-for 408
        assert await post(transport, url) == b'{"ok":true}'
    assert seen.connections == 2
    await transport.aclose()


async def test_an_expired_idle_connection_is_not_reused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http11, "IDLE_S", 0.0)
    assert await connections_for_two(serve_answers) == 2


async def test_a_cancelled_exchange_closes_its_connection() -> None:
    transport = Http11Transport()
    async with upstream(hang, serve_answers) as (url, seen):
        task = asyncio.create_task(post(transport, url))
        await seen.arrived.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await seen.closed.wait()
        assert await post(transport, url) == b'{"ok":true}'
    await transport.aclose()


# -- TLS ------------------------------------------------------------------------------------------

async def test_https_with_a_trusted_certificate(certificate: Path) -> None:
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(certificate / "cert.pem", certificate / "key.pem")
    trusting = Http11Transport(tls=ssl.create_default_context(cafile=certificate / "cert.pem"))
    async with upstream(serve_answers, tls=server) as (url, _):
        assert await post(trusting, url) == b'{"ok":true}'
        with pytest.raises(UpstreamConnectError):
            await post(Http11Transport(), url)  # the system's CAs do not know this one
    await trusting.aclose()


# -- the parser, fed without a socket -------------------------------------------------------------

class FakeSocket(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written = b""
        self.paused = 0
        self.resumed = 0

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += bytes(data)

    def pause_reading(self) -> None:
        self.paused += 1

    def resume_reading(self) -> None:
        self.resumed += 1

    def close(self) -> None:
        pass


def connection() -> tuple[http11._Connection, FakeSocket]:
    conn = http11._Connection(asyncio.get_running_loop(), ("http", "h", 80))
    sock = FakeSocket()
    conn.connection_made(sock)
    conn.send(b"GET / HTTP/1.1\r\n\r\n")
    return conn, sock


def splits(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    pieces = [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]
    return [p for p in pieces if p]  # a socket never delivers an empty read


@given(body=st.binary(max_size=300), cuts=st.lists(st.integers(0, 10_000), max_size=8),
       pieces=st.integers(1, 5), use_chunks=st.booleans())
async def test_any_split_of_an_answer_reads_the_same(
    body: bytes, cuts: list[int], pieces: int, use_chunks: bool
) -> None:
    step = max(1, len(body) // pieces)
    parts = [body[i:i + step] for i in range(0, len(body), step)] or [b""]
    wire = chunked(*(p for p in parts if p)) if use_chunks else answer(body)
    conn, _ = connection()
    got = b""
    for piece in splits(wire, cuts):
        conn.data_received(piece)
        if conn.has_body:
            got += conn.take()
    assert conn.error is None and conn.head and conn.complete and conn.reusable
    assert conn.status == 200 and got == body


async def test_reading_pauses_while_the_reader_lags_and_resumes_when_it_takes() -> None:
    conn, sock = connection()
    conn.data_received(b"HTTP/1.1 200 OK\r\nContent-Length: 600000\r\n\r\n")
    for _ in range(3):
        conn.data_received(b"x" * 100_000)
    assert sock.paused == 1 and sock.resumed == 0
    assert len(conn.take()) == 300_000
    assert sock.resumed == 1


async def test_bytes_after_a_whole_answer_leave_it_as_it_was_and_retire_the_connection() -> None:
    conn, _ = connection()
    conn.data_received(answer(b"mine"))
    conn.data_received(answer(b"not asked for", status="500 Internal Server Error"))
    assert (conn.status, conn.take(), conn.error) == (200, b"mine", None)
    assert conn.complete and not conn.reusable


async def test_junk_after_a_whole_answer_spoils_only_the_connection() -> None:
    conn, _ = connection()
    conn.data_received(answer(b"mine") + b"garbage that is not HTTP\r\n")
    assert (conn.status, conn.take(), conn.error) == (200, b"mine", None)
    assert conn.complete and not conn.reusable


async def test_one_endless_header_line_is_refused() -> None:
    conn, _ = connection()
    conn.data_received(b"HTTP/1.1 200 OK\r\nX-Long: ")
    conn.data_received(b"y" * (http11.HEAD_MAX + 1))
    assert isinstance(conn.error, BadResponse) and "headers are larger" in conn.error.message


async def test_past_the_total_timeout_bytes_waiting_do_not_keep_an_answer_going() -> None:
    conn, _ = connection()
    conn.data_received(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nmore\r\n")
    late = http11._Answer(conn, Http11Transport(), None, deadline=conn.loop.time() - 1)
    with pytest.raises(UpstreamTimeout):
        await late.chunk()  # "more" is waiting, but the exchange is out of time


async def test_expired_idle_connections_at_the_bottom_of_the_pool_are_closed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    transport = Http11Transport()
    async with upstream(replies(answer(), hold=True), serve_answers) as (url, seen):
        await asyncio.gather(post(transport, url), post(transport, url))  # two connections
        monkeypatch.setattr(http11, "IDLE_S", 0.0)
        transport.put_back(transport._idle[("http", "127.0.0.1", int(url.rsplit(":", 1)[1]))].pop())
        async with asyncio.timeout(5):
            await seen.closed.wait()  # the one left below was expired and closed
    await transport.aclose()

