"""Starting the processes of a run pinned to a CPU, waiting until they serve, reading RSS."""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import IO

from bench.serve import READY_PREFIX

REPO_ROOT = Path(__file__).resolve().parent.parent
_POLL_S = 0.02
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class StartError(RuntimeError):
    """A process under test did not become ready."""


@dataclass(frozen=True)
class Spawned:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    log: Path | None = None

    def rss_kb(self) -> int | None:
        """Resident set size from /proc (kB); None once the process is gone."""
        try:
            status = Path(f"/proc/{self.process.pid}/status").read_text()
        except OSError:
            return None
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return None

    def cpu_s(self) -> float | None:
        """User + system CPU time consumed so far; None once the process is gone."""
        try:
            stat = Path(f"/proc/{self.process.pid}/stat").read_text()
        except OSError:
            return None
        # Fields after the parenthesised command name; utime and stime are 14 and 15.
        fields = stat.rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS

    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, lines: int = 30) -> str:
        if self.log is None or not self.log.exists():
            return ""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def cpus_available() -> set[int]:
    return set(os.sched_getaffinity(0))


def pin_self(cpu: int | None) -> None:
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})


def set_niceness(wanted: int) -> int:
    """Set this process's niceness to ``wanted`` when allowed; return the one in effect."""
    current = os.getpriority(os.PRIO_PROCESS, 0)
    with contextlib.suppress(PermissionError):
        os.setpriority(os.PRIO_PROCESS, 0, wanted)
        current = wanted
    return current


def _pin_child(cpu: int | None) -> None:
    # Runs in the child between fork and exec.
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _read_ready_line(stream: IO[bytes], process: subprocess.Popen[bytes], timeout_s: float) -> int:
    selector = selectors.DefaultSelector()
    selector.register(stream, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout_s
    try:
        while (left := deadline - time.monotonic()) > 0:
            if not selector.select(left):
                continue
            line = stream.readline().decode()
            if not line:
                raise StartError(f"exited with {process.wait()} before announcing its port")
            if line.startswith(READY_PREFIX):
                return int(line[len(READY_PREFIX) :])
    finally:
        selector.close()
    raise StartError(f"not ready after {timeout_s} s")


def spawn_bench_server(
    name: str, module: str, args: Sequence[str], cpu: int | None, timeout_s: float = 20.0
) -> Spawned:
    """Start one of the bench's own servers; it binds port 0 and prints ``READY <port>``."""
    process = subprocess.Popen(
        [sys.executable, "-m", module, "--port", "0", *args],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        preexec_fn=partial(_pin_child, cpu),
    )
    assert process.stdout is not None
    try:
        port = _read_ready_line(process.stdout, process, timeout_s)
    except StartError as error:
        stop(Spawned(name, process, 0))
        raise StartError(f"{name}: {error}") from error
    return Spawned(name, process, port)


def _answers_200(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1.0) as response:
            return int(response.status) == 200
    except (urllib.error.URLError, OSError):
        return False


def spawn_http_server(
    name: str,
    argv: Sequence[str],
    port: int,
    ready_path: str,
    cpu: int | None,
    env: Mapping[str, str],
    log: Path,
    timeout_s: float,
) -> Spawned:
    """Start a server that is not ours and poll ``ready_path`` until it answers 200.

    Polling is the only readiness signal a foreign server offers; stdout is its
    log stream, so it goes to /dev/null and stderr to ``log`` for diagnostics.
    """
    with log.open("wb") as errors:
        process = subprocess.Popen(
            list(argv),
            cwd=REPO_ROOT,
            stdout=subprocess.DEVNULL,
            stderr=errors,
            env=dict(env),
            preexec_fn=partial(_pin_child, cpu),
        )
    spawned = Spawned(name, process, port, log)
    deadline = time.monotonic() + timeout_s
    ready_url = f"{spawned.base_url()}{ready_path}"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise StartError(f"{name} exited with {process.returncode}:\n{spawned.log_tail()}")
        if _answers_200(ready_url):
            return spawned
        time.sleep(_POLL_S)
    stop(spawned)
    raise StartError(f"{name} not ready after {timeout_s} s:\n{spawned.log_tail()}")


def stop(spawned: Spawned, grace_s: float = 3.0) -> None:
    process = spawned.process
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(grace_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    if process.stdout is not None:
        with contextlib.suppress(OSError):
            process.stdout.close()
