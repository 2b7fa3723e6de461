"""Running an agent CLI (Claude Code, the Codex CLI) once, headless, against a router."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from pathlib import Path


async def run_cli(argv: Sequence[str], cwd: Path, env: Mapping[str, str],
                  timeout_s: float) -> tuple[int, str, str]:
    """Its exit code, stdout and stderr; killed (and the timeout raised) past `timeout_s`."""
    proc = await asyncio.create_subprocess_exec(
        *argv, cwd=cwd, env=dict(env), stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout_s)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()
