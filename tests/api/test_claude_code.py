"""The real Claude Code CLI through the router, to an OpenAI-API fake and to an Anthropic-API
fake: one `-p` run each that reads a file with its Read tool. Each fake breaks the first stream
after its first content, so the run also proves Claude Code's non-streaming retry works.

Claude Code is installed with npm into a cache directory outside the repository (once; later
runs reuse it). The test is skipped, with npm's own words, only when npm cannot install it."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import web

from router.app import create_app
from router.config import parse
from router.demo.anthropic_upstream import FakeAnthropicUpstream
from router.demo.scripted import Behaviour, Fault, Received
from router.demo.upstream import FakeUpstream
from router.plugins import load_plugins
from tests.agent_cli import run_cli
from tests.api.conftest import (
    ANTHROPIC_KEY,
    CLIENT_KEY,
    ENV,
    OPENAI_KEY,
    port_of,
    raw_config,
    rejected,
    serve,
)
from tests.installs import npm_install

pytestmark = pytest.mark.slow

PACKAGE = "@anthropic-ai/claude-code"
RUN_TIMEOUT_S = 240
SECRET = "the-owl-flies-at-midnight-4711"


@pytest.fixture(scope="session")
def claude_binary() -> Path:
    folder, error = npm_install("claude-code", [PACKAGE])
    if folder is None:
        pytest.skip(f"Claude Code could not be installed with npm: {error}")
    return folder / "node_modules" / ".bin" / "claude"


@dataclass(frozen=True, slots=True)
class Setup:
    url: str  # the router
    received: list[Received]  # what the backend got
    broken_streams: Callable[[], int]


async def _router(fake_app: web.Application, route: str) -> tuple[list[web.AppRunner], str]:
    """A router whose `claude-*` alias reaches only `route`, served by the one fake."""
    runners = [await serve(fake_app)]
    plugins = load_plugins()
    port = port_of(runners[0])
    raw = raw_config(port, port)
    raw["aliases"] = {"claude-*": route}
    config = parse(raw, ENV, list(plugins.strategies), {}, source="<claude>")
    runners.append(await serve(create_app(config, plugins)))
    return runners, f"http://127.0.0.1:{port_of(runners[-1])}"


@pytest.fixture(params=["openai", "anthropic"])
async def setup(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Setup]:
    note = {"file_path": str(tmp_path / "note.txt")}
    fake: FakeUpstream | FakeAnthropicUpstream
    if request.param == "openai":
        fake = FakeUpstream({"gpt-sim": Behaviour(), "mini-sim": Behaviour()},
                            api_key=OPENAI_KEY, tool_inputs={"Read": note})
        route = "to-openai"
    else:
        fake = FakeAnthropicUpstream({"claude-sim": Behaviour(), "haiku-sim": Behaviour()},
                                     api_key=ANTHROPIC_KEY, tool_inputs={"Read": note})
        route = "to-anthropic"
    # the first stream breaks after its first content: Claude Code retries without streaming
    fake.inject(Fault(kind="midstream_error"))
    runners, url = await _router(fake.app(), route)
    found = Setup(url, fake.received, lambda: 1 - len(fake.faults))
    try:
        yield found
    finally:
        for runner in reversed(runners):
            await runner.cleanup()


async def _run_claude(binary: Path, url: str, cwd: Path, prompt: str) -> tuple[int, str, str]:
    home = cwd / "home"
    home.mkdir()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home),
        "ANTHROPIC_BASE_URL": url, "ANTHROPIC_API_KEY": CLIENT_KEY,
        "DISABLE_TELEMETRY": "1", "DISABLE_AUTOUPDATER": "1", "DISABLE_ERROR_REPORTING": "1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    }
    return await run_cli(
        [str(binary), "-p", prompt, "--output-format", "json", "--allowedTools", "Read"],
        cwd, env, RUN_TIMEOUT_S)


async def test_claude_code_reads_a_file_through_the_router(
        claude_binary: Path, setup: Setup, tmp_path: Path) -> None:
    (tmp_path / "note.txt").write_text(f"{SECRET}\n")
    rc, out, err = await _run_claude(
        claude_binary, setup.url, tmp_path,
        f"Use the Read tool to read {tmp_path / 'note.txt'} and tell me what it says.")
    assert rc == 0, f"claude exited {rc}: {out[-2000:]} {err[-2000:]}"
    result = json.loads(out)
    assert result["is_error"] is False, result
    assert SECRET in result["result"]
    requests = [r for r in setup.received if r.path.endswith(("/chat/completions", "/messages"))]
    assert rejected(requests) == []
    assert all(r.body["model"] in ("gpt-sim", "claude-sim") for r in requests)  # tools needed
    # the broken first stream, then Claude Code's retry of it without streaming, then the tool turn
    assert setup.broken_streams() == 1
    assert requests[0].body.get("stream") is True
    assert not requests[1].body.get("stream")
    assert requests[1].body["messages"] == requests[0].body["messages"]
    assert SECRET in json.dumps(requests[-1].body["messages"][-1])  # the tool result went back
    assert len(requests[0].body["tools"]) > 10  # Claude Code's whole tool list, translated


async def test_claude_code_system_prompts_fold_for_an_openai_backend(
        claude_binary: Path, tmp_path: Path) -> None:
    fake = FakeUpstream({"gpt-sim": Behaviour(), "mini-sim": Behaviour()}, api_key=OPENAI_KEY)
    runners, url = await _router(fake.app(), "to-openai")
    try:
        rc, out, _err = await _run_claude(claude_binary, url, tmp_path, "say hello")
    finally:
        for runner in reversed(runners):
            await runner.cleanup()
    assert rc == 0 and json.loads(out)["is_error"] is False
    first = fake.received[0].body
    roles = [m["role"] for m in first["messages"]]
    assert roles[0] == "system" and roles.count("system") == 1
    for dropped in ("thinking", "context_management", "output_config", "metadata"):
        assert dropped not in first
