"""The Redis protocol client against loopback servers that speak RESP as scripted, misbehaving
on purpose: concurrent callers share one connection and get their own replies; nothing is sent
twice (a connection that ends under a call loses its reply); a caller that gives up, a silent
server, bytes that are no reply (or one nobody asked for) all end the connection, and the next
call opens another; logins, databases and TLS from the URL; URLs refused without their
password. The parser is fed arbitrary splits of a reply stream. (The store over a real
redis-server: test_redis.py.)"""

from __future__ import annotations

import asyncio
import gc
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from router.state.resp import (
    Reply,
    ReplyLost,
    RespClient,
    RespError,
    Target,
    _Connection,
    encode,
    parse,
)

# A server script: given each command it reads (a list of its arguments), what to send back
# (None: close the connection instead).
Answer = Callable[[list[bytes]], Awaitable[bytes | None]]


@dataclass
class Served:
    address: str  # host:port, for the test's own scheme
    commands: list[list[bytes]] = field(default_factory=list)
    opened: int = 0  # connections accepted
    ended: asyncio.Event = field(default_factory=asyncio.Event)  # set whenever one ends
    open_now: int = 0


async def _read_command(reader: asyncio.StreamReader) -> list[bytes] | None:
    head = await reader.readline()
    if not head:
        return None
    args = []
    for _ in range(int(head[1:])):
        size = int((await reader.readline())[1:])
        args.append((await reader.readexactly(size + 2))[:-2])
    return args


@asynccontextmanager
async def server(*answers: Answer, tls: ssl.SSLContext | None = None) -> AsyncIterator[Served]:
    """A RESP server: connection i follows answers[i] (the last one for any after it)."""
    served = Served("")

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        answer = answers[min(served.opened, len(answers) - 1)]
        served.opened += 1
        served.open_now += 1
        try:
            while (command := await _read_command(reader)) is not None:
                served.commands.append(command)
                reply = await answer(command)
                if reply is None:
                    break
                writer.write(reply)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        finally:
            served.open_now -= 1
            served.ended.set()
            writer.close()

    listening = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=tls)
    served.address = f"127.0.0.1:{listening.sockets[0].getsockname()[1]}"
    try:
        yield served
    finally:
        listening.close()


async def echo(command: list[bytes]) -> bytes:
    """+PONG to PING, +OK to AUTH and SELECT, the last argument back as a bulk otherwise."""
    name = command[0].upper()
    if name == b"PING":
        return b"+PONG\r\n"
    if name in (b"AUTH", b"SELECT"):
        return b"+OK\r\n"
    return b"$%d\r\n%b\r\n" % (len(command[-1]), command[-1])


def replying(reply: bytes) -> Answer:
    async def answer(command: list[bytes]) -> bytes:
        return reply
    return answer


async def hang_up(command: list[bytes]) -> None:
    return None


async def silent(command: list[bytes]) -> bytes:
    return b""  # read, never answered: a host that went away without a word


async def no_connection_left(served: Served) -> None:
    async with asyncio.timeout(5):  # a kept connection fails the test, not hangs it
        while served.open_now:
            served.ended.clear()
            await served.ended.wait()


# -- replies and callers ----------------------------------------------------------------------

async def test_concurrent_callers_share_one_connection_and_get_their_own_replies() -> None:
    async with server(echo) as served:
        client = RespClient(f"redis://{served.address}", 1.0)
        replies = await asyncio.gather(*(client.execute("ECHO", str(i)) for i in range(50)))
        assert replies == [str(i).encode() for i in range(50)]
        assert await client.execute("PING") == b"PONG"
        assert served.opened == 1  # the 50 arrived together: one of them connected for all
        await client.aclose()


async def test_an_error_reply_is_raised_with_its_kind() -> None:
    async with server(replying(b"-NOSCRIPT No matching script. Please use EVAL.\r\n")) as served:
        client = RespClient(f"redis://{served.address}", 1.0)
        with pytest.raises(RespError) as caught:
            await client.execute("EVALSHA", "abc", 0)
        assert caught.value.kind == "NOSCRIPT"
        await client.aclose()


async def test_many_commands_are_one_write_and_the_first_error_is_raised() -> None:
    async def answer(command: list[bytes]) -> bytes:
        return b"-ERR bad\r\n" if command[-1] == b"bad" else await echo(command)

    async with server(answer) as served:
        client = RespClient(f"redis://{served.address}", 1.0)
        assert await client.execute_many([("ECHO", "a"), ("ECHO", "b")]) == [b"a", b"b"]
        with pytest.raises(RespError, match="ERR bad"):
            await client.execute_many([("ECHO", "bad"), ("ECHO", "after")])
        assert served.commands[-1] == [b"ECHO", b"after"]  # sent, and its reply read
        assert await client.execute("ECHO", "next") == b"next"  # still in step
        assert served.opened == 1
        await client.aclose()


