"""Run the benchmark app under uvicorn in its own process, the way production would."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

UVICORN_FLAGS = [
    "--loop",
    "uvloop",
    "--http",
    "httptools",
    "--no-access-log",
    "--log-level",
    "warning",
]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def cpu_prefix(cpus: str | None) -> list[str]:
    """``taskset -c CPUS`` when pinning is asked for and possible, else nothing."""
    if cpus is None or shutil.which("taskset") is None:
        return []
    return ["taskset", "-c", cpus]


def http_get_json(port: int, path: str, timeout: float = 5.0) -> Any:
    """GET a JSON document from the local server."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"GET {path} answered {response.status}")
        return json.loads(body)
    finally:
        conn.close()


class UvicornServer:
    """One uvicorn worker serving ``app`` (``module:factory``) on a free local port."""

    def __init__(
        self,
        app: str,
        env: dict[str, str],
        log_path: Path,
        cpus: str | None = None,
        cwd: str | None = None,
    ) -> None:
        self.app = app
        self.cwd = cwd
        self.env = {**os.environ, **env}
        self.log_path = log_path
        self.cpus = cpus
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, ready_path: str, timeout: float = 30.0) -> None:
        """Start uvicorn and wait until ``ready_path`` answers 200."""
        command = [*cpu_prefix(self.cpus), sys.executable, "-m", "uvicorn", self.app]
        command += ["--factory", "--host", "127.0.0.1", "--port", str(self.port), *UVICORN_FLAGS]
        # uvicorn logs every unhandled exception's traceback (the 500 route), in
        # every configuration alike; a file keeps that cost realistic and off a pipe.
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                command, env=self.env, cwd=self.cwd, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"uvicorn exited at startup:\n{self.log_tail()}")
            try:
                http_get_json(self.port, ready_path, timeout=1.0)
                return
            except (OSError, RuntimeError):
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"uvicorn did not answer within {timeout}s:\n{self.log_tail()}")

    def cpu_seconds(self) -> float | None:
        """CPU time the server process has used so far (all its threads), or None.

        Read from /proc (Linux). Unlike req/s it leaves out time the VM gave to
        others, so it compares runs made while the machine was busy.
        """
        if self.process is None:
            return None
        try:
            fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        # utime and stime: fields 14 and 15 of stat(5), i.e. 12 and 13 after the name.
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def get(self, path: str, timeout: float = 60.0) -> Any:
        """GET a JSON route of the running app.

        Generous timeout: right after a load run the server may still be working
        through a backlog of slow requests (sentry-sdk's 500s take about a second).
        """
        return http_get_json(self.port, path, timeout=timeout)

    def stop(self, timeout: float = 90.0) -> int:
        """SIGTERM (uvicorn's graceful shutdown: lifespan runs, Flare drains) and wait."""
        if self.process is None:
            return 0
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
            raise RuntimeError(f"uvicorn ignored SIGTERM for {timeout}s") from None
        return code

    def log_tail(self, size: int = 4000) -> str:
        """The end of the server's output, for error messages."""
        try:
            data = self.log_path.read_bytes()
        except OSError:
            return ""
        return data[-size:].decode("utf-8", "replace")
