"""Keeping configured keys out of everything a client sees: upstream error text is relayed, but an
upstream may echo the key it was sent."""

from __future__ import annotations

from collections.abc import Iterable

MASK = "[redacted]"


def redact(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def redact_bytes(data: bytes, secrets: Iterable[str]) -> bytes:
    for secret in secrets:
        raw = secret.encode()
        if raw in data:
            data = data.replace(raw, MASK.encode())
    return data
