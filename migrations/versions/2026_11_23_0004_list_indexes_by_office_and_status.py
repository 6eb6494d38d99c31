"""List indexes by office and status, so a page stays an index range at any table size
(found by bench/list.py: a generic plan walked a whole office's history to filter status).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 19:51:37.774839
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index(op.f("ix_appeal_late_updated_at"), table_name="appeal", postgresql_where="late")
    op.create_index(
        "ix_appeal_nav_office_late_updated_at",
        "appeal",
        ["nav_office_unit_number", "updated_at", "id"],
        unique=False,
        postgresql_where=sa.text("late"),
    )
    op.create_index(
        "ix_appeal_nav_office_status_updated_at",
        "appeal",
        ["nav_office_unit_number", "status", "updated_at", "id"],
        unique=False,
    )
    op.create_index(
        "ix_appeal_sf_office_status_updated_at",
        "appeal",
        ["statsforvalter_office_id", "status", "updated_at", "id"],
        unique=False,
        postgresql_where=sa.text("forwarded_at IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index(
        "ix_appeal_sf_office_status_updated_at",
        table_name="appeal",
        postgresql_where=sa.text("forwarded_at IS NOT NULL"),
    )
    op.drop_index("ix_appeal_nav_office_status_updated_at", table_name="appeal")
    op.drop_index(
        "ix_appeal_nav_office_late_updated_at",
        table_name="appeal",
        postgresql_where=sa.text("late"),
    )
    op.create_index(
        op.f("ix_appeal_late_updated_at"),
        "appeal",
        ["updated_at", "id"],
        unique=False,
        postgresql_where="late",
    )
