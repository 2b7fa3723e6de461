"""Non-streaming load through ``wrk`` (Debian package ``wrk``), when it is installed.

wrk's C client costs far less CPU per request than the aiohttp client, so it can
drive a proxy to saturation while sharing a core with the upstream. It cannot
time SSE content chunks, so streams always use ``bench.loadgen``.
"""

from __future__ import annotations

import math
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

import orjson

from bench.loadgen import LoadResult, Workload

_MARK = "WRKJSON "
# wrk reports only through Lua; the done() hook prints one JSON line we parse.
_REPORT = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '%s{"requests":%d,"duration_us":%d,"errors":%d,"p50_us":%d,"p99_us":%d}\\n',
    "{mark}", summary.requests, summary.duration,
    e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


def available() -> bool:
    return shutil.which("wrk") is not None


def _lua_string(text: str) -> str:
    # A long bracket whose level does not occur in the text needs no escaping.
    level = 0
    while f"]{'=' * level}]" in text:
        level += 1
    return f"[{'=' * level}[{text}]{'=' * level}]"


def _script(work: Workload) -> str:
    lines = ['wrk.method = "POST"', f"wrk.body = {_lua_string(work.body.decode())}"]
    lines += [f"wrk.headers[ {_lua_string(k)} ] = {_lua_string(v)}" for k, v in work.headers]
    return "\n".join(lines) + _REPORT.replace("{mark}", _MARK)


def _wrk(script: Path, url: str, concurrency: int, seconds: int) -> dict[str, int]:
    command = ["wrk", "-t1", f"-c{concurrency}", f"-d{seconds}s", "--timeout", "10s"]
    done = subprocess.run([*command, "-s", str(script), url], capture_output=True, text=True, check=True)
    for line in done.stdout.splitlines():
        if line.startswith(_MARK):
            parsed: dict[str, int] = orjson.loads(line[len(_MARK) :])
            return parsed
    raise RuntimeError(f"wrk printed no summary: {done.stdout}\n{done.stderr}")


def run_load(
    work: Workload,
    concurrency: int,
    duration_s: float,
    warmup_s: float,
    on_window_start: Callable[[], None] | None = None,
    on_window_end: Callable[[], None] | None = None,
) -> LoadResult:
    """Like ``bench.loadgen.run_load`` for non-streaming requests; whole seconds only."""
    if work.stream:
        raise ValueError("wrk cannot time SSE streams; use bench.loadgen")
    with tempfile.TemporaryDirectory() as folder:
        script = Path(folder) / "bench.lua"
        script.write_text(_script(work))
        if warmup_s > 0:
            _wrk(script, work.url, concurrency, math.ceil(warmup_s))
        if on_window_start is not None:
            on_window_start()
        summary = _wrk(script, work.url, concurrency, max(1, round(duration_s)))
        if on_window_end is not None:
            on_window_end()
    window = summary["duration_us"] / 1e6
    ok = summary["requests"] - summary["errors"]
    return LoadResult(
        concurrency=concurrency,
        window_s=window,
        requests=ok,
        errors=summary["errors"],
        rps=ok / window,
        latency_p50_ms=summary["p50_us"] / 1000.0,
        latency_p99_ms=summary["p99_us"] / 1000.0,
    )
