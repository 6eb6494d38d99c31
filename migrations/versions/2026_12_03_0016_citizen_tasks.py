"""The citizen's tasks: a document the citizen sends unasked carries the sender's own id,
unique per appeal, so sending it again is the same document.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03 14:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("document", sa.Column("sender_reference", sa.String(100), nullable=True))
    op.create_index(
        "uq_document_appeal_id_sender_reference",
        "document",
        ["appeal_id", "sender_reference"],
        unique=True,
        postgresql_where=sa.text("sender_reference IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("uq_document_appeal_id_sender_reference", table_name="document")
    op.drop_column("document", "sender_reference")
