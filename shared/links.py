"""Which addresses may become links on our pages: absolute http(s) URLs, nothing else."""

from __future__ import annotations

from urllib.parse import urlsplit


def is_web_link(value: object) -> bool:
    """Say whether value is an absolute http(s) URL with a host (never `javascript:`, `data:`)."""
    text = str(value or "").strip()
    try:
        parts = urlsplit(text)
    except ValueError:
        return False
    return parts.scheme.lower() in {"http", "https"} and bool(parts.hostname)
