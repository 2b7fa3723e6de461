"""Smoke test of the benchmark harness: the load generator measures the fake upstream.

Both run as subprocesses from the repository root because ``bench`` is a
repository tool, not part of the installed distribution. No timing is asserted:
only that load flowed and that streams were parsed chunk by chunk.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CONTENT_CHUNKS = 20  # what bench.upstream sends per stream


@pytest.fixture(scope="module")
def upstream_url() -> Iterator[str]:
    server = subprocess.Popen(
        [sys.executable, "-m", "bench.upstream", "--port", "0"], cwd=REPO, stdout=subprocess.PIPE
    )
    assert server.stdout is not None
    try:
        # The server announces its port once it listens; reading blocks until then.
        announced = server.stdout.readline().decode().split()
        assert announced[:1] == ["READY"], announced
        yield f"http://127.0.0.1:{announced[1]}"
    finally:
        server.terminate()
        server.wait(timeout=10)
        server.stdout.close()


def _loadgen(url: str, *flags: str) -> dict[str, object]:
    command = [sys.executable, "-m", "bench.loadgen", "--url", url, "-c", "4", "-d", "1"]
    done = subprocess.run(
        [*command, "--warmup", "0.2", *flags],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    result: dict[str, object] = json.loads(done.stdout)
    return result


def test_loadgen_measures_non_streaming_requests(upstream_url: str) -> None:
    result = _loadgen(upstream_url)
    assert isinstance(result["rps"], float) and result["rps"] > 0
    assert result["errors"] == 0
    assert result["ttfc_p50_ms"] is None


@pytest.mark.parametrize("api", ["openai", "anthropic"])
def test_loadgen_counts_every_content_chunk_of_a_stream(upstream_url: str, api: str) -> None:
    result = _loadgen(upstream_url, "--stream", "--api", api)
    assert isinstance(result["rps"], float) and result["rps"] > 0
    assert result["errors"] == 0
    assert result["chunks_per_stream"] == CONTENT_CHUNKS
    assert result["ttfc_p50_ms"] is not None
