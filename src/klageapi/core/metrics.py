"""Prometheus metrics: requests by route template, latency, the database pool, and webhook
attempts."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = ["Metrics"]


class _PoolCollector(Collector):
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    def collect(self) -> Iterator[GaugeMetricFamily]:
        pool = self._engine.sync_engine.pool
        for name, help_text, read in (
            ("klageapi_db_pool_size", "Connections the pool keeps", "size"),
            ("klageapi_db_pool_checked_out", "Connections in use", "checkedout"),
            ("klageapi_db_pool_overflow", "Connections beyond the pool size", "overflow"),
        ):
            method = getattr(pool, read, None)
            if callable(method):
                yield GaugeMetricFamily(name, help_text, value=float(method()))


class Metrics:
    """The process's metrics, in a registry of its own (so test apps do not collide)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "klageapi_http_requests",
            "HTTP requests by route template, method and status",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "klageapi_http_request_duration_seconds",
            "HTTP request latency by route template and method",
            ["route", "method"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )

        self.webhook_attempts = Counter(
            "klageapi_webhook_attempts",
            "Webhook delivery attempts sent by this process, by result",
            ["result"],
            registry=self.registry,
        )
        self.webhook_latency = Histogram(
            "klageapi_webhook_attempt_duration_seconds",
            "Time from sending a webhook to the receiver's answer",
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 15, 30),
            registry=self.registry,
        )

    def observe_webhook(self, *, delivered: bool, seconds: float) -> None:
        self.webhook_attempts.labels("delivered" if delivered else "failed").inc()
        self.webhook_latency.observe(seconds)

    def watch_pool(self, engine: AsyncEngine) -> None:
        self.registry.register(_PoolCollector(engine))

    def observe(self, *, route: str, method: str, status: int, seconds: float) -> None:
        self.requests.labels(route, method, str(status)).inc()
        self.latency.labels(route, method).observe(seconds)
