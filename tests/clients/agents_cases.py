"""The OpenAI Agents SDK against the router (run in its own venv), with its default model, the
Responses API: an agent with a function tool run to its final output, the same streamed, and an
agent whose output is a pydantic model. Prints one JSON object: what each run gave, or the
error it raised."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Awaitable, Callable
from typing import Any

import pydantic
from agents import Agent, OpenAIResponsesModel, Runner, function_tool, set_tracing_disabled
from openai import AsyncOpenAI

called: list[str] = []


@function_tool  # type: ignore[untyped-decorator]  # the Agents SDK is Any to mypy (pyproject)
def get_weather(city: str) -> str:
    """The weather in a city."""
    called.append(city)
    return f"sunny and 21C in {city}"


class Trip(pydantic.BaseModel):
    city: str
    days: int


async def attempt(run: Callable[[], Awaitable[dict[str, Any]]]) -> dict[str, Any]:
    try:
        return await run()
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}


async def main() -> None:
    set_tracing_disabled(True)  # no traces to OpenAI's servers
    client = AsyncOpenAI(base_url=f"{os.environ['ROUTER_URL']}/v1", api_key="demo", max_retries=0)
    model = OpenAIResponsesModel(model=os.environ["MODEL"], openai_client=client)
    helper = Agent(name="helper", instructions="Answer with the tools you have.", model=model,
                   tools=[get_weather])
    out: dict[str, Any] = {}

    async def run() -> dict[str, Any]:
        result = await Runner.run(helper, "What is the weather in Oslo?")
        return {"final": result.final_output, "called": list(called),
                "items": [item.type for item in result.new_items]}

    out["run"] = await attempt(run)

    async def streamed() -> dict[str, Any]:
        called.clear()
        result = Runner.run_streamed(helper, "What is the weather in Lima?")
        kinds = {event.type async for event in result.stream_events()}
        return {"final": result.final_output, "called": list(called), "events": sorted(kinds)}

    out["streamed"] = await attempt(streamed)

    async def structured() -> dict[str, Any]:
        planner = Agent(name="planner", instructions="Plan a trip.", model=model, output_type=Trip)
        result = await Runner.run(planner, "Plan three days in Rome.")
        return {"final": result.final_output.model_dump()}

    out["structured"] = await attempt(structured)
    print(json.dumps(out))


asyncio.run(main())
