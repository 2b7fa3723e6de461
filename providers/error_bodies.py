"""Provider error bodies: whatever shape an upstream's error answer takes, one `ErrorBody` that
says its message, codes, metadata and details.

Shapes handled (providers.md sections 1.4 and 3): OpenRouter's `{"error":{code, message,
metadata}}` in both its older (`provider_name`/`raw`) and newer (`error_type`/`availability`)
forms; Gemini's array-wrapped google.rpc errors; Cerebras' and Mistral's unwrapped bodies;
Cloudflare's `{"success":false,"errors":[...]}` envelope; FastAPI's `detail`."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from providers.json_shapes import as_dict, as_list

_MESSAGE_LIMIT = 200


@dataclass(frozen=True, slots=True)
class ErrorBody:
    """What an error body says, whatever its provider's shape."""

    parsed: object  # the JSON as sent, None when the body is not JSON
    message: str = ""
    codes: frozenset[str] = frozenset()  # code, type, status, error_type, availability code
    metadata: Mapping[str, Any] = field(default_factory=dict)
    availability: Mapping[str, Any] = field(default_factory=dict)
    details: tuple[Mapping[str, Any], ...] = ()  # google.rpc details, the relayed body's included
    text: str = ""  # every message, relayed ones too, lower-cased, for phrase matching


def _error_object(parsed: object) -> dict[str, Any]:
    if isinstance(parsed, list):  # Gemini's compat endpoint wraps the error in an array
        parsed = next((e for e in parsed if isinstance(e, dict)), {})
    top = as_dict(parsed)
    inner = top.get("error")
    if isinstance(inner, dict):
        return inner
    if isinstance(inner, str):
        return {"message": inner}
    errors = as_list(top.get("errors"))  # Cloudflare's envelope
    if errors and isinstance(errors[0], dict):
        return errors[0]
    return top  # Cerebras and Mistral send the error object unwrapped


def parse_error_body(body: bytes) -> ErrorBody:
    try:
        parsed: object = orjson.loads(body) if body.strip() else None
    except orjson.JSONDecodeError:
        text = body[:_MESSAGE_LIMIT].decode("utf-8", "replace").strip()
        # An HTML page (a proxy's or Cloudflare's) says nothing a client could use.
        message = "" if text.startswith("<") else text
        return ErrorBody(parsed=None, message=message, text=message.lower())
    return error_body(parsed)


def error_body(parsed: object) -> ErrorBody:
    """What an already-decoded error body says."""
    error = _error_object(parsed)
    metadata = as_dict(error.get("metadata"))
    availability = as_dict(error.get("availability")) or as_dict(as_dict(parsed).get("availability"))
    # FastAPI-based servers (vLLM's router, Scaleway) say `detail` where others say `message`.
    said = error.get("message", error.get("detail"))
    message = said if isinstance(said, str) else ""
    codes = {
        str(v)
        for v in (
            error.get("code"),
            error.get("type"),
            error.get("status"),
            metadata.get("error_type"),
            metadata.get("provider_code"),
            availability.get("code"),
        )
        if isinstance(v, str | int) and not isinstance(v, bool)
    }
    details: list[Mapping[str, Any]] = [d for d in as_list(error.get("details")) if isinstance(d, dict)]
    texts = [message]
    raw = metadata.get("raw")
    if isinstance(raw, str) and raw:
        # OpenRouter's older form relays the upstream's body as a string: its hints count too,
        # and its message says more than "Provider returned error".
        relayed = parse_error_body(raw.encode())
        details.extend(relayed.details)
        codes |= relayed.codes
        texts.append(relayed.text or raw)
        provider = metadata.get("provider_name")
        if relayed.message:
            source = f"{provider}: " if isinstance(provider, str) else ""
            message = f"{message} ({source}{relayed.message})" if message else relayed.message
    return ErrorBody(
        parsed=parsed,
        message=message,
        codes=frozenset(codes),
        metadata=metadata,
        availability=availability,
        details=tuple(details),
        text=" ".join(texts).lower(),
    )


_SECRET = re.compile(
    r"(?i:bearer\s+\S+)"
    r"|\b(?:sk-|gsk_|nvapi-|hf_|csk-|cpk_|AIza)[A-Za-z0-9_\-]{6,}"
    r"|\b[A-Za-z0-9_\-]{40,}\b"
)


def readable_message(message: str) -> str:
    """One short line, with anything shaped like a key masked: some upstreams echo the key."""
    line = " ".join(_SECRET.sub("[redacted]", message).split())
    return line if len(line) <= _MESSAGE_LIMIT else line[: _MESSAGE_LIMIT - 3] + "..."

