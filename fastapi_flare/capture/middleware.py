"""The pure ASGI capture middleware: notes status and timing, queues entries, never interferes."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any, Protocol

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fastapi_flare.capture.context import (
    HANDLED_EXCEPTION_KEY,
    REQUEST_ID_HEADER,
    RequestContext,
    sane_request_id,
)

if TYPE_CHECKING:
    from fastapi_flare.capture.entries import EntryFactory
    from fastapi_flare.config import FlareConfig
    from fastapi_flare.queue import FlareQueue

logger = logging.getLogger("fastapi_flare")


class MetricsSink(Protocol):
    """Receives every finished request (the metrics aggregator implements it)."""

    def record(self, route: str | None, method: str, status: int, duration_s: float) -> None:
        """Count one request; must be cheap and never raise."""


class CaptureRuntime(Protocol):
    """The parts of the runtime the middleware needs."""

    config: FlareConfig
    queue: FlareQueue
    entry_factory: EntryFactory
    metrics: MetricsSink | None

    def ensure_started(self) -> None:
        """Start the background worker if no lifespan did."""


class FlareCaptureMiddleware:
    """Outermost ASGI wrapper: sees every status and every exception, changes nothing.

    The request path does no I/O: it only builds an entry and ``put``s it on the
    bounded queue. Any failure of Flare's own is logged and swallowed; the app's
    exception always propagates unchanged.
    """

    def __init__(
        self, app: ASGIApp, runtime: CaptureRuntime, dashboard_app: ASGIApp | None = None
    ) -> None:
        self.app = app
        self.runtime = runtime
        # Serves requests under dashboard_path (uncaptured): the same app, wrapped by
        # setup() so that every response there carries the dashboard's headers.
        self.dashboard_app = dashboard_app or app
        config = runtime.config
        self._dashboard_prefix = config.dashboard_path
        self._track_requests = config.track_requests
        self._track_2xx = config.track_2xx_requests
        self._capture_body = config.capture_request_body
        self._body_limit = config.max_request_body_bytes
        self._logged_failure = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self._is_dashboard(scope):
            await self.dashboard_app(scope, receive, send)
            return
        self.runtime.ensure_started()
        request_id = sane_request_id(_find_header(scope, REQUEST_ID_HEADER))
        ctx = RequestContext(
            scope=scope,
            started_wall=time.time(),
            started=time.perf_counter(),
            request_id=request_id,
        )
        encoded_id = request_id.encode("latin-1")

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                ctx.status = message["status"]
                headers = message.get("headers") or ()
                # A plain loop: a generator expression here cost more than the check.
                for name, _ in headers:
                    if name.lower() == REQUEST_ID_HEADER:
                        break
                else:
                    message = {**message, "headers": [*headers, (REQUEST_ID_HEADER, encoded_id)]}
            await send(message)

        inner_receive = self._body_recorder(ctx, receive) if self._capture_body else receive
        failure: BaseException | None = None
        try:
            await self.app(scope, inner_receive, send_wrapper)
        except BaseException as exc:
            failure = exc
            raise
        finally:
            self._record(ctx, failure)
            # The exception's traceback holds this frame and the app's frames, which
            # hold the scope: drop our references to it, or each failed request
            # would leave a reference cycle that only the garbage collector frees.
            failure = None
            scope.pop(HANDLED_EXCEPTION_KEY, None)

    def _is_dashboard(self, scope: Scope) -> bool:
        path: str = scope.get("path", "")
        root: str = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :]
        prefix = self._dashboard_prefix
        return path.startswith(prefix) and (len(path) == len(prefix) or path[len(prefix)] == "/")

    def _body_recorder(self, ctx: RequestContext, receive: Receive) -> Receive:
        limit = self._body_limit

        async def receive_wrapper() -> Message:
            message = await receive()
            if message["type"] == "http.request" and not ctx.body_truncated:
                chunk = message.get("body", b"")
                room = limit - len(ctx.body)
                if len(chunk) > room:
                    ctx.body_truncated = True
                    chunk = chunk[: max(room, 0)]
                ctx.body.extend(chunk)
            return message

        return receive_wrapper

    def _record(self, ctx: RequestContext, failure: BaseException | None) -> None:
        try:
            elapsed = time.perf_counter() - ctx.started
            if failure is not None and not isinstance(failure, Exception):
                return  # cancellation or shutdown, not an application error
            status = 500 if failure is not None and ctx.status is None else (ctx.status or 500)
            runtime = self.runtime
            if runtime.metrics is not None:
                runtime.metrics.record(ctx.route_template, ctx.method, status, elapsed)
            ctx.duration_ms = int(elapsed * 1000)
            is_failure = status >= 400 or failure is not None
            if is_failure:
                runtime.queue.put(runtime.entry_factory.from_request(ctx, status, failure))
            if self._track_requests and (is_failure or self._track_2xx):
                runtime.queue.put(runtime.entry_factory.request_entry(ctx, status))
        except Exception:
            if not self._logged_failure:
                self._logged_failure = True
                logger.exception("fastapi_flare could not record a request; continuing")


def _find_header(scope: Scope, name: bytes) -> bytes | None:
    headers: Any = scope.get("headers", ())
    for key, value in headers:
        if key == name:
            return bytes(value)
    return None
