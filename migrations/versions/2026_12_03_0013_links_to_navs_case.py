"""Links to nav.no's case: the Digisos case id (indexed: the citizen's list filters by it),
NAV's own appeal id, and the further decisions an appeal concerns.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("appeal", sa.Column("digisos_case_id", sa.String(64), nullable=True))
    op.add_column("appeal", sa.Column("nav_appeal_id", sa.String(64), nullable=True))
    op.add_column(
        "appeal",
        sa.Column(
            "other_decisions",
            postgresql.JSONB(),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
    )
    op.create_index("ix_appeal_digisos_case_id", "appeal", ["digisos_case_id"])


def downgrade() -> None:
    op.drop_index("ix_appeal_digisos_case_id", table_name="appeal")
    op.drop_column("appeal", "other_decisions")
    op.drop_column("appeal", "nav_appeal_id")
    op.drop_column("appeal", "digisos_case_id")