# -- connections ------------------------------------------------------------------------------

async def test_a_caller_that_gives_up_ends_the_connection_and_the_next_call_opens_another() -> None:
    async with server(silent, echo) as served:
        client = RespClient(f"redis://{served.address}", 1.0)
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.05):
                await client.execute("ECHO", "lost")
        # The silent connection is not kept: the next call is answered, on a new one.
        async with asyncio.timeout(5):
            assert await client.execute("ECHO", "mine") == b"mine"
        assert served.opened == 2
        await client.aclose()


async def test_a_connection_that_ends_under_a_call_loses_its_reply_and_nothing_is_resent() -> None:
    calls = 0

    async def once_then_hang_up(command: list[bytes]) -> bytes | None:
        nonlocal calls
        calls += 1
        return await echo(command) if calls == 1 else None

    async with server(once_then_hang_up, echo) as served:
        client = RespClient(f"redis://{served.address}", 1.0)
        assert await client.execute("ECHO", "a") == b"a"
        # The server may have run "b" before it went: the caller is told, nothing is resent.
        with pytest.raises(ReplyLost):
            await client.execute("ECHO", "b")
        assert await client.execute("ECHO", "c") == b"c"  # a new connection
        assert [c[-1] for c in served.commands] == [b"a", b"b", b"c"]
        await client.aclose()


@pytest.mark.parametrize("junk", [
    b"?what\r\n", b"$abc\r\n", b":12x\r\n", b":+5\r\n", b":1_0\r\n", b"$-2\r\n", b"*-7\r\n",
    b"$3\r\nabcXY+OK\r\n",  # a bulk string longer than it said
    b"$99999999999\r\n",  # past Redis's own limit: never waited for
    b"*1\r\n" * 20 + b":1\r\n",  # nested deeper than any reply of the store
])
async def test_bytes_that_are_no_reply_end_the_connection(junk: bytes) -> None:
    async with server(replying(junk), echo) as served:
        client = RespClient(f"redis://{served.address}", 1.0)
        with pytest.raises(ReplyLost):
            await client.execute("ECHO", "x")
        assert await client.execute("ECHO", "y") == b"y"  # a new connection, in step
        assert served.opened == 2
        await client.aclose()


def test_a_reply_nobody_asked_for_ends_the_connection() -> None:
    loop = asyncio.new_event_loop()
    try:
        connection = _Connection(loop)
        connection.connection_made(_Transport())
        (asked,) = connection.send(b"", 1)
        connection.data_received(b"+OK\r\n+EXTRA\r\n")
        assert asked.result() == b"OK"
        assert connection.closed  # out of step: the next call opens another
        with pytest.raises(ConnectionError):
            connection.send(b"", 1)
    finally:
        loop.close()


async def test_nothing_listening_is_an_os_error() -> None:
    async with server(echo) as served:
        pass  # closed: the port is free again
    client = RespClient(f"redis://{served.address}", 1.0)
    with pytest.raises(OSError):
        await client.execute("PING")
    await client.aclose()


async def test_the_url_logs_in_and_selects_before_the_first_command() -> None:
    async with server(echo) as served:
        client = RespClient(f"redis://user:p%40ss@{served.address}/3", 1.0)
        assert await client.execute("PING") == b"PONG"
        assert served.commands == [[b"AUTH", b"user", b"p@ss"], [b"SELECT", b"3"], [b"PING"]]
        await client.aclose()


async def test_a_login_that_is_never_answered_times_out() -> None:
    async with server(silent) as served:
        client = RespClient(f"redis://:pw@{served.address}", 0.1)
        with pytest.raises(TimeoutError):
            await client.execute("PING")
        await no_connection_left(served)  # the half-open connection was closed
        await client.aclose()


async def test_a_refused_login_is_the_servers_error_and_its_connection_is_closed() -> None:
    async def answer(command: list[bytes]) -> bytes:
        return (b"-WRONGPASS invalid username-password pair\r\n" if command[0] == b"AUTH"
                else await echo(command))

    async with server(answer) as served:
        client = RespClient(f"redis://:secret@{served.address}", 1.0)
        for _ in range(2):  # each call tries to log in again
            with pytest.raises(RespError) as caught:
                await client.execute("PING")
            assert caught.value.kind == "WRONGPASS" and "secret" not in str(caught.value)
            await no_connection_left(served)
        assert [c[0] for c in served.commands] == [b"AUTH", b"AUTH"]
        await client.aclose()


