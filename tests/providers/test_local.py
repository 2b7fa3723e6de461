"""`--local`: local servers that answer on their port join the catalog's keyed presets, in
`serve` and in what `check` shows."""

from __future__ import annotations

import asyncio
import dataclasses
import random
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from providers.catalog import load_catalog, probe_local
from router.app import create_app
from router.cli import main, resolve_config
from router.config import ConfigError
from router.plugins import load_plugins
from tests.providers.model_server import ModelServer
from tests.providers.test_discovery import OLLAMA_SHOWS


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def served_in_thread(app: web.Application) -> Iterator[int]:
    """`app` on a loopback port, run by its own loop in a thread, so that synchronous code under
    test (the CLI, which runs asyncio.run itself) can reach it."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    runner = web.AppRunner(app, access_log=None)

    async def start() -> int:
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        return int(runner.addresses[0][1])

    try:
        yield asyncio.run_coroutine_threadsafe(start(), loop).result(timeout=10)
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


def ollama_server() -> ModelServer:
    fake = ModelServer()
    fake.tags = ["qwen3:8b", "llava:7b"]
    fake.shows = OLLAMA_SHOWS
    return fake


@pytest.fixture
def no_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """An environment with no provider key set, whatever the machine running the tests has."""
    for preset in load_catalog().values():
        for variable in (preset.api_key_env, *preset.api_key_fallbacks, *preset.url_variables):
            monkeypatch.delenv(variable, raising=False)
    monkeypatch.delenv("FREEROUTER_CONFIG", raising=False)


async def test_probe_local_finds_the_servers_that_answer() -> None:
    fake = ollama_server()
    server = TestServer(fake.app(), host="127.0.0.1")
    await server.start_server()
    catalog = load_catalog()
    only_local = {
        "ollama": catalog["ollama"],
        "vllm": dataclasses.replace(catalog["vllm"], base_url=f"http://127.0.0.1:{closed_port()}/v1"),
        "groq": catalog["groq"],
    }
    try:
        env = {"OLLAMA_HOST": f"127.0.0.1:{server.port}", "GROQ_API_KEY": "gsk_test"}
        assert await probe_local(env, only_local) == frozenset({"ollama"})
    finally:
        await server.close()


async def test_probe_local_skips_presets_that_are_off_by_default() -> None:
    fake = ollama_server()
    server = TestServer(fake.app(), host="127.0.0.1")
    await server.start_server()
    retired = dataclasses.replace(load_catalog()["ollama"], enabled_by_default=False)
    try:
        env = {"OLLAMA_HOST": f"127.0.0.1:{server.port}"}
        assert await probe_local(env, {"ollama": retired}) == frozenset()
    finally:
        await server.close()


@pytest.mark.usefixtures("no_keys")
async def test_an_answering_local_server_is_served_with_its_discovered_models() -> None:
    fake = ollama_server()
    server = TestServer(fake.app(), host="127.0.0.1")
    await server.start_server()
    env = {"OLLAMA_HOST": f"http://127.0.0.1:{server.port}"}
    plugins = load_plugins()
    with pytest.raises(ConfigError):  # nothing keyed, nothing probed: nothing to serve
        resolve_config(None, env, plugins)
    config = resolve_config(None, env, plugins, answering={"ollama"})
    assert [p.name for p in config.providers] == ["ollama"]
    client = TestClient(TestServer(create_app(config, plugins, rng=random.Random(3)), host="127.0.0.1"))
    await client.start_server()
    try:
        body = await (await client.get("/v1/models")).json()
        assert {m["id"] for m in body["data"]} >= {"ollama/qwen3:8b", "ollama/llava:7b"}
        response = await client.post("/v1/chat/completions", json={
            "model": "ollama/qwen3:8b", "messages": [{"role": "user", "content": "hi"}]})
        assert response.status == 200
        assert fake.upstream.chat_requests[0].body["model"] == "qwen3:8b"
    finally:
        await client.close()
        await server.close()


@pytest.mark.usefixtures("no_keys")
def test_check_local_shows_the_answering_server(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with served_in_thread(ollama_server().app()) as port:
        monkeypatch.setenv("OLLAMA_HOST", f"127.0.0.1:{port}")
        with pytest.raises(SystemExit) as without:
            main(["check"])
        unprobed = capsys.readouterr()
        with pytest.raises(SystemExit) as probed:
            main(["check", "--local"])
        shown = capsys.readouterr()
    assert without.value.code == 1  # no key and no --local: no provider
    assert "off  ollama       local: not probed" in unprobed.out
    assert probed.value.code == 0
    assert f"on   ollama       local: answering at http://127.0.0.1:{port}/v1" in shown.out
    assert "ollama" in shown.out.split("built-in catalog presets:")[0]  # in the pool table too
