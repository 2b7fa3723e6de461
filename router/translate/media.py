"""Images and documents between OpenAI content parts and Anthropic content blocks: data URLs
become base64 sources and back, http(s) URLs become url sources and back."""

from __future__ import annotations

from typing import Any

from router.types import JSON

_BASE64_MARK = ";base64,"


def _source_for_url(url: str) -> JSON:
    if url.startswith("data:") and _BASE64_MARK in url:
        media_type, data = url[len("data:") :].split(_BASE64_MARK, 1)
        return {"type": "base64", "media_type": media_type, "data": data}
    return {"type": "url", "url": url}


def _url_for_source(source: Any) -> str | None:
    if not isinstance(source, dict):
        return None
    if source.get("type") == "base64":
        return f"data:{source.get('media_type', '')}{_BASE64_MARK}{source.get('data', '')}"
    url = source.get("url")
    return url if source.get("type") == "url" and isinstance(url, str) else None


def image_block(part: JSON) -> JSON | None:
    """OpenAI `image_url` part -> Anthropic `image` block (`detail` has no equivalent)."""
    image = part.get("image_url")
    url = image.get("url") if isinstance(image, dict) else image
    if not isinstance(url, str) or not url:
        return None
    return {"type": "image", "source": _source_for_url(url)}


def document_block(part: JSON) -> JSON | None:
    """OpenAI `file` part carrying inline data -> Anthropic `document` block; file ids
    refer to OpenAI's own storage and cannot travel."""
    file = part.get("file")
    data = file.get("file_data") if isinstance(file, dict) else None
    if not isinstance(data, str) or not data.startswith("data:"):
        return None
    return {"type": "document", "source": _source_for_url(data)}


def image_part(block: JSON) -> JSON | None:
    """Anthropic `image` block -> OpenAI `image_url` part."""
    url = _url_for_source(block.get("source"))
    return {"type": "image_url", "image_url": {"url": url}} if url else None


def document_part(block: JSON) -> JSON | None:
    """Anthropic `document` block -> OpenAI part: inline text stays text, inline data
    becomes a `file` part."""
    source = block.get("source")
    if isinstance(source, dict) and source.get("type") == "text":
        text = source.get("data")
        return {"type": "text", "text": text} if isinstance(text, str) and text else None
    url = _url_for_source(source)
    if url is None or not url.startswith("data:"):
        return None
    title = block.get("title")
    filename = title if isinstance(title, str) and title else "document.pdf"
    return {"type": "file", "file": {"filename": filename, "file_data": url}}
