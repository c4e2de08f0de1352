"""The dashboard's static files: read once, served by a route with content-hashed URLs."""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from importlib import resources

from starlette.requests import Request
from starlette.responses import Response

MEDIA_TYPES: dict[str, str] = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
# A URL carries the content hash, so a matching request may be cached for a year.
IMMUTABLE = "public, max-age=31536000, immutable"
# An old or missing hash (a page from before an upgrade) gets the current file, briefly.
SHORT = "public, max-age=60"


@dataclass(frozen=True, slots=True)
class Asset:
    """One static file with its hash and a pre-compressed copy."""

    name: str
    body: bytes
    gzipped: bytes
    media_type: str
    version: str


class Assets:
    """Static files of ``fastapi_flare/static/flare`` keyed by file name (no paths)."""

    def __init__(self) -> None:
        self._files: dict[str, Asset] = {}
        folder = resources.files("fastapi_flare").joinpath("static", "flare")
        for item in folder.iterdir():
            suffix = "." + item.name.rsplit(".", 1)[-1] if "." in item.name else ""
            if not item.is_file() or suffix not in MEDIA_TYPES:
                continue
            body = item.read_bytes()
            self._files[item.name] = Asset(
                name=item.name,
                body=body,
                gzipped=gzip.compress(body, compresslevel=9, mtime=0),
                media_type=MEDIA_TYPES[suffix],
                version=hashlib.sha256(body).hexdigest()[:12],
            )

    def url(self, base: str, name: str) -> str:
        """The versioned URL of ``name`` under the dashboard path ``base``."""
        return f"{base}/static/{name}?v={self._files[name].version}"

    def response(self, request: Request, name: str) -> Response:
        """The file (gzip when accepted), long-cached when the URL's hash matches."""
        asset = self._files.get(name)
        if asset is None:
            return Response("Not found", status_code=404, media_type="text/plain")
        cache = IMMUTABLE if request.query_params.get("v") == asset.version else SHORT
        headers = {"Cache-Control": cache, "Vary": "Accept-Encoding", "ETag": f'"{asset.version}"'}
        if request.headers.get("if-none-match") == f'"{asset.version}"':
            return Response(status_code=304, headers=headers)
        if "gzip" in request.headers.get("accept-encoding", ""):
            headers["Content-Encoding"] = "gzip"
            return Response(asset.gzipped, media_type=asset.media_type, headers=headers)
        return Response(asset.body, media_type=asset.media_type, headers=headers)
