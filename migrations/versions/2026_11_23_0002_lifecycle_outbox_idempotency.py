"""The appeal lifecycle (NAV outcome, preliminary replies, history actions), the outbox of
events, stored idempotent responses, and one index per list filter.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 18:32:32.340962
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "idempotency_key",
        sa.Column("organisation", sa.String(length=20), nullable=False),
        sa.Column("request_target", sa.String(length=300), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("response_status", sa.Integer(), nullable=False),
        sa.Column("response_headers", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("response_body", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint(
            "organisation", "request_target", "key", name=op.f("pk_idempotency_key")
        ),
    )
    op.create_index(
        "ix_idempotency_key_expires_at", "idempotency_key", ["expires_at"], unique=False
    )
    op.create_table(
        "event",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column(
            "transaction_id",
            sa.BigInteger(),
            server_default=sa.text("(pg_current_xact_id()::text)::bigint"),
            nullable=False,
        ),
        sa.Column("type", sa.String(length=60), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("appeal_id", sa.Uuid(), nullable=False),
        sa.Column("nav_office_unit_number", sa.String(length=4), nullable=False),
        sa.Column("statsforvalter_office_id", sa.String(length=64), nullable=False),
        sa.Column("statsforvalter_visible", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=40), nullable=False),
        sa.Column(
            "data",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["appeal_id"], ["appeal.id"], name=op.f("fk_event_appeal_id_appeal"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event")),
        sa.UniqueConstraint("event_id", name=op.f("uq_event_event_id")),
    )
    op.create_index(op.f("ix_event_appeal_id"), "event", ["appeal_id"], unique=False)
    op.create_index("ix_event_transaction_id_id", "event", ["transaction_id", "id"], unique=False)
    op.add_column(
        "appeal",
        sa.Column(
            "status_changed_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
    )
    op.add_column(
        "appeal",
        sa.Column(
            "nav_outcome",
            sa.Enum(
                "full_reversal",
                "partial_reversal",
                "upheld",
                "dismissed",
                name="nav_outcome",
                native_enum=False,
                create_constraint=True,
                length=40,
            ),
            nullable=True,
        ),
    )
    op.add_column("appeal", sa.Column("nav_outcome_on", sa.Date(), nullable=True))
    op.add_column("appeal", sa.Column("nav_reasoning", sa.Text(), nullable=True))
    op.add_column("appeal", sa.Column("expected_decision_on", sa.Date(), nullable=True))
    op.execute("UPDATE appeal SET status_changed_at = created_at")
    op.drop_index(op.f("ix_appeal_statsforvalter_office_id"), table_name="appeal")
    op.create_index(
        "ix_appeal_late_updated_at",
        "appeal",
        ["updated_at", "id"],
        unique=False,
        postgresql_where=sa.text("late"),
    )
    op.create_index(
        "ix_appeal_nav_office_updated_at",
        "appeal",
        ["nav_office_unit_number", "updated_at", "id"],
        unique=False,
    )
    op.create_index(
        "ix_appeal_sf_office_updated_at",
        "appeal",
        ["statsforvalter_office_id", "updated_at", "id"],
        unique=False,
    )
    op.create_index("ix_appeal_updated_at", "appeal", ["updated_at", "id"], unique=False)
    # Rows written before this revision were all registrations.
    op.add_column(
        "appeal_history",
        sa.Column("action", sa.String(length=40), server_default="register", nullable=False),
    )
    op.alter_column("appeal_history", "action", server_default=None)
    op.add_column(
        "appeal_history",
        sa.Column(
            "details",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
    )


def downgrade() -> None:
    op.drop_column("appeal_history", "details")
    op.drop_column("appeal_history", "action")
    op.drop_index("ix_appeal_updated_at", table_name="appeal")
    op.drop_index("ix_appeal_sf_office_updated_at", table_name="appeal")
    op.drop_index("ix_appeal_nav_office_updated_at", table_name="appeal")
    op.drop_index(
        "ix_appeal_late_updated_at", table_name="appeal", postgresql_where=sa.text("late")
    )
    op.create_index(
        op.f("ix_appeal_statsforvalter_office_id"),
        "appeal",
        ["statsforvalter_office_id"],
        unique=False,
    )
    op.drop_column("appeal", "expected_decision_on")
    op.drop_column("appeal", "nav_reasoning")
    op.drop_column("appeal", "nav_outcome_on")
    op.drop_column("appeal", "nav_outcome")
    op.drop_column("appeal", "status_changed_at")
    op.drop_index("ix_event_transaction_id_id", table_name="event")
    op.drop_index(op.f("ix_event_appeal_id"), table_name="event")
    op.drop_table("event")
    op.drop_index("ix_idempotency_key_expires_at", table_name="idempotency_key")
    op.drop_table("idempotency_key")
