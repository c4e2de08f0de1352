"""Wrap the app's exception handlers so Flare learns which exception they handled."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from fastapi_flare.capture.context import HANDLED_EXCEPTION_KEY

_WRAPPED_MARK = "__fastapi_flare_wrapped__"


def wrap_exception_handler(handler: Callable[..., Any]) -> Callable[..., Any]:
    """Return a handler that notes the exception in the scope, then runs ``handler`` as before.

    Sync handlers keep running in the threadpool, as Starlette would run them.
    """
    if getattr(handler, _WRAPPED_MARK, False):
        return handler

    # Decided once here, not on every handled exception (a 404 is a handled exception).
    is_async = inspect.iscoroutinefunction(handler) or inspect.iscoroutinefunction(
        getattr(handler, "__call__", None)  # noqa: B004 - async callable objects
    )

    @functools.wraps(handler)
    async def flare_noting_handler(request: Request, exc: Exception) -> Any:
        request.scope[HANDLED_EXCEPTION_KEY] = exc
        if is_async:
            return await handler(request, exc)
        result = await run_in_threadpool(handler, request, exc)
        if inspect.isawaitable(result):
            result = await result
        return result

    setattr(flare_noting_handler, _WRAPPED_MARK, True)
    return flare_noting_handler


def wrap_app_exception_handlers(handlers: dict[Any, Callable[..., Any]]) -> None:
    """Wrap every registered handler in place (keys and behaviour unchanged)."""
    for key, handler in list(handlers.items()):
        handlers[key] = wrap_exception_handler(handler)
