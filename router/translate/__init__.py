"""Translation between the client's API and the upstream's API, as pure functions with no I/O:
one module per artefact (request, response, stream, error) and direction. Each client API
(router.wire) holds the table of which function serves which upstream API; same-API pairs only
rewrite what the router owns (the `model` field)."""

from __future__ import annotations

from router.translate.context import ResponseContext, StreamTranslator, TranslatedRequest

__all__ = ["ResponseContext", "StreamTranslator", "TranslatedRequest"]
