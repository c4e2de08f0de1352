"""fastapi-flare: self-hosted error tracking and metrics dashboard for FastAPI."""

from __future__ import annotations

from fastapi_flare.config import FlareConfig
from fastapi_flare.schema import FlareLogEntry
from fastapi_flare.setup import setup

__all__ = ["FlareConfig", "FlareLogEntry", "setup"]
__version__ = "0.1.0"
