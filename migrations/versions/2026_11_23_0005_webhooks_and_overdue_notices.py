"""Webhook subscriptions, deliveries and attempts; the fan-out cursor into the event feed
(one row, starting before the first event); when an overdue package or documentation request
was announced, so the worker announces each once.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 21:20:47.499593
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "webhook_fanout_cursor",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("transaction_id", sa.BigInteger(), nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_fanout_cursor")),
    )
    op.create_table(
        "webhook_subscription",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organisation_number", sa.String(length=9), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("event_types", postgresql.ARRAY(sa.String(length=60)), nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column("enabled", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("previous_secret", sa.Text(), nullable=True),
        sa.Column("previous_secret_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failing_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("disabled_reason", sa.Text(), nullable=True),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_subscription")),
    )
    op.execute("INSERT INTO webhook_fanout_cursor (id, transaction_id, event_id) VALUES (1, 0, 0)")
    op.create_index(
        op.f("ix_webhook_subscription_organisation_number"),
        "webhook_subscription",
        ["organisation_number"],
        unique=False,
    )
    op.create_table(
        "webhook_delivery",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("sequence", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("subscription_id", sa.Uuid(), nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "reason",
            sa.Enum(
                "event",
                "redelivery",
                "replay",
                name="delivery_reason",
                native_enum=False,
                create_constraint=True,
                length=40,
            ),
            nullable=False,
        ),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "delivered",
                "failed",
                name="delivery_status",
                native_enum=False,
                create_constraint=True,
                length=40,
            ),
            nullable=False,
        ),
        sa.Column("attempt_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["event.id"],
            name=op.f("fk_webhook_delivery_event_id_event"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["webhook_subscription.id"],
            name=op.f("fk_webhook_delivery_subscription_id_webhook_subscription"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_delivery")),
        sa.UniqueConstraint("sequence", name=op.f("uq_webhook_delivery_sequence")),
    )
    op.create_index(
        op.f("ix_webhook_delivery_event_id"), "webhook_delivery", ["event_id"], unique=False
    )
    op.create_index(
        "ix_webhook_delivery_pending",
        "webhook_delivery",
        ["subscription_id", "sequence"],
        unique=False,
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index(
        "ix_webhook_delivery_subscription_id_sequence",
        "webhook_delivery",
        ["subscription_id", "sequence"],
        unique=False,
    )
    op.create_table(
        "webhook_attempt",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("delivery_id", sa.Uuid(), nullable=False),
        sa.Column("attempted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("response_excerpt", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["webhook_delivery.id"],
            name=op.f("fk_webhook_attempt_delivery_id_webhook_delivery"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_attempt")),
    )
    op.create_index(
        "ix_webhook_attempt_delivery_id", "webhook_attempt", ["delivery_id", "id"], unique=False
    )
    # Wakes the dispatchers at commit (NOTIFY is delivered then, and folded per transaction):
    # new events to fan out, or deliveries queued by hand.
    op.execute(
        "CREATE FUNCTION klageapi_notify_dispatcher() RETURNS trigger LANGUAGE plpgsql AS"
        " $$ BEGIN PERFORM pg_notify('klageapi_dispatcher', ''); RETURN NULL; END $$"
    )
    for table in ("event", "webhook_delivery"):
        op.execute(
            f"CREATE TRIGGER {table}_notify_dispatcher AFTER INSERT ON {table}"
            " FOR EACH STATEMENT EXECUTE FUNCTION klageapi_notify_dispatcher()"
        )
    op.add_column(
        "case_package", sa.Column("overdue_notified_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column(
        "documentation_request",
        sa.Column("overdue_notified_at", sa.DateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    for table in ("event", "webhook_delivery"):
        op.execute(f"DROP TRIGGER {table}_notify_dispatcher ON {table}")
    op.execute("DROP FUNCTION klageapi_notify_dispatcher()")
    op.drop_column("documentation_request", "overdue_notified_at")
    op.drop_column("case_package", "overdue_notified_at")
    op.drop_index("ix_webhook_attempt_delivery_id", table_name="webhook_attempt")
    op.drop_table("webhook_attempt")
    op.drop_index("ix_webhook_delivery_subscription_id_sequence", table_name="webhook_delivery")
    op.drop_index(
        "ix_webhook_delivery_pending",
        table_name="webhook_delivery",
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.drop_index(op.f("ix_webhook_delivery_event_id"), table_name="webhook_delivery")
    op.drop_table("webhook_delivery")
    op.drop_index(
        op.f("ix_webhook_subscription_organisation_number"), table_name="webhook_subscription"
    )
    op.drop_table("webhook_subscription")
    op.drop_table("webhook_fanout_cursor")
