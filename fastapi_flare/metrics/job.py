"""The writer's periodic metrics job: add what the aggregator counted to the rollups."""

from __future__ import annotations

import asyncio

from fastapi_flare.metrics.aggregator import MetricsAggregator
from fastapi_flare.metrics.store import MetricsStore, store_for
from fastapi_flare.schema import StorageError
from fastapi_flare.storage.base import Storage
from fastapi_flare.worker import FailureLog

# A retried batch and the fresh one behind it: at most two writes per call.
MAX_BATCHES_PER_CALL = 2


class MetricsFlushJob:
    """Awaited by the worker every ``worker_interval_seconds`` and once more at shutdown.

    Each call writes everything counted so far, the current minute included, so the
    last call at shutdown loses nothing. Old rollups are pruned by the storage's
    retention pass (see ``store.metrics_extension``).
    """

    def __init__(self, aggregator: MetricsAggregator) -> None:
        self.aggregator = aggregator
        self.batches_written = 0
        self._stores: dict[int, MetricsStore] = {}
        self._lock = asyncio.Lock()
        self._log = FailureLog("metrics flush")

    def store(self, storage: Storage) -> MetricsStore:
        """The metrics store of ``storage`` (one per storage object)."""
        store = self._stores.get(id(storage))
        if store is None:
            store = self._stores[id(storage)] = store_for(storage)
        return store

    async def __call__(self, storage: Storage) -> None:
        """Flush; a storage failure is logged once per episode and retried next time."""
        async with self._lock:
            for _ in range(MAX_BATCHES_PER_CALL):
                batch = self.aggregator.collect()
                if batch is None:
                    return
                try:
                    await self.store(storage).write(batch)
                except StorageError as exc:
                    self._log.failed(exc)
                    return
                self._log.succeeded()
                self.aggregator.written(batch)
                self.batches_written += 1
