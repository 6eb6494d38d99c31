"""Registry, appeals with their history, and the append-only audit log.

Revision ID: 0001
Revises:
Create Date: 2026-11-23 17:55:10.317510
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_organisation", sa.String(length=20), nullable=True),
        sa.Column("actor_supplier", sa.String(length=20), nullable=True),
        sa.Column("actor_kind", sa.String(length=20), nullable=False),
        sa.Column("action", sa.String(length=60), nullable=False),
        sa.Column("appeal_id", sa.Uuid(), nullable=True),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index("ix_audit_log_appeal_id_id", "audit_log", ["appeal_id", "id"], unique=False)
    op.create_table(
        "nav_office",
        sa.Column("unit_number", sa.String(length=4), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("organisation_number", sa.String(length=9), nullable=False),
        sa.Column(
            "municipality_numbers",
            sa.ARRAY(sa.String(length=4)),
            server_default="{}",
            nullable=False,
        ),
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
        sa.CheckConstraint(
            "unit_number ~ '^[0-9]{4}$'", name=op.f("ck_nav_office_unit_number_format")
        ),
        sa.PrimaryKeyConstraint("unit_number", name=op.f("pk_nav_office")),
    )
    op.create_index(
        op.f("ix_nav_office_organisation_number"),
        "nav_office",
        ["organisation_number"],
        unique=False,
    )
    op.create_table(
        "statsforvalter_office",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("organisation_number", sa.String(length=9), nullable=True),
        sa.Column(
            "agent_organisation_numbers",
            sa.ARRAY(sa.String(length=9)),
            server_default="{}",
            nullable=False,
        ),
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
        sa.CheckConstraint(
            "id ~ '^[a-z0-9-]{2,64}$'", name=op.f("ck_statsforvalter_office_id_format")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_statsforvalter_office")),
    )
    op.create_index(
        op.f("ix_statsforvalter_office_organisation_number"),
        "statsforvalter_office",
        ["organisation_number"],
        unique=False,
    )
    op.create_table(
        "appeal",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("nav_office_unit_number", sa.String(length=4), nullable=False),
        sa.Column("municipality_number", sa.String(length=4), nullable=False),
        sa.Column("statsforvalter_office_id", sa.String(length=64), nullable=False),
        sa.Column("national_id", sa.String(length=11), nullable=False),
        sa.Column("decision_reference", sa.Text(), nullable=False),
        sa.Column("decision_decided_on", sa.Date(), nullable=False),
        sa.Column("decision_notified_on", sa.Date(), nullable=False),
        sa.Column("received_on", sa.Date(), nullable=False),
        sa.Column(
            "channel",
            sa.Enum(
                "digital",
                "paper",
                name="channel",
                native_enum=False,
                create_constraint=True,
                length=40,
            ),
            nullable=False,
        ),
        sa.Column("grounds", sa.Text(), nullable=False),
        sa.Column("external_reference", sa.String(length=200), nullable=False),
        sa.Column("appeal_deadline_on", sa.Date(), nullable=False),
        sa.Column("late", sa.Boolean(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "received",
                "under_nav_review",
                "closed_by_nav",
                "forwarded",
                "received_by_statsforvalter",
                "under_statsforvalter_review",
                "awaiting_documentation",
                "decided",
                "withdrawn",
                name="appeal_status",
                native_enum=False,
                create_constraint=True,
                length=40,
            ),
            nullable=False,
        ),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("forwarded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("registration_digest", sa.String(length=64), nullable=False),
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
        sa.CheckConstraint(
            "municipality_number ~ '^[0-9]{4}$'", name=op.f("ck_appeal_municipality_number_format")
        ),
        sa.CheckConstraint(
            "national_id ~ '^[0-9]{11}$'", name=op.f("ck_appeal_national_id_format")
        ),
        sa.CheckConstraint("version >= 1", name=op.f("ck_appeal_version_positive")),
        sa.ForeignKeyConstraint(
            ["nav_office_unit_number"],
            ["nav_office.unit_number"],
            name=op.f("fk_appeal_nav_office_unit_number_nav_office"),
        ),
        sa.ForeignKeyConstraint(
            ["statsforvalter_office_id"],
            ["statsforvalter_office.id"],
            name=op.f("fk_appeal_statsforvalter_office_id_statsforvalter_office"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_appeal")),
        sa.UniqueConstraint(
            "nav_office_unit_number",
            "external_reference",
            name=op.f("uq_appeal_nav_office_unit_number_external_reference"),
        ),
    )
    op.create_index(op.f("ix_appeal_national_id"), "appeal", ["national_id"], unique=False)
    op.create_index(
        op.f("ix_appeal_statsforvalter_office_id"),
        "appeal",
        ["statsforvalter_office_id"],
        unique=False,
    )
    op.create_index(
        "ix_appeal_status_updated_at", "appeal", ["status", "updated_at", "id"], unique=False
    )
    op.create_table(
        "county_route",
        sa.Column("county", sa.String(length=2), nullable=False),
        sa.Column("statsforvalter_office_id", sa.String(length=64), nullable=False),
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
        sa.CheckConstraint("county ~ '^[0-9]{2}$'", name=op.f("ck_county_route_county_format")),
        sa.ForeignKeyConstraint(
            ["statsforvalter_office_id"],
            ["statsforvalter_office.id"],
            name=op.f("fk_county_route_statsforvalter_office_id_statsforvalter_office"),
        ),
        sa.PrimaryKeyConstraint("county", name=op.f("pk_county_route")),
    )
    op.create_index(
        op.f("ix_county_route_statsforvalter_office_id"),
        "county_route",
        ["statsforvalter_office_id"],
        unique=False,
    )
    op.create_table(
        "appeal_history",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("appeal_id", sa.Uuid(), nullable=False),
        sa.Column(
            "from_status",
            sa.Enum(
                "received",
                "under_nav_review",
                "closed_by_nav",
                "forwarded",
                "received_by_statsforvalter",
                "under_statsforvalter_review",
                "awaiting_documentation",
                "decided",
                "withdrawn",
                name="from_status",
                native_enum=False,
                create_constraint=True,
                length=40,
            ),
            nullable=True,
        ),
        sa.Column(
            "to_status",
            sa.Enum(
                "received",
                "under_nav_review",
                "closed_by_nav",
                "forwarded",
                "received_by_statsforvalter",
                "under_statsforvalter_review",
                "awaiting_documentation",
                "decided",
                "withdrawn",
                name="to_status",
                native_enum=False,
                create_constraint=True,
                length=40,
            ),
            nullable=False,
        ),
        sa.Column("actor_organisation", sa.String(length=20), nullable=False),
        sa.Column("actor_supplier", sa.String(length=20), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["appeal_id"],
            ["appeal.id"],
            name=op.f("fk_appeal_history_appeal_id_appeal"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_appeal_history")),
    )
    op.create_index(
        "ix_appeal_history_appeal_id_id", "appeal_history", ["appeal_id", "id"], unique=False
    )

    # The audit log is evidence: no row may be changed or removed once written.
    op.execute(
        """
        CREATE FUNCTION audit_log_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'audit_log is append-only' USING ERRCODE = 'insufficient_privilege';
        END;
        $$
        """
    )
    op.execute(
        "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_log "
        "FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER audit_log_append_only ON audit_log")
    op.execute("DROP FUNCTION audit_log_refuse_change()")
    op.drop_index("ix_appeal_history_appeal_id_id", table_name="appeal_history")
    op.drop_table("appeal_history")
    op.drop_index(op.f("ix_county_route_statsforvalter_office_id"), table_name="county_route")
    op.drop_table("county_route")
    op.drop_index("ix_appeal_status_updated_at", table_name="appeal")
    op.drop_index(op.f("ix_appeal_statsforvalter_office_id"), table_name="appeal")
    op.drop_index(op.f("ix_appeal_national_id"), table_name="appeal")
    op.drop_table("appeal")
    op.drop_index(
        op.f("ix_statsforvalter_office_organisation_number"), table_name="statsforvalter_office"
    )
    op.drop_table("statsforvalter_office")
    op.drop_index(op.f("ix_nav_office_organisation_number"), table_name="nav_office")
    op.drop_table("nav_office")
    op.drop_index("ix_audit_log_appeal_id_id", table_name="audit_log")
    op.drop_table("audit_log")
