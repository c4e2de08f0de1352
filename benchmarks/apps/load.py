"""HTTP load from a separate process: ``wrk`` when installed, else a small asyncio client.

The asyncio client (``python -m benchmarks.apps.load URL``) keeps the smoke test
runnable where wrk is not installed; its figures are far below wrk's and are not
quoted as results.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit

MARKER = "LOAD_JSON "

# wrk calls done() once at the end; printing JSON avoids parsing its human summary.
WRK_REPORT_LUA = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'LOAD_JSON {"requests": %d, "duration_us": %d, "socket_errors": %d, "status_errors": %d,'
    .. ' "timeouts": %d, "p50_us": %.0f, "p99_us": %.0f, "mean_us": %.1f, "max_us": %.0f}\\n',
    summary.requests, summary.duration, e.connect + e.read + e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.mean, latency.max))
end
"""


@dataclass(frozen=True, slots=True)
class LoadResult:
    """What one fixed-duration load run measured."""

    client: str
    requests: int
    duration_s: float
    rps: float
    p50_ms: float
    p99_ms: float
    mean_ms: float
    socket_errors: int
    status_errors: int

    def as_dict(self) -> dict[str, object]:
        """Plain dict for the JSON results."""
        return asdict(self)


def wrk_available() -> bool:
    """True when the ``wrk`` binary is on PATH."""
    return shutil.which("wrk") is not None


def _parse(client: str, stdout: str) -> LoadResult:
    for line in stdout.splitlines():
        if line.startswith(MARKER):
            raw = json.loads(line[len(MARKER) :])
            duration = raw["duration_us"] / 1e6
            return LoadResult(
                client=client,
                requests=raw["requests"],
                duration_s=round(duration, 3),
                rps=round(raw["requests"] / duration, 1) if duration else 0.0,
                p50_ms=round(raw["p50_us"] / 1000, 3),
                p99_ms=round(raw["p99_us"] / 1000, 3),
                mean_ms=round(raw["mean_us"] / 1000, 3),
                socket_errors=raw["socket_errors"] + raw.get("timeouts", 0),
                status_errors=raw["status_errors"],
            )
    raise RuntimeError(f"{client} printed no result:\n{stdout[-2000:]}")


def run_load(
    url: str,
    *,
    duration: float,
    connections: int,
    threads: int,
    client: str,
    cpu_prefix: list[str],
) -> LoadResult:
    """Load ``url`` for ``duration`` seconds from a separate process and return the figures."""
    if client == "wrk":
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
            script.write(WRK_REPORT_LUA)
        try:
            command = [
                *cpu_prefix,
                "wrk",
                f"-t{threads}",
                f"-c{connections}",
                f"-d{max(1, round(duration))}s",
                "--latency",
                "-s",
                script.name,
                url,
            ]
            done = subprocess.run(command, capture_output=True, text=True, check=True)
        finally:
            Path(script.name).unlink(missing_ok=True)
        return _parse("wrk", done.stdout)
    command = [*cpu_prefix, sys.executable, "-m", "benchmarks.apps.load", url]
    command += ["--duration", str(duration), "--connections", str(connections)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return _parse("python", done.stdout)


async def _connection(
    host: str, port: int, request: bytes, deadline: float
) -> tuple[list[float], int, int]:
    """One keep-alive connection; reconnects when the server closes it (as wrk does)."""
    latencies: list[float] = []
    status_errors = socket_errors = 0
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            try:
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                length, close = 0, False
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    name = name.strip().lower()
                    if name == b"content-length":
                        length = int(value)
                    elif name == b"connection":
                        close = value.strip().lower() == b"close"
                if length:
                    await reader.readexactly(length)
            except (asyncio.IncompleteReadError, ConnectionError):
                socket_errors += 1
                close, head = True, b""
            if head:
                latencies.append(time.perf_counter() - started)
                status_errors += int(head[9:12]) >= 400
            if close or reader.at_eof():
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
    finally:
        writer.close()
    return latencies, status_errors, socket_errors


async def _python_load(url: str, duration: float, connections: int) -> dict[str, float]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    request = f"GET {target} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()
    started = time.perf_counter()
    deadline = started + duration
    per_conn = await asyncio.gather(
        *(_connection(host, port, request, deadline) for _ in range(connections))
    )
    elapsed = time.perf_counter() - started
    latencies = sorted(x for conn_latencies, _, _ in per_conn for x in conn_latencies)
    status_errors = sum(errors for _, errors, _ in per_conn)
    socket_errors = sum(errors for _, _, errors in per_conn)

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(len(latencies) * p / 100))] * 1e6

    return {
        "requests": len(latencies),
        "duration_us": elapsed * 1e6,
        "socket_errors": socket_errors,
        "status_errors": status_errors,
        "timeouts": 0,
        "p50_us": pct(50) if latencies else 0.0,
        "p99_us": pct(99) if latencies else 0.0,
        "mean_us": sum(latencies) / len(latencies) * 1e6 if latencies else 0.0,
        "max_us": latencies[-1] * 1e6 if latencies else 0.0,
    }


def main() -> None:
    """Entry point of the asyncio load client."""
    parser = argparse.ArgumentParser(description="Minimal keep-alive HTTP load generator.")
    parser.add_argument("url")
    parser.add_argument("--duration", type=float, default=1.0)
    parser.add_argument("--connections", type=int, default=8)
    args = parser.parse_args()
    result = asyncio.run(_python_load(args.url, args.duration, args.connections))
    result["requests"] = int(result["requests"])
    print(MARKER + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
