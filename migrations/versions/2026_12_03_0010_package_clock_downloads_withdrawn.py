"""Packages on one clock, their first download, and withdrawn as a final status.

- `recorded_at`: when klageapi was told a package was frozen; `frozen_at` is from now on the
  forwarding step's business time (its occurred_at), as the history and the statistics have
  it. Filled with `frozen_at` for the packages already there (which were frozen when told).
- `first_downloaded_at` / `first_downloaded_by`: the Statsforvalter's first download.
- Status `withdrawn`: a package awaiting receipt when its appeal was withdrawn or closed. The
  packages already in that position are marked so.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 10:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_STATUS_CHECK = "ck_case_package_package_status"
_STATUSES = ("awaiting_receipt", "received", "rejected")


def _status_check(statuses: Sequence[str]) -> None:
    listed = ", ".join(f"'{status}'" for status in statuses)
    op.create_check_constraint(op.f(_STATUS_CHECK), "case_package", f"status IN ({listed})")


def upgrade() -> None:
    op.add_column("case_package", sa.Column("recorded_at", sa.DateTime(timezone=True)))
    op.execute("UPDATE case_package SET recorded_at = frozen_at")
    op.alter_column("case_package", "recorded_at", nullable=False)
    op.add_column("case_package", sa.Column("first_downloaded_at", sa.DateTime(timezone=True)))
    op.add_column("case_package", sa.Column("first_downloaded_by", sa.String(20)))
    op.drop_constraint(op.f(_STATUS_CHECK), "case_package", type_="check")
    _status_check((*_STATUSES, "withdrawn"))
    op.execute(
        "UPDATE case_package SET status = 'withdrawn' FROM appeal"
        " WHERE appeal.id = case_package.appeal_id AND case_package.status = 'awaiting_receipt'"
        " AND appeal.status IN ('withdrawn', 'closed_by_nav', 'decided')"
    )


def downgrade() -> None:
    # A withdrawn package was one awaiting receipt of a closed appeal, as before this revision.
    op.execute("UPDATE case_package SET status = 'awaiting_receipt' WHERE status = 'withdrawn'")
    op.drop_constraint(op.f(_STATUS_CHECK), "case_package", type_="check")
    _status_check(_STATUSES)
    op.drop_column("case_package", "first_downloaded_by")
    op.drop_column("case_package", "first_downloaded_at")
    op.drop_column("case_package", "recorded_at")
