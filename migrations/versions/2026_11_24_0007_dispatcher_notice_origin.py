"""The dispatcher's NOTIFY carries who caused it (the transaction setting
klageapi.notify_origin), so a dispatcher is not woken by the deliveries it fanned out itself.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24 00:10:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FUNCTION = (
    "CREATE OR REPLACE FUNCTION klageapi_notify_dispatcher() RETURNS trigger LANGUAGE plpgsql AS"
    " $$ BEGIN PERFORM pg_notify('klageapi_dispatcher', {payload}); RETURN NULL; END $$"
)


def upgrade() -> None:
    op.execute(
        _FUNCTION.format(payload="coalesce(current_setting('klageapi.notify_origin', true), '')")
    )


def downgrade() -> None:
    op.execute(_FUNCTION.format(payload="''"))
