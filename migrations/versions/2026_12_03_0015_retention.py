"""Retention: an appeal's personal data can be erased (the national id becomes NULL), when that
was done, and an index for the job that looks for finished appeals past the period.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03 14:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Fails the check digits, so it matches no citizen: what an erased id becomes on the way down.
_ERASED_PLACEHOLDER = "00000000000"


def upgrade() -> None:
    op.alter_column("appeal", "national_id", existing_type=sa.String(11), nullable=True)
    op.add_column(
        "appeal", sa.Column("personal_data_erased_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.create_index(
        "ix_appeal_retention_due",
        "appeal",
        ["status_changed_at"],
        postgresql_where=sa.text(
            "personal_data_erased_at IS NULL"
            " AND status IN ('decided', 'closed_by_nav', 'withdrawn')"
        ),
    )


def downgrade() -> None:
    op.drop_index("ix_appeal_retention_due", table_name="appeal")
    op.drop_column("appeal", "personal_data_erased_at")
    # An erased id cannot come back.
    op.execute(
        sa.text(
            "UPDATE appeal SET national_id = :placeholder WHERE national_id IS NULL"
        ).bindparams(placeholder=_ERASED_PLACEHOLDER)
    )
    op.alter_column("appeal", "national_id", existing_type=sa.String(11), nullable=False)
