"""The Redis protocol client against loopback servers that speak RESP as scripted, misbehaving
on purpose: replies reach their own callers in order (a caller that gave up included), a closed
connection fails its waiters and is replaced, a reused one found closed is retried once, bytes
that are no reply (or one nobody asked for) end the connection; logins and databases from the
URL; TLS. The parser is fed arbitrary splits of a reply stream. (The store over a real
redis-server: test_redis.py.)"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from router.state.resp import Reply, RespClient, RespError, Target, _Connection, encode, parse

# A server script: given each command it reads (a list of its arguments), what to send back
# (None: close the connection instead).
Answer = Callable[[list[bytes]], Awaitable[bytes | None]]


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
async def server(*answers: Answer, tls: ssl.SSLContext | None = None) -> AsyncIterator[
        tuple[str, list[list[bytes]]]]:
    """A RESP server: connection i follows answers[i] (the last one for any after it). Yields
    its redis:// URL (no scheme for TLS: the test adds its own) and every command it read."""
    seen: list[list[bytes]] = []
    connections = 0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        answer = answers[min(connections, len(answers) - 1)]
        connections += 1
        try:
            while (command := await _read_command(reader)) is not None:
                seen.append(command)
                reply = await answer(command)
                if reply is None:
                    break
                writer.write(reply)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    listening = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=tls)
    port = listening.sockets[0].getsockname()[1]
    try:
        yield f"127.0.0.1:{port}", seen
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


# -- replies and callers ----------------------------------------------------------------------

async def test_concurrent_callers_get_their_own_replies_over_one_connection() -> None:
    async with server(echo) as (address, _):
        client = RespClient(f"redis://{address}", 1.0)
        replies = await asyncio.gather(*(client.execute("ECHO", str(i)) for i in range(50)))
        assert replies == [str(i).encode() for i in range(50)]
        assert await client.execute("PING") == b"PONG"
        await client.aclose()


async def test_a_caller_that_gave_up_leaves_its_reply_behind() -> None:
    slow = asyncio.Event()

    async def answer(command: list[bytes]) -> bytes:
        if command[-1] == b"slow":
            await slow.wait()
        return await echo(command)

    async with server(answer) as (address, seen):
        client = RespClient(f"redis://{address}", 1.0)
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.05):
                await client.execute("ECHO", "slow")
        slow.set()
        # The late reply to "slow" is read and dropped: this caller gets its own, on the same
        # connection (sent once).
        assert await client.execute("ECHO", "mine") == b"mine"
        assert [c[-1] for c in seen] == [b"slow", b"mine"]
        await client.aclose()


async def test_an_error_reply_is_raised_with_its_kind() -> None:
    async with server(replying(b"-NOSCRIPT No matching script. Please use EVAL.\r\n")) as (address, _):
        client = RespClient(f"redis://{address}", 1.0)
        with pytest.raises(RespError) as caught:
            await client.execute("EVALSHA", "abc", 0)
        assert caught.value.kind == "NOSCRIPT"
        await client.aclose()


async def test_many_commands_are_one_write_and_the_first_error_is_raised_once_all_came() -> None:
    async def answer(command: list[bytes]) -> bytes:
        return b"-ERR bad\r\n" if command[-1] == b"bad" else await echo(command)

    async with server(answer) as (address, seen):
        client = RespClient(f"redis://{address}", 1.0)
        assert await client.execute_many([("ECHO", "a"), ("ECHO", "b")]) == [b"a", b"b"]
        with pytest.raises(RespError, match="ERR bad"):
            await client.execute_many([("ECHO", "bad"), ("ECHO", "after")])
        assert seen[-1] == [b"ECHO", b"after"]  # sent, and its reply read
        assert await client.execute("ECHO", "next") == b"next"  # still in step
        await client.aclose()


# -- connections ------------------------------------------------------------------------------

async def test_a_closed_connection_fails_its_waiters_and_the_next_call_opens_another() -> None:
    async with server(hang_up, echo) as (address, seen):
        client = RespClient(f"redis://{address}", 1.0)
        with pytest.raises(ConnectionError):
            await client.execute("ECHO", "first")  # a fresh connection: not retried
        assert await client.execute("ECHO", "second") == b"second"
        assert len(seen) == 2
        await client.aclose()


