"""Summarise a captured request body into a small, masked dict."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

from fastapi_flare.capture.sanitize import Sanitizer


def summarise_body(
    raw: bytes, content_type: str, *, truncated: bool, sanitizer: Sanitizer
) -> dict[str, Any] | None:
    """JSON and form bodies are parsed and masked; anything else is described."""
    if not raw:
        return None
    media_type = content_type.split(";", 1)[0].strip().lower()
    info: dict[str, Any] = {"content_type": media_type or None, "size": len(raw)}
    if truncated:
        info["truncated"] = True
    parsed: Any = None
    is_json = media_type == "application/json" or media_type.endswith("+json")
    if truncated and (is_json or media_type == "application/x-www-form-urlencoded"):
        # A cut JSON or form body cannot be parsed, so its secrets could not be masked.
        info["note"] = "body larger than max_request_body_bytes; not stored"
        return sanitizer.mapping(info)
    if not truncated and is_json:
        try:
            parsed = json.loads(raw)
        except (ValueError, RecursionError):
            parsed = None
    elif not truncated and media_type == "application/x-www-form-urlencoded":
        try:
            parsed = dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
        except UnicodeDecodeError:
            parsed = None
    if parsed is not None:
        info["data"] = parsed
    elif media_type.startswith("multipart/"):
        info["note"] = "multipart body not stored"
    else:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            info["note"] = "binary body not stored"
        else:
            info.update(_text_body(text, truncated))
    return sanitizer.mapping(info)


def _text_body(text: str, truncated: bool) -> dict[str, Any]:
    """Text bodies that are really JSON or a form are parsed (so secrets get masked)."""
    stripped = text.strip()
    if not truncated and stripped[:1] in ("{", "["):
        try:
            return {"data": json.loads(stripped)}
        except (ValueError, RecursionError):
            pass
    if "=" in stripped and ("&" in stripped or " " not in stripped):
        try:
            return {"data": dict(parse_qsl(stripped, keep_blank_values=True, strict_parsing=True))}
        except ValueError:
            pass
    return {"text": text}
