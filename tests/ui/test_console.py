"""Serving the console (router/ui/console.py) over plain HTTP: the page and its files are open
even with client keys configured, each has its content type, cache headers and ETag, a CSP of
'self' only, and no answer of the router carries aiohttp's `Server` banner."""

from __future__ import annotations

import fnmatch
import random
import re
import tomllib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from router.app import create_app
from router.config import parse
from router.demo.upstream import FakeUpstream
from router.plugins import load_plugins
from router.ui.console import ASSETS, IMMUTABLE, REVALIDATE, Console

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "router" / "ui" / "static"
CLIENT_KEY = "sk-console-client-0001"
AUTH = {"Authorization": f"Bearer {CLIENT_KEY}"}
CSP = re.compile(r"default-src 'self'(;|$)")
Server = Callable[[web.Application], Awaitable[TestServer]]
Client = Callable[[TestServer], Awaitable[TestClient[Any, Any]]]


@pytest.fixture
async def client(aiohttp_server: Server, aiohttp_client: Client) -> TestClient[Any, Any]:
    fake = FakeUpstream()
    base = str((await aiohttp_server(fake.app())).make_url("/v1"))
    raw = {"server": {"client_keys_env": "CK"}, "health": {"probe_interval_s": 0},
           "providers": [{"name": "p", "api": "openai", "base_url": base, "timeout_s": 5,
                          "models": [{"name": "m"}]}]}
    plugins = load_plugins()
    config = parse(raw, {"CK": f"alice:{CLIENT_KEY}"}, list(plugins.strategies), {})
    return await aiohttp_client(await aiohttp_server(create_app(config, plugins,
                                                                rng=random.Random(1))))


def assert_locked_down(headers: Any) -> None:
    policy = headers["Content-Security-Policy"]
    assert CSP.search(policy)
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    for directive in ("script-src", "style-src", "connect-src", "img-src"):
        assert directives[directive] == "'self'"  # no 'unsafe-inline', no other origin
    assert directives["frame-ancestors"] == "'none'" and directives["object-src"] == "'none'"
    assert headers["X-Content-Type-Options"] == "nosniff"


async def test_slash_redirects_to_the_console(client: TestClient[Any, Any]) -> None:
    for path in ("/", "/ui"):
        resp = await client.get(path, allow_redirects=False)
        assert resp.status == 302 and resp.headers["Location"] == "/ui/"


async def test_the_page_is_open_html_that_revalidates(client: TestClient[Any, Any]) -> None:
    resp = await client.get("/ui/")  # no key, although keys are configured
    assert resp.status == 200
    assert resp.headers["Content-Type"] == "text/html; charset=utf-8"
    assert resp.headers["Cache-Control"] == REVALIDATE
    assert_locked_down(resp.headers)
    page = await resp.text()
    assert "<script" in page and "<style" not in page and " style=" not in page
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page), "inline script"
    assert not re.search(r"""(src|href)=["'](https?:)?//""", page), "an external asset"
    again = await client.get("/ui/", headers={"If-None-Match": resp.headers["ETag"]})
    assert again.status == 304 and await again.read() == b""
    assert (await client.get("/ui/index.html")).status == 200


@pytest.mark.parametrize(("name", "content_type"), list(ASSETS.items()))
async def test_every_file_has_its_type_and_a_versioned_immutable_url(
    client: TestClient[Any, Any], name: str, content_type: str
) -> None:
    page = await (await client.get("/ui/")).text()
    found = re.search(rf'"({re.escape(name)}\?v=(\w+))"', page)
    assert found, f"the page does not link {name} with its version"
    versioned = await client.get(f"/ui/{found.group(1)}")
    assert versioned.status == 200
    assert versioned.headers["Content-Type"] == content_type
    assert versioned.headers["Cache-Control"] == IMMUTABLE
    assert await versioned.read() == (STATIC / name).read_bytes()
    assert_locked_down(versioned.headers)
    plain = await client.get(f"/ui/{name}")
    assert plain.headers["Cache-Control"] == REVALIDATE  # an old or unversioned link revalidates
    assert plain.headers["ETag"] == versioned.headers["ETag"] == f'"{found.group(2)}"'
    tags = f'W/"x", {plain.headers["ETag"]}'
    stale = await client.get(f"/ui/{name}?v=0000", headers={"If-None-Match": tags})
    assert stale.status == 304 and stale.headers["Cache-Control"] == REVALIDATE


async def test_a_new_release_changes_the_links(client: TestClient[Any, Any]) -> None:
    console = Console.load()
    assert all(f"{name}?v={asset.version}".encode() in console.page.body
               for name, asset in console.assets.items())


async def test_an_unknown_file_or_method_is_an_error_in_openai_format(
    client: TestClient[Any, Any],
) -> None:
    for path in ("/ui/nope.js", "/ui/static/app.js", "/ui/..%2frouter%2fapp.py", "/ui/a/b"):
        resp = await client.get(path)
        assert resp.status == 404, path
        assert (await resp.json())["error"]["type"] == "not_found_error"
    resp = await client.post("/ui/", data=b"x")
    assert resp.status == 405 and resp.headers["Allow"] == "GET, HEAD"
    assert "error" in await resp.json()
    head = await client.head("/ui/app.js")
    assert head.status == 200 and await head.read() == b""


async def test_the_data_behind_the_page_is_not_open(client: TestClient[Any, Any]) -> None:
    for path in ("/status", "/status/requests", "/v1/models"):
        assert (await client.get(path)).status == 401, path
        assert (await client.get(path, headers=AUTH)).status == 200, path


async def test_no_answer_carries_the_server_banner(client: TestClient[Any, Any]) -> None:
    answers = [
        await client.get("/", allow_redirects=False),
        await client.get("/ui/"),
        await client.get("/ui/app.js"),
        await client.get("/ui/", headers={"If-None-Match": "*"}),
        await client.get("/ui/missing"),
        await client.get("/status"),  # 401
        await client.get("/status", headers=AUTH),
        await client.get("/status/requests?limit=x", headers=AUTH),
        await client.get("/healthz"),
        await client.get("/metrics"),
        await client.get("/nowhere"),
        await client.post("/status", headers=AUTH),  # 405 from aiohttp's router
        await client.post("/v1/chat/completions", headers=AUTH, json={
            "model": "free", "messages": [{"role": "user", "content": "hi"}]}),
        await client.post("/v1/chat/completions", headers=AUTH, json={
            "model": "free", "stream": True, "messages": [{"role": "user", "content": "hi"}]}),
        await client.post("/v1/messages", headers=AUTH, data=b"{not json"),
    ]
    statuses = set()
    for resp in answers:
        await resp.read()
        statuses.add(resp.status)
        assert "Server" not in resp.headers, (resp.url, resp.headers["Server"])
    assert {200, 302, 304, 400, 401, 404, 405} <= statuses


def test_the_package_ships_every_console_file() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = project["tool"]["setuptools"]["package-data"]["router"]
    shipped = [p for p in STATIC.iterdir() if p.is_file()]
    assert {p.name for p in shipped} == {"index.html", *ASSETS}
    for path in shipped:
        relative = path.relative_to(ROOT / "router").as_posix()
        assert any(fnmatch.fnmatch(relative, pattern) for pattern in patterns), relative
