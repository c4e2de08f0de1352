"""A real ``uvicorn`` process (or supervisor with workers) serving ``server_app``."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]
APP = "tests.reliability.server_app:app"
CLOSING_PATHS = frozenset({"/boom"})


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class UvicornServer:
    """``python -m uvicorn`` in its own session, on loopback; stopped by its PID."""

    def __init__(self, log_path: Path, env: dict[str, str], workers: int = 1) -> None:
        self.port = free_port()
        self.workers = workers
        self.log_path = log_path
        self._log = log_path.open("w")
        clean = {k: v for k, v in os.environ.items() if not k.startswith("FLARE_")}
        clean.pop("RELIABILITY_SAVE_DELAY", None)
        args = [
            sys.executable, "-m", "uvicorn", APP, "--host", "127.0.0.1",
            "--port", str(self.port), "--no-access-log", "--log-level", "info",
        ]  # fmt: skip
        if workers > 1:
            args += ["--workers", str(workers)]
        self.process = subprocess.Popen(
            args,
            cwd=REPO,
            env={**clean, **env},
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its workers share this group: one signal ends all
        )

    @property
    def base_url(self) -> str:
        """Where the server listens."""
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        """Everything the server printed so far."""
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    async def wait_ready(self, timeout: float = 60.0) -> None:
        """Wait until every worker finished its startup (uvicorn logs one line each)."""
        deadline = time.monotonic() + timeout
        while self.output().count("Application startup complete.") < self.workers:
            if self.process.poll() is not None:
                raise RuntimeError(f"uvicorn exited early:\n{self.output()[-3000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"uvicorn not ready:\n{self.output()[-3000:]}")
            await asyncio.sleep(0.1)
        async with httpx.AsyncClient(base_url=self.base_url) as http:
            assert (await http.get("/ok")).status_code == 200

    async def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        """Send ``sig`` to the server (and its workers) and wait for the exit code."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, sig)
        deadline = time.monotonic() + timeout
        while self.process.poll() is None:
            if time.monotonic() > deadline:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
                raise AssertionError(
                    f"uvicorn did not exit after {sig!r}:\n{self.output()[-3000:]}"
                )
            await asyncio.sleep(0.05)
        return int(self.process.returncode)

    def close(self) -> None:
        """Finalizer: make sure nothing of ours keeps running."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self._log.close()


async def hammer(base_url: str, paths: list[str], concurrency: int = 8) -> dict[int, int]:
    """Send each path once over loopback with bounded concurrency; count statuses."""
    statuses: dict[int, int] = {}
    queue: asyncio.Queue[str] = asyncio.Queue()
    for path in paths:
        queue.put_nowait(path)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async def worker(http: httpx.AsyncClient) -> None:
        while not queue.empty():
            path = queue.get_nowait()
            # uvicorn closes the connection after an app exception (its 500 already sent),
            # as it does for bare FastAPI: such requests must not share a kept-alive one.
            headers = {"Connection": "close"} if path in CLOSING_PATHS else None
            response = await http.get(path, headers=headers)
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=30) as http:
        await asyncio.gather(*(worker(http) for _ in range(concurrency)))
    return statuses
