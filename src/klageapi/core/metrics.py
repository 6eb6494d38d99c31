"""Prometheus metrics: requests by route template, latency, the database pool, webhook attempts,
token refusals, JWKS fetch failures and the process itself.

One process keeps its metrics in memory, in a registry of its own (so test apps do not
collide). `klageapi serve --workers N` runs N processes behind one port, and a scrape reaches
one of them: there `PROMETHEUS_MULTIPROC_DIR` is set (by `serve`, before the workers start),
every process writes its counters and gauges to files in that folder, and whichever process is
scraped adds up all of them (prometheus_client's multiprocess mode), with each live worker's
process metrics under its `pid` label."""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from prometheus_client import multiprocess as _multiprocess
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = ["MULTIPROCESS_DIR_VARIABLE", "Metrics", "multiprocess_dir"]

MULTIPROCESS_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"

_POOL_GAUGES = (
    ("klageapi_db_pool_size", "Connections the pool keeps open", "size"),
    ("klageapi_db_pool_checked_out", "Connections in use", "checkedout"),
    ("klageapi_db_pool_overflow", "Connections open beyond the pool size", "overflow"),
)
_PID_IN_FILE_NAME = re.compile(r"_(\d+)\.db$")


def multiprocess_dir() -> Path | None:
    """The folder the processes of one `serve` share their metrics in, when there is one."""
    folder = os.environ.get(MULTIPROCESS_DIR_VARIABLE)
    return Path(folder) if folder else None


def _pool_reading(engine: AsyncEngine, read: str) -> float | None:
    method = getattr(engine.sync_engine.pool, read, None)
    if not callable(method):
        return None
    value = float(method())
    # QueuePool counts its overflow from minus the pool size while the pool fills; the gauge
    # means connections beyond the pool size, never fewer than none.
    return max(value, 0.0) if read == "overflow" else value


class _PoolCollector(Collector):
    """The pool as it is at the scrape (one process)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    def collect(self) -> Iterator[GaugeMetricFamily]:
        for name, help_text, read in _POOL_GAUGES:
            value = _pool_reading(self._engine, read)
            if value is not None:
                yield GaugeMetricFamily(name, help_text, value=value)


class _WorkerProcesses(Collector):
    """process_* of every live process that writes to the shared folder, labelled `pid`."""

    def __init__(self, folder: Path) -> None:
        self._folder = folder

    def pids(self) -> list[int]:
        pids = {
            int(match.group(1))
            for path in self._folder.glob("*.db")
            if (match := _PID_IN_FILE_NAME.search(path.name))
        }
        return sorted(pid for pid in pids if _alive(pid))

    def collect(self) -> Iterator[Metric]:
        families: dict[str, Metric] = {}
        for pid in self.pids():
            for family in ProcessCollector(pid=_constant(pid), registry=None).collect():
                merged = families.setdefault(
                    family.name, Metric(family.name, family.documentation, family.type)
                )
                for sample in family.samples:
                    merged.add_sample(sample.name, {"pid": str(pid)}, sample.value)
        yield from families.values()


def _constant(pid: int) -> Callable[[], int]:
    return lambda: pid


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Metrics:
    """The process's metrics."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._folder = multiprocess_dir()
        self._engines: list[AsyncEngine] = []
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
        self.token_refusals = Counter(
            "klageapi_token_refusals",
            "Requests refused for their bearer token, by reason",
            ["reason"],
            registry=self.registry,
        )
        self.jwks_fetch_failures = Counter(
            "klageapi_jwks_fetch_failures",
            "Fetches of an issuer's JWKS that failed (no answer, not 2xx, not a key set)",
            ["issuer"],
            registry=self.registry,
        )
        if self._folder is None:
            ProcessCollector(registry=self.registry)
            self._pool_gauges: dict[str, Gauge] = {}
        else:
            # Each process sets its own pool's figures; a scrape shows their sum over the
            # processes alive.
            self._pool_gauges = {
                read: Gauge(name, help_text, registry=self.registry, multiprocess_mode="livesum")
                for name, help_text, read in _POOL_GAUGES
            }

    @property
    def multiprocess(self) -> bool:
        return self._folder is not None

    def observe(self, *, route: str, method: str, status: int, seconds: float) -> None:
        self.requests.labels(route, method, str(status)).inc()
        self.latency.labels(route, method).observe(seconds)
        if self._pool_gauges:
            self.sample_pools()

    def observe_webhook(self, *, delivered: bool, seconds: float) -> None:
        self.webhook_attempts.labels("delivered" if delivered else "failed").inc()
        self.webhook_latency.observe(seconds)

    def refuse_token(self, reason: str) -> None:
        self.token_refusals.labels(reason).inc()

    def jwks_fetch_failed(self, issuer: str) -> None:
        self.jwks_fetch_failures.labels(issuer).inc()

    def watch_pool(self, engine: AsyncEngine) -> None:
        if self._pool_gauges:
            self._engines.append(engine)
            self.sample_pools()
        else:
            self.registry.register(_PoolCollector(engine))

    def sample_pools(self) -> None:
        """Write this process's pool figures for the other processes' scrapes (multiprocess
        mode: after every request, and every few seconds while idle)."""
        for read, gauge in self._pool_gauges.items():
            values = [_pool_reading(engine, read) for engine in self._engines]
            gauge.set(sum(value for value in values if value is not None))

    async def sample_pools_forever(self, seconds: float = 5.0) -> None:
        while True:
            self.sample_pools()
            await asyncio.sleep(seconds)

    def exposition(self, extra: Iterable[Metric] = ()) -> bytes:
        """The text a scrape gets: this process's metrics (all processes' in multiprocess
        mode) and `extra`, figures read for this scrape."""
        registry = CollectorRegistry()
        if self._folder is None:
            registry.register(_Chain([self.registry]))
        else:
            workers = _WorkerProcesses(self._folder)
            for pid in _dead_writers(self._folder):
                _multiprocess.mark_process_dead(pid, str(self._folder))  # type: ignore[no-untyped-call]
            _multiprocess.MultiProcessCollector(registry, path=str(self._folder))  # type: ignore[no-untyped-call]
            registry.register(workers)
        registry.register(_Chain([], extra=list(extra)))
        return generate_latest(registry)


def _dead_writers(folder: Path) -> set[int]:
    """Processes that wrote live gauges and are gone (a worker killed or restarted): their
    pool figures leave the sum."""
    pids = {
        int(match.group(1))
        for path in folder.glob("gauge_live*.db")
        if (match := _PID_IN_FILE_NAME.search(path.name))
    }
    return {pid for pid in pids if not _alive(pid)}


class _Chain(Collector):
    def __init__(
        self, registries: list[CollectorRegistry], *, extra: Iterable[Metric] = ()
    ) -> None:
        self._registries = registries
        self._extra = list(extra)

    def collect(self) -> Iterator[Metric]:
        for registry in self._registries:
            yield from registry.collect()
        yield from self._extra
