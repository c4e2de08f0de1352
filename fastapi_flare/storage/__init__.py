"""Storage backends: the ``Storage`` protocol, SQLite and PostgreSQL.

Backends are imported by module path (``fastapi_flare.storage.sqlite``,
``fastapi_flare.storage.postgres``) or built from a config with
``fastapi_flare.storage.factory.create_storage``. Features that keep their own
tables next to the logs plug in through ``fastapi_flare.storage.extensions``.
"""
