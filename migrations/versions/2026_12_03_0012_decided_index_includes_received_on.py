"""The statistics' index of decided appeals also holds `received_on`: the citizen's whole wait
is counted from NAV's receipt, and the figures stay an index-only scan.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 11:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INCLUDED = [
    "statsforvalter_office_id",
    "nav_office_unit_number",
    "municipality_number",
    "channel",
    "forwarded_at",
    "statsforvalter_outcome",
    "registered_at",
    "last_forwarded_at",
    "statsforvalter_received_at",
    "statsforvalter_review_started_at",
    "documentation_wait_seconds",
]


def _index(included: list[str]) -> None:
    op.drop_index("ix_appeal_decided_at", table_name="appeal")
    op.create_index(
        "ix_appeal_decided_at",
        "appeal",
        ["decided_at"],
        unique=False,
        postgresql_include=included,
        postgresql_where=sa.text("decided_at IS NOT NULL"),
    )


def upgrade() -> None:
    _index([*_INCLUDED, "received_on"])


def downgrade() -> None:
    _index(_INCLUDED)