async def test_a_reused_connection_found_closed_is_retried_once_on_a_fresh_one() -> None:
    calls = 0

    async def once_then_hang_up(command: list[bytes]) -> bytes | None:
        nonlocal calls
        calls += 1
        return await echo(command) if calls == 1 else None

    async with server(once_then_hang_up, echo) as (address, seen):
        client = RespClient(f"redis://{address}", 1.0)
        assert await client.execute("ECHO", "a") == b"a"
        # The server restarted: the reused connection dies under the call, a new one answers.
        assert await client.execute("ECHO", "b") == b"b"
        assert [c[-1] for c in seen] == [b"a", b"b", b"b"]
        await client.aclose()


@pytest.mark.parametrize("junk", [b"?what\r\n", b"$abc\r\n", b":12x\r\n"])
async def test_bytes_that_are_no_reply_end_the_connection(junk: bytes) -> None:
    async with server(replying(junk), echo) as (address, _):
        client = RespClient(f"redis://{address}", 1.0)
        with pytest.raises(ConnectionError):
            await client.execute("ECHO", "x")
        assert await client.execute("ECHO", "y") == b"y"  # a new connection, in step
        await client.aclose()


async def test_nothing_listening_is_an_os_error() -> None:
    async with server(echo) as (address, _):
        pass  # closed: the port is free again
    client = RespClient(f"redis://{address}", 1.0)
    with pytest.raises(OSError):
        await client.execute("PING")
    await client.aclose()


async def test_the_url_logs_in_and_selects_before_the_first_command() -> None:
    async with server(echo) as (address, seen):
        client = RespClient(f"redis://user:p%40ss@{address}/3", 1.0)
        assert await client.execute("PING") == b"PONG"
        assert seen == [[b"AUTH", b"user", b"p@ss"], [b"SELECT", b"3"], [b"PING"]]
        await client.aclose()


async def test_a_refused_login_is_the_servers_error_and_no_connection_is_kept() -> None:
    async def answer(command: list[bytes]) -> bytes:
        return (b"-WRONGPASS invalid username-password pair\r\n" if command[0] == b"AUTH"
                else await echo(command))

    async with server(answer) as (address, seen):
        client = RespClient(f"redis://:secret@{address}", 1.0)
        for _ in range(2):  # each call tries to log in again
            with pytest.raises(RespError) as caught:
                await client.execute("PING")
            assert caught.value.kind == "WRONGPASS" and "secret" not in str(caught.value)
        assert [c[0] for c in seen] == [b"AUTH", b"AUTH"]
        await client.aclose()


async def test_tls_with_a_trusted_certificate(certificate: Path) -> None:
    serving = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    serving.load_cert_chain(certificate / "cert.pem", certificate / "key.pem")
    async with server(echo, tls=serving) as (address, _):
        trusting = RespClient(f"rediss://{address}", 1.0,
                              tls=ssl.create_default_context(cafile=certificate / "cert.pem"))
        assert await trusting.execute("PING") == b"PONG"
        untrusting = RespClient(f"rediss://{address}", 1.0)  # the system's CAs only
        with pytest.raises(ssl.SSLError):
            await untrusting.execute("PING")
        await trusting.aclose()
        await untrusting.aclose()


# -- URLs -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("url", "expected"), [
    ("redis://h", Target("h", 6379, None, False, None, None, 0)),
    ("redis://:pw@h:7000/2", Target("h", 7000, None, False, None, "pw", 2)),
    ("rediss://me:p%2Fw@h/0", Target("h", 6379, None, True, "me", "p/w", 0)),
    ("unix:///run/redis.sock?db=4", Target("localhost", 6379, "/run/redis.sock", False, None, None, 4)),
])
def test_urls(url: str, expected: Target) -> None:
    assert Target.parse(url) == expected


@pytest.mark.parametrize("url", ["http://:secret@h", "redis://:secret@h/x", "redis+sentinel://h"])
def test_an_unusable_url_is_refused_without_its_password(url: str) -> None:
    with pytest.raises(ValueError) as caught:
        Target.parse(url)
    assert "secret" not in str(caught.value)


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
