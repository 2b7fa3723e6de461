"""Translation between the client's API and the upstream's API, as pure functions with no I/O.

One entry point per artefact (request, response, stream, error), each dispatched on the
(source, target) pair through a table, never an if/elif chain. Same-API pairs only rewrite
what the router owns (the `model` field)."""

from __future__ import annotations

from router.translate.context import ResponseContext, StreamTranslator, TranslatedRequest
from router.translate.dispatch import (
    is_content_event,
    stream_translator,
    translate_error,
    translate_request,
    translate_response,
)

__all__ = [
    "ResponseContext",
    "StreamTranslator",
    "TranslatedRequest",
    "is_content_event",
    "stream_translator",
    "translate_error",
    "translate_request",
    "translate_response",
]
