"""The triggers the code relies on (`models.TRIGGERS`) are in a database built by the migrations,
each on its table, calling its function, and that function still writes the columns it keeps."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from klageapi.models import MILESTONES, TRIGGERS, Trigger

_INSTALLED = text(
    """
    SELECT t.tgname, c.relname, p.proname, pg_get_functiondef(p.oid)
    FROM pg_trigger AS t
    JOIN pg_class AS c ON c.oid = t.tgrelid
    JOIN pg_proc AS p ON p.oid = t.tgfoid
    WHERE NOT t.tgisinternal
    """
)


async def _missing(connection: AsyncConnection) -> list[str]:
    """What of `TRIGGERS` the database lacks, in words; empty when every one is there."""
    installed = {
        name: (table, function, definition)
        for name, table, function, definition in (await connection.execute(_INSTALLED)).all()
    }
    missing = []
    for trigger in TRIGGERS:
        found = installed.get(trigger.name)
        if found is None:
            missing.append(f"{trigger.name} on {trigger.table} does not exist")
            continue
        table, function, definition = found
        if (table, function) != (trigger.table, trigger.function):
            missing.append(f"{trigger.name} is on {table} calling {function}()")
        missing += [
            f"{trigger.function}() no longer writes {kept}"
            for kept in trigger.keeps
            if kept.split(".")[1] not in definition
        ]
    return missing


async def test_every_trigger_the_code_relies_on_is_in_the_migrated_database(
    connection: AsyncConnection,
) -> None:
    assert len(TRIGGERS) >= 4
    assert await _missing(connection) == []


async def test_a_migration_that_drops_a_trigger_is_noticed(connection: AsyncConnection) -> None:
    # In the test's transaction, rolled back afterwards.
    await connection.execute(text("DROP TRIGGER appeal_history_milestones ON appeal_history"))

    assert await _missing(connection) == [
        "appeal_history_milestones on appeal_history does not exist"
    ]


async def test_a_function_that_stops_keeping_a_column_is_noticed(
    connection: AsyncConnection,
) -> None:
    keeping_less = (
        "CREATE OR REPLACE FUNCTION klageapi_appeal_milestones() RETURNS trigger"
        " LANGUAGE plpgsql AS $$ BEGIN"
        " UPDATE appeal SET last_step_at = NEW.occurred_at WHERE id = NEW.appeal_id;"
        " RETURN NULL; END $$"
    )
    await connection.execute(text(keeping_less))

    missing = await _missing(connection)

    assert missing == [
        f"{MILESTONES.function}() no longer writes {kept}"
        for kept in MILESTONES.keeps
        if kept != "appeal.last_step_at"
    ]


def test_each_trigger_says_why() -> None:
    unexplained = [trigger.name for trigger in TRIGGERS if len(trigger.why) < 40]
    assert isinstance(TRIGGERS[0], Trigger)
    assert not unexplained
