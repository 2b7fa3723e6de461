"""The real Codex CLI through the router's Responses API, to an OpenAI-API fake and to an
Anthropic-API fake: one `codex exec` run each in which the model calls Codex's own exec tool
(`exec_command`, by its real name) to print a file, Codex runs it, sends the output back, and
the model's answer repeats it. Codex speaks only the Responses API (`wire_api = "responses"`),
reads tool calls from `response.output_item.done` and needs `response.completed`; its
namespace tools arrive flattened and its web_search tool dropped.

Codex is installed with npm into a cache directory outside the repository (once; later runs
reuse it). The test is skipped, with npm's own words, only when npm cannot install it."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from router.app import create_app
from router.config import parse
from router.demo.anthropic_upstream import FakeAnthropicUpstream
from router.demo.scripted import Behaviour, Received
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

RUN_TIMEOUT_S = 180
SECRET = "the-heron-waits-at-dawn-2718"
EXEC_TOOL = "exec_command"  # Codex's shell tool (0.1xx); older builds called it `shell`


@pytest.fixture(scope="session")
def codex_binary() -> Path:
    folder, error = npm_install("codex", ["@openai/codex"])
    if folder is None:
        pytest.skip(f"the Codex CLI could not be installed with npm: {error}")
    return folder / "node_modules" / ".bin" / "codex"


@dataclass(frozen=True, slots=True)
class Setup:
    url: str  # the router's /v1
    model: str  # the backend Codex asks for
    received: list[Received]


@pytest.fixture(params=["openai", "anthropic"])
async def setup(request: pytest.FixtureRequest) -> AsyncIterator[Setup]:
    # The simulated model calls a tool the user names, with these arguments for it.
    inputs = {EXEC_TOOL: {"cmd": "cat note.txt"}}
    fake: FakeUpstream | FakeAnthropicUpstream
    if request.param == "openai":
        fake = FakeUpstream({"gpt-sim": Behaviour()}, api_key=OPENAI_KEY, tool_inputs=inputs)
        model = "oai/gpt-sim"
    else:
        fake = FakeAnthropicUpstream({"claude-sim": Behaviour()}, api_key=ANTHROPIC_KEY,
                                     tool_inputs=inputs)
        model = "ant/claude-sim"
    runners = [await serve(fake.app())]
    plugins = load_plugins()
    port = port_of(runners[0])
    config = parse(raw_config(port, port), ENV, list(plugins.strategies), {}, source="<codex>")
    runners.append(await serve(create_app(config, plugins)))
    try:
        yield Setup(f"http://127.0.0.1:{port_of(runners[-1])}/v1", model, fake.received)
    finally:
        for runner in reversed(runners):
            await runner.cleanup()


async def _run_codex(binary: Path, setup: Setup, cwd: Path, prompt: str) -> tuple[int, str, str]:
    home = cwd / "codex-home"
    home.mkdir()
    (home / "config.toml").write_text(
        f'model = "{setup.model}"\n'
        'model_provider = "freerouter"\n'
        "[model_providers.freerouter]\n"
        'name = "freerouter"\n'
        f'base_url = "{setup.url}"\n'
        'env_key = "FREEROUTER_KEY"\n'
        'wire_api = "responses"\n')
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home),
           "CODEX_HOME": str(home), "FREEROUTER_KEY": CLIENT_KEY}
    return await run_cli(
        [str(binary), "exec", "--skip-git-repo-check", "--sandbox", "read-only", prompt],
        cwd, env, RUN_TIMEOUT_S)


async def test_codex_runs_its_exec_tool_through_the_router(
        codex_binary: Path, setup: Setup, tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / "note.txt").write_text(f"{SECRET}\n")
    rc, out, err = await _run_codex(codex_binary, setup, work,
                                    f"Use {EXEC_TOOL} to run `cat note.txt` and tell me what it prints.")
    assert rc == 0, f"codex exited {rc}: {out[-2000:]} {err[-3000:]}"
    assert SECRET in out, out  # the final message repeats what the command printed
    requests = [r for r in setup.received if r.path.endswith(("/chat/completions", "/messages"))]
    assert rejected(requests) == []
    assert len(requests) == 2, "the call, then the answer to its output"
    first, second = (r.body for r in requests)
    names = [t["function"]["name"] if "function" in t else t["name"] for t in first["tools"]]
    assert EXEC_TOOL in names
    assert any(n.startswith("multi_agent_v1__") for n in names), "namespace tools offered flat"
    assert "web_search" not in names
    assert first.get("stream") is True
    assert SECRET in json.dumps(second["messages"][-1]), "the tool's output went back"
