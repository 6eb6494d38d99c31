"""Blobs marked for removal once no document has them (document.removal): written with the
erasure that freed them, so a crash before the store's delete leaves the mark for the next round,
and read by an upload of the same bytes, which is refused while the mark exists.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-03 17:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "blob_removal",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("marked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("sha256 ~ '^[0-9a-f]{64}$'", name=op.f("ck_blob_removal_sha256_format")),
        sa.PrimaryKeyConstraint("sha256", name=op.f("pk_blob_removal")),
    )


def downgrade() -> None:
    # A blob still marked stays in the store unreferenced, as one did before this table.
    op.drop_table("blob_removal")
