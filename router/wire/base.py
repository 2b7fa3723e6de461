"""What the router must know of one API's wire format, in one object per API.

`ClientApi` is an API a client speaks (Chat Completions, Messages, Responses): how its callers are
recognised, its errors (body, type, the overload status, the in-band stream error), what a request
needs, its sticky key, its model list, and how it is translated to each upstream API.
`UpstreamApi` is an API an upstream speaks (Chat Completions, Messages): what in its streams is
content, where it reports usage, and what the router sets in a body before sending it.

Adding an API is one module implementing these and one line in `router.wire`'s registry."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from router.errors import RouterError
from router.translate.context import ResponseContext, StreamTranslator, TranslatedRequest
from router.types import JSON, Api, Needs


@dataclass(frozen=True, slots=True)
class Translation:
    """How one client API reaches one upstream API: four pure functions."""

    request: Callable[[JSON], TranslatedRequest]  # the client's body, in the upstream's format
    response: Callable[[JSON, ResponseContext], JSON]  # the upstream's answer, in the client's
    stream: Callable[[ResponseContext], StreamTranslator]
    error: Callable[[JSON], JSON]  # an upstream error body (a relayed 400), in the client's


@dataclass(frozen=True, slots=True)
class ModelEntry:
    """One row of the model list: a route or a backend."""

    id: str
    owner: str
    capabilities: tuple[str, ...]
    context_length: int
    created: int  # epoch seconds


class ClientApi(Protocol):
    api: Api
    overloaded_status: int  # all capable backends cooling down or over budget
    stream_failure_type: str  # the error type of an upstream failure after the first byte

    def claims(self, path: str, headers: Mapping[str, str]) -> bool:
        """Whether a request to `path` with `headers` expects this API's formats."""
        ...

    def error_type(self, exc: RouterError, status: int) -> str: ...

    def error_body(self, error_type: str, message: str, *, param: str | None = None,
                   code: str | None = None, request_id: str | None = None) -> JSON: ...

    def stream_error(self, error_type: str, message: str) -> list[bytes]:
        """The frames ending a stream that broke after its first byte."""
        ...

    def analyse(self, body: JSON, session_header: str | None) -> Needs: ...

    def wants_stream_usage(self, body: JSON) -> bool:
        """Whether the client asked for usage in its stream (the router always asks upstream)."""
        ...

    def translation(self, upstream: Api) -> Translation: ...

    def model_object(self, entry: ModelEntry) -> JSON: ...

    def model_list(self, entries: Sequence[ModelEntry], query: Mapping[str, str]) -> JSON:
        """GET /v1/models in this API's shape; RequestError for a bad query."""
        ...


class UpstreamApi(Protocol):
    api: Api

    def is_content(self, event: JSON) -> bool:
        """Whether a stream event carries something real (text, a tool call, reasoning): the
        router commits a stream to the client only after one."""
        ...

    def usage(self, payload: JSON) -> tuple[int, int] | None:
        """(prompt, completion) tokens a response body or stream event reports, if any."""
        ...

    def prepare(self, body: JSON, room: int, stream: bool) -> None:
        """Set what the router owns in an outgoing body: the output bound (the client's
        max_tokens is a ceiling, clamped to `room`, the context left after the prompt), and for
        streams whatever makes the upstream report usage."""
        ...

    def declare_output(self, body: JSON, most: int) -> None:
        """Make a prepared body declare an output bound of at most `most` tokens, adding one
        when it has none (for upstreams that count the declared bound against their budget)."""
        ...
