"""Per-route request metrics: in-process rollups, flushed by the writer, read by the dashboard.

Every request is counted (``MetricsAggregator.record``, no I/O); the worker's periodic job
writes per-minute and per-hour rollups into a table beside the logs. Error rate means the
share of 5xx responses; 4xx responses are counted and shown separately.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from fastapi_flare.metrics.aggregator import MetricsAggregator
from fastapi_flare.metrics.job import MetricsFlushJob
from fastapi_flare.metrics.store import MetricsDatabase, metrics_extension

if TYPE_CHECKING:
    from fastapi_flare.runtime import FlareRuntime

__all__ = ["MetricsAggregator", "MetricsFlushJob", "install_metrics"]

logger = logging.getLogger("fastapi_flare")


def install_metrics(runtime: FlareRuntime) -> MetricsAggregator | None:
    """Count every request of ``runtime``'s app and flush the rollups with its worker.

    Must run before the storage opens (``setup()`` does): the metrics table is created
    with the storage's own schema. None when the storage cannot hold the table.
    """
    config = runtime.config
    storage = runtime.storage
    if not isinstance(storage, MetricsDatabase):
        logger.warning("fastapi_flare metrics disabled: %s has no extension tables", storage)
        return None
    storage.add_extension(metrics_extension(config.metrics_retention_days))
    aggregator = MetricsAggregator(config.metrics_max_routes)
    runtime.metrics = aggregator
    runtime.worker.periodic_jobs.append(MetricsFlushJob(aggregator))
    return aggregator
