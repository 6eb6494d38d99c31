"""Idempotency keys are claimed by a committed row (state in_flight, with an expiry) instead of
an advisory lock held in the request's transaction, so no connection is held while a request
waits on its client or a remote server; the answer fills the same row.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 14:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "idempotency_key",
        sa.Column(
            "state",
            sa.Enum(
                "in_flight",
                "completed",
                name="idempotency_state",
                native_enum=False,
                create_constraint=True,
                length=40,
            ),
            server_default="completed",
            nullable=False,
        ),
    )
    op.add_column("idempotency_key", sa.Column("claim_token", sa.Uuid(), nullable=True))
    for column in ("response_status", "response_headers", "response_body"):
        op.alter_column("idempotency_key", column, nullable=True)


def downgrade() -> None:
    # Claims in flight have no answer to keep: the old table held answers only.
    op.execute("DELETE FROM idempotency_key WHERE state = 'in_flight'")
    for column in ("response_status", "response_headers", "response_body"):
        op.alter_column("idempotency_key", column, nullable=False)
    op.drop_column("idempotency_key", "claim_token")
    op.drop_column("idempotency_key", "state")
