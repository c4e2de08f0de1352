"""Pick the storage backend a config asks for."""

from __future__ import annotations

from fastapi_flare.config import FlareConfig
from fastapi_flare.storage.base import Storage


def create_storage(config: FlareConfig) -> Storage:
    """A new, unopened storage for ``config``; drivers are imported only when used."""
    if config.storage_backend == "postgresql":
        from fastapi_flare.storage.postgres import PostgresStorage

        assert config.pg_dsn is not None  # enforced by FlareConfig
        return PostgresStorage(
            config.pg_dsn,
            table_name=config.pg_table_name,
            pool_min_size=config.pg_pool_min_size,
            pool_max_size=config.pg_pool_max_size,
            connect_timeout=config.pg_connect_timeout_seconds,
            command_timeout=config.pg_command_timeout_seconds,
        )
    from fastapi_flare.storage.sqlite import SqliteStorage

    return SqliteStorage(config.sqlite_path)
