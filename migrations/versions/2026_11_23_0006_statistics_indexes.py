"""Indexes for the processing-time statistics: appeals received in a period, and the decisions
of a period in the history.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 22:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_appeal_received_on", "appeal", ["received_on"], unique=False)
    op.create_index(
        "ix_appeal_history_decided_occurred_at",
        "appeal_history",
        ["occurred_at", "appeal_id"],
        unique=False,
        postgresql_where=sa.text("to_status = 'decided'"),
    )


def downgrade() -> None:
    op.drop_index(
        "ix_appeal_history_decided_occurred_at",
        table_name="appeal_history",
        postgresql_where=sa.text("to_status = 'decided'"),
    )
    op.drop_index("ix_appeal_received_on", table_name="appeal")
