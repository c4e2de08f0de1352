"""Run every benchmark and write ``benchmarks/results/`` plus ``summary.md``.

    python -m benchmarks.run_all            # the full set (about 25 minutes on 2 CPUs)
    python -m benchmarks.run_all --quick    # seconds; checks the harness, not the numbers
    python -m benchmarks.run_all --summary-only   # rewrite summary.md from existing results

Each benchmark runs as its own process with its own command line; one that is not
there yet is skipped with a note, one that fails does not stop the others.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks.apps.report import RESULTS_DIR, machine_info
from benchmarks.apps.summary import render_summary

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent


@dataclass(frozen=True, slots=True)
class Benchmark:
    """One benchmark module and the result name it writes."""

    name: str
    module: str

    @property
    def path(self) -> Path:
        """The module's source file."""
        return BENCH_DIR / f"{self.module.rsplit('.', 1)[1]}.py"


BENCHMARKS = [
    Benchmark("overhead", "benchmarks.bench_overhead"),
    Benchmark("memory", "benchmarks.bench_memory"),
    Benchmark("storage", "benchmarks.bench_storage"),
    Benchmark("retention", "benchmarks.bench_retention"),
    Benchmark("metrics", "benchmarks.bench_metrics"),
]


def _help(bench: Benchmark) -> str:
    done = subprocess.run(
        [sys.executable, "-m", bench.module, "--help"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout


def command_for(bench: Benchmark, quick: bool, out_dir: Path) -> list[str]:
    """The benchmark's command line, using only the options its ``--help`` offers."""
    command = [sys.executable, "-m", bench.module]
    options = _help(bench)
    if quick:
        if "--quick" not in options:
            raise RuntimeError(f"{bench.module} has no --quick option")
        command.append("--quick")
    if out_dir != RESULTS_DIR:
        if "--out-dir" not in options:
            raise RuntimeError(f"{bench.module} has no --out-dir option")
        command += ["--out-dir", str(out_dir)]
    return command


def run(bench: Benchmark, quick: bool, out_dir: Path) -> dict[str, object]:
    """Run one benchmark; returns its status for the summary."""
    if not bench.path.exists():
        print(f"== {bench.name}: skipped, {bench.path.relative_to(REPO_ROOT)} does not exist yet")
        return {"name": bench.name, "status": "missing"}
    try:
        command = command_for(bench, quick, out_dir)
    except RuntimeError as exc:
        print(f"== {bench.name}: skipped, {exc}")
        return {"name": bench.name, "status": f"skipped: {exc}"}
    print(f"== {bench.name}: {' '.join(command[1:])}", flush=True)
    started = time.monotonic()
    with subprocess.Popen(command, cwd=REPO_ROOT) as process:
        try:
            code = process.wait()
        except BaseException:
            # Interrupted: let the benchmark stop its own servers before we go.
            process.terminate()
            process.wait()
            raise
    seconds = round(time.monotonic() - started)
    status = "ok" if code == 0 else f"failed (exit code {code})"
    print(f"== {bench.name}: {status} in {seconds} s", flush=True)
    return {"name": bench.name, "status": status, "seconds": seconds}


def main(argv: list[str] | None = None) -> int:
    """Run the selected benchmarks, then write the summary."""
    parser = argparse.ArgumentParser(description="Run every fastapi-flare benchmark.")
    parser.add_argument("--quick", action="store_true", help="tiny runs that check the harness")
    parser.add_argument(
        "--only", default="", help="comma-separated names: " + ", ".join(b.name for b in BENCHMARKS)
    )
    parser.add_argument("--skip", default="", help="comma-separated names to leave out")
    parser.add_argument(
        "--summary-only", action="store_true", help="rewrite summary.md from existing results"
    )
    parser.add_argument("--out-dir", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    only = {n.strip() for n in args.only.split(",") if n.strip()}
    skip = {n.strip() for n in args.skip.split(",") if n.strip()}
    selected = [b for b in BENCHMARKS if (not only or b.name in only) and b.name not in skip]
    if args.summary_only:
        statuses: list[dict[str, object]] = [
            {
                "name": bench.name,
                "status": "earlier results"
                if (args.out_dir / f"{bench.name}.json").exists()
                else "no results",
            }
            for bench in selected
        ]
    else:
        statuses = [run(bench, args.quick, args.out_dir) for bench in selected]
    summary = render_summary(args.out_dir, machine_info(), statuses)
    (args.out_dir / "summary.md").write_text(summary)
    print(f"wrote {args.out_dir / 'summary.md'}")
    return (
        0
        if all(s["status"] in ("ok", "missing", "earlier results", "no results") for s in statuses)
        else 1
    )


if __name__ == "__main__":
    sys.exit(main())
