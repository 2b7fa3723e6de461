"""A stream ends for the client as soon as its last event is written, and is recorded with its
real status, whatever the upstream does with its connection afterwards. Every path is tried
(each client API to each upstream API) with an upstream that keeps its connection open for a
long time after its last event: the client gets its end at once, the request is counted as a
200 (never 499), and the router closes the lingering upstream connection itself."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from router.demo.scripted import Behaviour
from tests.api.conftest import CLIENT_KEY, Stack

LINGER_S = 60.0  # far longer than any wait below: a router that waits for it fails the test
PATIENCE_S = 15.0  # generous on a loaded machine, still far below LINGER_S


async def statuses(stack: Stack, route: str) -> dict[str, float]:
    async with aiohttp.ClientSession() as http, http.get(
            f"{stack.url}/metrics", headers={"Authorization": f"Bearer {CLIENT_KEY}"}) as resp:
        text = await resp.text()
    return {s.labels["status"]: s.value for family in text_string_to_metric_families(text)
            for s in family.samples
            if s.name == "freerouter_requests_total" and s.labels.get("route") == route}


async def eventually(check: Callable[[], Awaitable[bool]]) -> None:
    deadline = time.monotonic() + PATIENCE_S
    while not await check():
        assert time.monotonic() < deadline, "not within the patience allowed"
        await asyncio.sleep(0.02)


async def openai_stream(openai_client: Any, route: str) -> str:
    stream = await openai_client.chat.completions.create(
        model=route, stream=True, stream_options={"include_usage": True},
        messages=[{"role": "user", "content": "finish promptly"}])
    parts = []
    async for chunk in stream:
        parts += [c.delta.content or "" for c in chunk.choices]
    return "".join(parts)


async def anthropic_stream(anthropic_client: Any, route: str) -> str:
    async with anthropic_client.messages.stream(
            model=route, max_tokens=100,
            messages=[{"role": "user", "content": "finish promptly"}]) as stream:
        final = await stream.get_final_message()
    return str(final.content[0].text)


@pytest.mark.parametrize("client", ["openai", "anthropic"])
@pytest.mark.parametrize("route", ["to-openai", "to-anthropic"])
async def test_a_lingering_upstream_never_holds_the_end_of_a_stream(
        stack: Stack, openai_client: Any, anthropic_client: Any, client: str, route: str) -> None:
    fake = stack.openai_fake if route == "to-openai" else stack.anthropic_fake
    for model in fake.behaviours:
        fake.behaviours[model] = Behaviour(linger_s=LINGER_S)
    read = openai_stream(openai_client, route) if client == "openai" else \
        anthropic_stream(anthropic_client, route)
    text = await asyncio.wait_for(read, PATIENCE_S)
    assert text.endswith("You said: finish promptly")

    async def recorded() -> bool:
        return (await statuses(stack, route)).get("200", 0) == 1

    await eventually(recorded)
    assert (await statuses(stack, route)).get("499", 0) == 0

    async def released() -> bool:
        return fake.released == 1

    await eventually(released)  # the router closed the upstream connection; nothing leaks
    assert fake.lingered == 1
