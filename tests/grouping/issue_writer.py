"""A separate writer process: ``python -m tests.grouping.issue_writer KIND TARGET SEED BATCHES``.

KIND is sqlite or postgresql; TARGET the SQLite path or the PostgreSQL table name. The
process prints ``ready`` once its storage is open, waits for a line on stdin (so that
every writer starts at the same moment), writes, and prints how many entries it wrote.
"""

from __future__ import annotations

import asyncio
import random
import sys

from fastapi_flare.grouping import install_grouping
from fastapi_flare.schema import FlareLogEntry
from fastapi_flare.storage.base import Storage
from fastapi_flare.storage.postgres import PostgresStorage
from fastapi_flare.storage.sqlite import SqliteStorage
from tests.conftest import PG_DSN
from tests.grouping.conftest import entry

BATCH_SIZE = 40
FINGERPRINTS = 5
IPS = 7


def batches(seed: int, count: int) -> list[list[FlareLogEntry]]:
    """Deterministic batches sharing fingerprints and IPs with the other writers."""
    rng = random.Random(seed)
    return [
        [
            entry(
                rng.randrange(0, 6 * 60),
                f"shared-{rng.randrange(FINGERPRINTS)}",
                ip_address=f"10.0.0.{rng.randrange(IPS)}",
                message=f"writer {seed} batch {b}",
            )
            for _ in range(BATCH_SIZE)
        ]
        for b in range(count)
    ]


def open_storage(kind: str, target: str) -> Storage:
    """A storage with the issue tables on the shared database."""
    storage: Storage = (
        PostgresStorage(PG_DSN, table_name=target)
        if kind == "postgresql"
        else SqliteStorage(target)
    )
    install_grouping(storage)
    return storage


async def write(storage: Storage, seed: int, count: int) -> int:
    """Save every batch; returns the number of entries written."""
    written = 0
    for batch in batches(seed, count):
        await storage.save_logs(batch)
        written += len(batch)
        await asyncio.sleep(0)  # let the other writer of this process in
    return written


async def main(kind: str, target: str, seed: int, count: int) -> None:
    storage = open_storage(kind, target)
    await storage.open()
    try:
        print("ready", flush=True)
        await asyncio.to_thread(sys.stdin.readline)
        print(await write(storage, seed, count), flush=True)
    finally:
        await storage.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])))
