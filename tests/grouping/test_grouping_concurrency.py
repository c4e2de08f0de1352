"""Several writers on one database (storages and processes): counters stay exact."""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import timedelta
from pathlib import Path

from fastapi_flare.storage.base import Storage
from tests.grouping.conftest import T0, Backend
from tests.grouping.consistency import assert_consistent
from tests.grouping.issue_writer import BATCH_SIZE, FINGERPRINTS, write

ROOT = Path(__file__).resolve().parents[2]


async def _prune_while(storage: Storage, running: asyncio.Event) -> int:
    pruned = 0
    cutoff = T0 + timedelta(hours=1)
    while running.is_set():
        result = await storage.prune(older_than=cutoff, max_entries=100_000, max_requests=10)
        pruned += result.logs
        await asyncio.sleep(0.01)
    return pruned


async def test_two_storages_writing_and_one_pruning_at_once(backend: Backend) -> None:
    one, two, cleaner = backend.storage(), backend.storage(), backend.storage()
    for storage in (one, two, cleaner):
        await storage.open()
    try:
        running = asyncio.Event()
        running.set()
        pruning = asyncio.create_task(_prune_while(cleaner, running))
        written = await asyncio.gather(write(one, 1, 40), write(two, 2, 40))
        running.clear()
        pruned = await pruning
        pruned += (
            await cleaner.prune(
                older_than=T0 + timedelta(hours=1), max_entries=100_000, max_requests=10
            )
        ).logs
        facts = await assert_consistent(one)
        assert sum(written) == 2 * 40 * BATCH_SIZE
        assert pruned > 0
        assert sum(f.count for f in facts.values()) == sum(written) - pruned
        assert len(facts) == FINGERPRINTS
    finally:
        for storage in (one, two, cleaner):
            await storage.close()


async def test_two_processes_writing_to_one_database(backend: Backend) -> None:
    first = backend.storage()
    await first.open()  # creates the schema once; the processes find it
    try:
        target = backend.pg_table if backend.kind == "postgresql" else backend.sqlite_path
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        procs = [
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "tests.grouping.issue_writer",
                backend.kind,
                target,
                str(seed),
                "30",
                cwd=ROOT,
                env=env,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            for seed in (11, 12)
        ]
        for proc in procs:
            assert proc.stdout is not None
            assert (await asyncio.wait_for(proc.stdout.readline(), 60)).strip() == b"ready"
        # All three start together: the processes and this one interleave their batches.
        outputs = [proc.communicate(b"go\n") for proc in procs]
        local, *results = await asyncio.gather(write(first, 13, 30), *outputs)
        for proc, (out, err) in zip(procs, results, strict=True):
            assert proc.returncode == 0, err.decode()[-2000:]
            assert int(out.decode().strip()) == 30 * BATCH_SIZE
        facts = await assert_consistent(first)
        assert sum(f.count for f in facts.values()) == local + 2 * 30 * BATCH_SIZE
        assert {f.ip_count for f in facts.values()} == {7}
    finally:
        await first.close()
