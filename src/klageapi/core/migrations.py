"""Applying and inspecting the Alembic migrations from inside klageapi."""

from __future__ import annotations

import functools
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = ["alembic_config", "downgrade", "head_revision", "upgrade_to_head"]

_PACKAGE_DIR = Path(__file__).resolve().parent.parent


def _script_location() -> Path:
    # A wheel carries the migrations inside the package; a source checkout has them at the top.
    for candidate in (_PACKAGE_DIR / "migrations", _PACKAGE_DIR.parent.parent / "migrations"):
        if (candidate / "env.py").is_file():
            return candidate
    raise FileNotFoundError("klageapi's migrations folder was not found")


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config for the shipped migrations, optionally bound to an open connection."""
    config = Config()
    config.set_main_option("script_location", str(_script_location()))
    config.attributes["configure_logging"] = False
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@functools.cache
def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError("no migrations found")
    return head


async def upgrade_to_head(engine: AsyncEngine) -> None:
    """Migrate the database to the newest revision, under a lock so concurrent starts take turns."""
    async with engine.begin() as connection:
        await connection.exec_driver_sql("SELECT pg_advisory_xact_lock(7312001)")
        await connection.run_sync(lambda sync: command.upgrade(alembic_config(sync), "head"))


async def downgrade(engine: AsyncEngine, revision: str) -> None:
    async with engine.begin() as connection:
        await connection.run_sync(lambda sync: command.downgrade(alembic_config(sync), revision))
