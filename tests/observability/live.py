"""Processes for the live observability test: the router's demo and a real Prometheus scraping
it, both on loopback, plus the small HTTP helpers to wait for them and to query Prometheus."""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

T = TypeVar("T")

POLL_INTERVAL_S = 0.2
STOP_TIMEOUT_S = 10


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Process:
    """A child process whose output goes to a log file, shown when something fails."""

    name: str
    argv: Sequence[str]
    log: Path
    env: Mapping[str, str] | None = None
    cwd: Path | None = None
    popen: subprocess.Popen[bytes] | None = field(default=None, init=False)

    def start(self) -> None:
        with self.log.open("wb") as out:
            self.popen = subprocess.Popen(
                list(self.argv), stdout=out, stderr=subprocess.STDOUT, env=self.env, cwd=self.cwd,
            )

    def tail(self, chars: int = 3000) -> str:
        text = self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""
        return f"--- {self.name} log ({self.log}) ---\n{text[-chars:]}"

    def check_alive(self) -> None:
        if self.popen is not None and self.popen.poll() is not None:
            raise AssertionError(f"{self.name} exited with {self.popen.returncode}\n{self.tail()}")

    def stop(self) -> None:
        if self.popen is None or self.popen.poll() is not None:
            return
        self.popen.terminate()
        try:
            self.popen.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(STOP_TIMEOUT_S)


def wait_for(what: str, probe: Callable[[], T | None], timeout_s: float,
             alive: Sequence[Process] = ()) -> T:
    """Poll `probe` until it returns something other than None; fail with `what` on timeout or
    as soon as one of the processes it depends on has died."""
    deadline = time.monotonic() + timeout_s
    while True:
        for process in alive:
            process.check_alive()
        found = probe()
        if found is not None:
            return found
        if time.monotonic() > deadline:
            logs = "\n".join(process.tail() for process in alive)
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}\n{logs}")
        time.sleep(POLL_INTERVAL_S)


def http_get(url: str, timeout_s: float = 5.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            return int(response.status), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return 0, b""


def answers(url: str, status: int = 200) -> Callable[[], bool | None]:
    return lambda: True if http_get(url)[0] == status else None


@dataclass(frozen=True, slots=True)
class Prometheus:
    url: str

    def api(self, path: str, **params: str | Sequence[str]) -> dict[str, Any]:
        query = urllib.parse.urlencode(params, doseq=True)
        status, body = http_get(f"{self.url}/api/v1/{path}?{query}")
        if not body:
            raise AssertionError(f"Prometheus gave no answer to {path} ({status})")
        answer: dict[str, Any] = json.loads(body)
        return answer

    def query(self, expr: str) -> dict[str, Any]:
        return self.api("query", query=expr)

    def scalar(self, expr: str) -> float | None:
        """The single value of a one-series query, None while it has no data."""
        answer = self.query(expr)
        result = answer.get("data", {}).get("result", [])
        return float(result[0]["value"][1]) if answer["status"] == "success" and result else None


def finite_values(answer: Mapping[str, Any]) -> list[float]:
    values = [float(series["value"][1]) for series in answer["data"]["result"]]
    return [value for value in values if math.isfinite(value)]


def write_prometheus_config(directory: Path, target: str, rules: Path,
                            scrape_interval: str) -> Path:
    config = {
        "global": {"scrape_interval": scrape_interval, "evaluation_interval": scrape_interval},
        "rule_files": [str(rules)],
        "scrape_configs": [{"job_name": "freerouter", "static_configs": [{"targets": [target]}]}],
    }
    path = directory / "prometheus.yml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def prometheus_process(binary: Path, config: Path, data: Path, port: int, log: Path) -> Process:
    return Process("prometheus", [
        str(binary), f"--config.file={config}", f"--storage.tsdb.path={data}",
        f"--web.listen-address=127.0.0.1:{port}",
    ], log)


def child_env(drop: Callable[[str], bool]) -> dict[str, str]:
    return {name: value for name, value in os.environ.items() if not drop(name)}
