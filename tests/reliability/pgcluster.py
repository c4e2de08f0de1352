"""A private PostgreSQL cluster the tests may stop, start and break at will.

The shared server on 5432 must never be restarted by a test; this one lives in a
temporary folder owned by the ``postgres`` OS user, listens on a free loopback
port with trust authentication, and is removed at the end.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

from tests.conftest import unavailable

PG_ROOT = Path("/usr/lib/postgresql")
APPLICATION_NAME = "fastapi-flare"  # what Flare's pool announces (see PostgresStorage)


def _bin_dir() -> Path | None:
    versions = sorted(
        (p for p in PG_ROOT.glob("*/bin") if (p / "initdb").exists()),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    return versions[-1] if versions else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PrivateCluster:
    """initdb + pg_ctl run as ``postgres``; stop/start/restart on demand."""

    def __init__(self, bin_dir: Path, root: Path, port: int) -> None:
        self.bin_dir = bin_dir
        self.root = root
        self.data = root / "data"
        self.port = port
        self.running = False

    @property
    def dsn(self) -> str:
        """Connection string of the cluster's default database."""
        return f"postgresql://root@127.0.0.1:{self.port}/postgres"

    @classmethod
    def create(cls) -> PrivateCluster:
        """A new, stopped cluster; skips (fails in CI) when it cannot be made here."""
        bin_dir = _bin_dir()
        if bin_dir is None or shutil.which("runuser") is None or os.geteuid() != 0:
            unavailable("a private PostgreSQL cluster needs root, runuser and initdb")
        assert bin_dir is not None
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            unavailable("no 'postgres' OS user to own a private cluster")
            raise
        root = Path(tempfile.mkdtemp(prefix="flare-pg-"))
        os.chown(root, owner.pw_uid, owner.pw_gid)
        cluster = cls(bin_dir, root, _free_port())
        cluster._as_postgres(
            "initdb", "-D", str(cluster.data), "-U", "root", "--auth=trust", "-E", "UTF8",
            "--no-sync", "--no-instructions",
        )  # fmt: skip
        return cluster

    def _as_postgres(self, tool: str, *args: str) -> None:
        result = subprocess.run(
            ["runuser", "-u", "postgres", "--", str(self.bin_dir / tool), *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if result.returncode != 0:
            log = self.root / "server.log"
            tail = log.read_text(errors="replace")[-1500:] if log.exists() else ""
            raise RuntimeError(f"{tool} failed: {result.stderr.strip()} {tail}")

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c full_page_writes=off -c max_connections=60"
        )
        self._as_postgres(
            "pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.root / "server.log"),
            "-w", "-t", "30", "start",
        )  # fmt: skip
        self.running = True

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (``fast`` terminates every session, like a real restart)."""
        if self.running:
            self._as_postgres("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "30", "stop")
            self.running = False

    def destroy(self) -> None:
        """Stop (immediately if needed) and delete the folder."""
        try:
            self.stop("immediate")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


def unique_table() -> str:
    """A fresh table name so tests never see each other's rows."""
    return "flare_rel_" + uuid.uuid4().hex[:12]


async def execute(dsn: str, sql: str) -> None:
    """Run one statement on its own connection."""
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def pg_rows(dsn: str, table: str) -> tuple[int, int]:
    """(log rows, request rows) of one Flare table pair."""
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        logs = await conn.fetchval(f'SELECT count(*) FROM "{table}"')
        requests = await conn.fetchval(f'SELECT count(*) FROM "{table}_requests"')
    finally:
        await conn.close()
    return int(logs), int(requests)


async def terminate_flare_connections(dsn: str) -> int:
    """``pg_terminate_backend`` every session Flare's pool opened; how many were killed."""
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        killed = await conn.fetchval(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE application_name = $1 AND pid <> pg_backend_pid()",
            APPLICATION_NAME,
        )
    finally:
        await conn.close()
    return int(killed or 0)


async def drop_tables(dsn: str, base: str) -> None:
    """Drop the table ``base`` and every ``base_*`` table Flare made beside it."""
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
            "AND (tablename = $1 OR starts_with(tablename, $2))",
            base,
            base + "_",
        )
        for row in rows:
            await conn.execute(f'DROP TABLE IF EXISTS "{row[0]}" CASCADE')
    finally:
        await conn.close()