async def test_tls_with_the_urls_certificate_authority(certificate: Path) -> None:
    serving = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    serving.load_cert_chain(certificate / "cert.pem", certificate / "key.pem")
    async with server(echo, tls=serving) as served:
        trusting = RespClient(f"rediss://{served.address}?ssl_ca_certs={certificate}/cert.pem", 1.0)
        assert await trusting.execute("PING") == b"PONG"
        untrusting = RespClient(f"rediss://{served.address}", 1.0)  # the system's CAs only
        with pytest.raises(ssl.SSLError):
            await untrusting.execute("PING")
        unchecked = RespClient(f"rediss://{served.address}?ssl_cert_reqs=none", 1.0)
        assert await unchecked.execute("PING") == b"PONG"
        for client in (trusting, untrusting, unchecked):
            await client.aclose()


async def test_no_future_is_left_with_an_unseen_exception() -> None:
    seen: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _, context: seen.append(context))
    try:
        answered = 0

        async def one_then_hang_up(command: list[bytes]) -> bytes | None:
            nonlocal answered
            answered += 1
            return b"+OK\r\n" if answered == 1 else None

        async with server(one_then_hang_up) as served:
            client = RespClient(f"redis://{served.address}", 1.0)
            with pytest.raises(ReplyLost):  # the first reply came, the two after it did not
                await client.execute_many([("ECHO", "a"), ("ECHO", "b"), ("ECHO", "c")])
            await client.aclose()
        for _ in range(3):  # the transports' own callbacks run, and let go of what they held
            await asyncio.sleep(0)
        gc.collect()
        assert seen == []
    finally:
        loop.set_exception_handler(None)


# -- URLs -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("url", "expected"), [
    ("redis://h", Target("h", 6379, None, False, None, None, 0)),
    ("redis://:pw@h:7000/2", Target("h", 7000, None, False, None, "pw", 2)),
    ("redis://h?db=5&password=p", Target("h", 6379, None, False, None, "p", 5)),
    ("redis://:@h", Target("h", 6379, None, False, None, None, 0)),  # an empty one: no AUTH
    ("rediss://me:p%2Fw@h/0?ssl_cert_reqs=optional&ssl_ca_certs=/ca.pem",
     Target("h", 6379, None, True, "me", "p/w", 0, "/ca.pem", "optional")),
    ("unix:///run/redis.sock?db=4", Target("localhost", 6379, "/run/redis.sock", False, None, None, 4)),
])
def test_urls(url: str, expected: Target) -> None:
    assert Target.parse(url) == expected


@pytest.mark.parametrize("url", [
    "http://:secret@h", "redis://:secret@h/x", "redis+sentinel://:secret@h",
    "redis://:secret@h?timeout=1", "rediss://:secret@h?ssl_cert_reqs=maybe",
    "redis://:se\uff03cret@h",  # urlsplit's own error quotes the address
])
def test_an_unusable_url_is_refused_without_its_password(url: str) -> None:
    with pytest.raises(ValueError) as caught:
        Target.parse(url)
    assert "secret" not in str(caught.value) and "cret" not in str(caught.value)


# -- the parser -------------------------------------------------------------------------------

STREAM = (b"+OK\r\n-ERR no\r\n:-42\r\n$5\r\nhe\r\no\r\n$0\r\n\r\n$-1\r\n*-1\r\n"
          b"*3\r\n:1\r\n*2\r\n$1\r\na\r\n$-1\r\n+x\r\n")


def _expected() -> list[object]:
    return [b"OK", "ERR no", -42, b"he\r\no", b"", None, None, [1, [b"a", None], b"x"]]


def _shown(reply: Reply) -> object:
    return str(reply) if isinstance(reply, RespError) else reply


class _Transport(asyncio.Transport):
    def write(self, data: bytes | bytearray | memoryview) -> None:
        pass

    def close(self) -> None:
        pass

    def get_write_buffer_size(self) -> int:
        return 0


@given(st.lists(st.integers(min_value=1, max_value=len(STREAM) - 1), unique=True).map(sorted))
def test_any_split_of_a_reply_stream_reads_the_same(cuts: list[int]) -> None:
    loop = asyncio.new_event_loop()
    try:
        connection = _Connection(loop)
        connection.connection_made(_Transport())
        futures = connection.send(b"", len(_expected()))
        for start, end in zip([0, *cuts], [*cuts, len(STREAM)], strict=True):
            connection.data_received(STREAM[start:end])
        assert [_shown(f.result()) for f in futures] == _expected()
    finally:
        loop.close()


@given(st.lists(st.one_of(st.binary(max_size=20), st.text(max_size=10), st.integers()),
                min_size=1, max_size=6))
def test_a_command_reads_back_as_its_arguments(command: list[bytes | str | int]) -> None:
    reply, end = parse(bytearray(encode(command)), 0)
    assert reply == [a if isinstance(a, bytes) else str(a).encode() for a in command]
    assert end == len(encode(command))
