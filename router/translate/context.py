"""What a translation needs to carry from the request to its response."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import field
from typing import Protocol

from router.records import record
from router.types import JSON


@record
class TranslatedRequest:
    body: JSON
    # upstream tool name -> the client's name, where a name had to be changed for the target
    tool_names: Mapping[str, str] = field(default_factory=dict)


@record
class ResponseContext:
    served_model: str  # the backend id, written into every `model` field the client sees
    include_usage: bool = False  # an OpenAI client asked stream_options.include_usage
    prompt_tokens: int = 0  # the router's estimate, for when the upstream reports none
    tool_names: Mapping[str, str] = field(default_factory=dict)
    created: int = 0  # epoch seconds of the answer (the router's clock), where a format wants one
    # Fresh per attempt and unique across replicas: what an API that names its answers itself
    # (the Responses API's `resp_...`, under which an answer is stored) derives its ids from.
    answer_id: str = ""
    # The client's request as it came (read-only): an API whose answer repeats its parameters
    # (Responses) reads them here, and how its tools were offered.
    request: JSON = field(default_factory=dict)


class StreamTranslator(Protocol):
    """Turns upstream stream events (each the parsed JSON of one SSE `data:` line; Anthropic
    events carry their `type`) into complete SSE frames for the client."""

    def feed(self, event: JSON) -> list[bytes]: ...

    def finish(self) -> list[bytes]:
        """The upstream ended cleanly: close the client's stream properly."""
        ...

    def fail(self, error_type: str, message: str) -> list[bytes]:
        """The stream broke after its first byte: end it with the API's in-band error."""
        ...

    @property
    def answer(self) -> JSON | None:
        """The whole answer in the client's non-streaming form, once the stream completed, for
        an API that keeps answers (Responses `store`); None for the others and on failure."""
        ...

    @property
    def done(self) -> bool:
        """The client's stream is complete (its last event was produced): the router ends it
        at once, without waiting for the upstream to close its connection."""
        ...
