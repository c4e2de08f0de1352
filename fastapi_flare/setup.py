"""``setup(app)``: capture middleware, handler wrapping, dashboard routes, lifespan."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.params import Depends as DependsParam
from starlette.types import ASGIApp

from fastapi_flare.capture.handlers import wrap_app_exception_handlers
from fastapi_flare.capture.middleware import FlareCaptureMiddleware
from fastapi_flare.config import FlareConfig
from fastapi_flare.grouping import install_grouping
from fastapi_flare.metrics import install_metrics
from fastapi_flare.runtime import FlareRuntime
from fastapi_flare.storage.factory import create_storage

logger = logging.getLogger("fastapi_flare")


class FlareSetupError(RuntimeError):
    """``setup()`` was called in a way that cannot work."""


def setup(app: FastAPI, config: FlareConfig | None = None) -> FlareRuntime:
    """Add error capture, request tracking and the dashboard to ``app``.

    Call it once per app, after registering your own exception handlers (handlers
    added later still run, Flare then records their status without the exception).
    """
    if getattr(app.state, "flare", None) is not None:
        raise FlareSetupError("fastapi_flare.setup() was already called for this app")
    config = config if config is not None else FlareConfig()
    if config.runtime is not None:
        raise FlareSetupError(
            "this FlareConfig is already bound to another app; create one FlareConfig per app"
        )
    runtime = FlareRuntime(config, create_storage(config))
    config._runtime = runtime
    app.state.flare = runtime

    _install_metrics(runtime)
    install_grouping(runtime.storage)
    auth_dependency = _install_auth(app, runtime)
    _install_dashboard(app, runtime, auth_dependency)
    wrap_app_exception_handlers(app.exception_handlers)
    _install_capture(app, runtime)
    _install_lifespan(app, runtime)
    return runtime


def _install_capture(app: FastAPI, runtime: FlareRuntime) -> None:
    """Wrap the whole middleware stack, outside Starlette's ServerErrorMiddleware.

    Being outermost lets Flare see the final status of every response (the 500 of
    an unhandled exception included) and echo X-Request-ID on it, without
    replacing any of the app's handlers or middleware.
    """
    # Lazy, like the dashboard itself: the capture path never imports it.
    from fastapi_flare.dashboard.security import with_security_headers

    build_stack = app.build_middleware_stack

    def build_with_capture() -> ASGIApp:
        stack = build_stack()
        return FlareCaptureMiddleware(stack, runtime, dashboard_app=with_security_headers(stack))

    app.build_middleware_stack = build_with_capture  # type: ignore[method-assign]


def _install_lifespan(app: FastAPI, runtime: FlareRuntime) -> None:
    """Run Flare around the app's own lifespan: started first, stopped (flushed) last."""
    app_lifespan = app.router.lifespan_context

    @asynccontextmanager
    async def flare_lifespan(asgi_app: Any) -> AsyncIterator[Any]:
        await runtime.start()
        try:
            async with app_lifespan(asgi_app) as state:
                yield state
        finally:
            await runtime.stop()

    app.router.lifespan_context = flare_lifespan


def _resolve_dependency(dependency: Any) -> DependsParam:
    if isinstance(dependency, DependsParam):
        return dependency
    if callable(dependency):
        resolved: DependsParam = Depends(dependency)
        return resolved
    raise FlareSetupError("dashboard_auth_dependency must be a callable or Depends(...)")


def _install_auth(app: FastAPI, runtime: FlareRuntime) -> DependsParam | None:
    config = runtime.config
    if config.zitadel_enabled:
        if config.dashboard_auth_dependency is not None:
            raise FlareSetupError(
                "set either dashboard_auth_dependency or the zitadel_* settings, not both"
            )
        from fastapi_flare.auth import build_zitadel_auth

        zitadel = build_zitadel_auth(config)
        app.include_router(zitadel.router)
        runtime.on_stop(getattr(zitadel, "aclose", None))
        return _resolve_dependency(zitadel.dependency)
    if config.dashboard_auth_dependency is None:
        return None
    return _resolve_dependency(config.dashboard_auth_dependency)


def _install_dashboard(app: FastAPI, runtime: FlareRuntime, auth: DependsParam | None) -> None:
    from fastapi_flare.dashboard import build_dashboard_router

    router = build_dashboard_router(runtime.service)
    app.include_router(
        router,
        prefix=runtime.config.dashboard_path,
        dependencies=[auth] if auth is not None else None,
        include_in_schema=False,
    )


def _install_metrics(runtime: FlareRuntime) -> None:
    """Attach the per-route metrics aggregator when enabled."""
    if runtime.config.metrics_enabled:
        install_metrics(runtime)
