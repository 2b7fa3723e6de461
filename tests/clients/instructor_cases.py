"""instructor against the router (run in instructor's own venv): TOOLS and JSON_SCHEMA modes
with a pydantic model that has an enum, a nested object and a required non-empty list, for the
model in $MODEL. Prints one JSON object: each mode's parsed result, or the error it raised."""

from __future__ import annotations

import enum
import json
import os

import instructor
import openai
import pydantic


class Level(enum.Enum):
    LOW = "low"
    HIGH = "high"


class Place(pydantic.BaseModel):
    city: str
    country: str


class Report(pydantic.BaseModel):
    level: Level
    place: Place
    tags: list[str] = pydantic.Field(min_length=1)


def run(mode: instructor.Mode) -> dict[str, object]:
    client = instructor.from_openai(
        openai.OpenAI(base_url=f"{os.environ['ROUTER_URL']}/v1", api_key="demo", max_retries=0),
        mode=mode)
    try:
        report = client.chat.completions.create(
            model=os.environ["MODEL"], response_model=Report, max_retries=0,
            messages=[{"role": "user", "content": "Report on the weather in Rome."}])
    except Exception as exc:  # reported to the test, which names it
        return {"error": f"{type(exc).__name__}: {exc}"}
    return {"report": report.model_dump(mode="json")}


print(json.dumps({mode.name: run(mode) for mode in (instructor.Mode.TOOLS,
                                                   instructor.Mode.JSON_SCHEMA)}))
