"""A real redis-server on a free loopback port, ours alone: no persistence, no config file, its
own directory. The bench and the tests stop, freeze (SIGSTOP) and restart it to play a store
that goes away, hangs, or comes back; every signal goes to our own child, by its handle."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from bench.processes import free_port

STARTUP_TIMEOUT_S = 20.0
POLL_S = 0.02


def _answers(port: int, password: str | None) -> bool:
    """A PING in RESP, by hand: the test process need not hold a client for this."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as conn:
            if password:
                conn.sendall(f"AUTH {password}\r\n".encode())
                conn.recv(64)
            conn.sendall(b"PING\r\n")
            return conn.recv(64).startswith(b"+PONG")
    except OSError:
        return False


@dataclass
class RedisServer:
    binary: Path
    workdir: Path
    port: int = field(default_factory=free_port)
    password: str | None = None
    cpu: int | None = None  # pin it to this core (the bench keeps it off the subject's)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def start(self) -> None:
        argv = [str(self.binary), "--port", str(self.port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no", "--dir", str(self.workdir),
                "--daemonize", "no", "--loglevel", "warning",
                # DEBUG SLEEP plays a slow store; loopback only.
                "--enable-debug-command", "local"]
        if self.password:
            argv += ["--requirepass", self.password]
        log = (self.workdir / "redis.log").open("ab")
        cpu = self.cpu
        self.process = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            preexec_fn=None if cpu is None else lambda: os.sched_setaffinity(0, {cpu}))
        log.close()
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not _answers(self.port, self.password):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start: {self.log_tail()}")
            time.sleep(POLL_S)  # a foreign process offers no event to wait on

    def stop(self) -> None:
        """Kill it (as a crash would): the port refuses connections until start()."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def freeze(self) -> None:
        """SIGSTOP: connections stay open and nothing answers, like a hung store."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def log_tail(self) -> str:
        path = self.workdir / "redis.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""


@contextlib.contextmanager
def running(binary: Path, workdir: Path, password: str | None = None,
            cpu: int | None = None) -> Iterator[RedisServer]:
    workdir.mkdir(parents=True, exist_ok=True)
    server = RedisServer(binary, workdir, password=password, cpu=cpu)
    server.start()
    try:
        yield server
    finally:
        if server.process is not None and server.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                server.thaw()
        server.stop()


def find_binary() -> Path | None:
    """redis-server from PATH (Debian's package installs it in /usr/bin)."""
    found = shutil.which("redis-server") or shutil.which("redis-server", path="/usr/bin:/usr/sbin")
    return Path(found) if found else None
