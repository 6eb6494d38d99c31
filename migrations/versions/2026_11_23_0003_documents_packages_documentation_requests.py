"""Documents (bytes in blob storage), frozen case packages with their documents, documentation
requests, and the Statsforvalter's receipt and decision on the appeal.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 18:54:29.020256
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "document",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("appeal_id", sa.Uuid(), nullable=False),
        sa.Column(
            "category",
            sa.Enum(
                "appeal",
                "decision",
                "forwarding_letter",
                "citizen_comment",
                "supporting_document",
                "documentation_response",
                "statsforvalter_decision",
                "correspondence",
                name="document_category",
                native_enum=False,
                create_constraint=True,
                length=40,
            ),
            nullable=False,
        ),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("file_name", sa.String(length=255), nullable=True),
        sa.Column("media_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("crc32", sa.BigInteger(), nullable=False),
        sa.Column("uploaded_by_organisation", sa.String(length=20), nullable=False),
        sa.Column("uploaded_by_supplier", sa.String(length=20), nullable=True),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("sha256 ~ '^[0-9a-f]{64}$'", name=op.f("ck_document_sha256_format")),
        sa.CheckConstraint("size > 0", name=op.f("ck_document_size_positive")),
        sa.ForeignKeyConstraint(
            ["appeal_id"],
            ["appeal.id"],
            name=op.f("fk_document_appeal_id_appeal"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_document")),
    )
    op.create_index(
        "ix_document_appeal_id_uploaded_at",
        "document",
        ["appeal_id", "uploaded_at", "id"],
        unique=False,
    )
    op.create_index(op.f("ix_document_sha256"), "document", ["sha256"], unique=False)
    op.create_table(
        "documentation_request",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("appeal_id", sa.Uuid(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column(
            "categories",
            postgresql.ARRAY(sa.String(length=40)),
            server_default="{}",
            nullable=False,
        ),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "open",
                "fulfilled",
                "cancelled",
                name="documentation_request_status",
                native_enum=False,
                create_constraint=True,
                length=40,
            ),
            nullable=False,
        ),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("requested_by_organisation", sa.String(length=20), nullable=False),
        sa.Column("fulfilled_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["appeal_id"],
            ["appeal.id"],
            name=op.f("fk_documentation_request_appeal_id_appeal"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_documentation_request")),
    )
    op.create_index(
        "ix_documentation_request_appeal_id",
        "documentation_request",
        ["appeal_id", "requested_at"],
        unique=False,
    )
    op.create_table(
        "case_package",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("appeal_id", sa.Uuid(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "initial",
                "supplementary",
                name="package_kind",
                native_enum=False,
                create_constraint=True,
                length=40,
            ),
            nullable=False,
        ),
        sa.Column(
            "status",
            sa.Enum(
                "awaiting_receipt",
                "received",
                "rejected",
                name="package_status",
                native_enum=False,
                create_constraint=True,
                length=40,
            ),
            nullable=False,
        ),
        sa.Column("statsforvalter_office_id", sa.String(length=64), nullable=False),
        sa.Column("manifest", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("frozen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("documentation_request_id", sa.Uuid(), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("statsforvalter_case_number", sa.String(length=100), nullable=True),
        sa.Column("rejected_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rejection_reason", sa.String(length=20), nullable=True),
        sa.Column("rejection_description", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["appeal_id"],
            ["appeal.id"],
            name=op.f("fk_case_package_appeal_id_appeal"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["documentation_request_id"],
            ["documentation_request.id"],
            name=op.f("fk_case_package_documentation_request_id_documentation_request"),
        ),
        sa.ForeignKeyConstraint(
            ["statsforvalter_office_id"],
            ["statsforvalter_office.id"],
            name=op.f("fk_case_package_statsforvalter_office_id_statsforvalter_office"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_package")),
    )
    op.create_index(
        "ix_case_package_appeal_id", "case_package", ["appeal_id", "frozen_at"], unique=False
    )
    op.create_index(
        "ix_case_package_feed",
        "case_package",
        ["statsforvalter_office_id", "status", "frozen_at", "id"],
        unique=False,
    )
    op.create_table(
        "package_document",
        sa.Column("package_id", sa.Uuid(), nullable=False),
        sa.Column("document_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["document_id"], ["document.id"], name=op.f("fk_package_document_document_id_document")
        ),
        sa.ForeignKeyConstraint(
            ["package_id"],
            ["case_package.id"],
            name=op.f("fk_package_document_package_id_case_package"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("package_id", "document_id", name=op.f("pk_package_document")),
        sa.UniqueConstraint(
            "package_id", "position", name=op.f("uq_package_document_package_id_position")
        ),
    )
    op.add_column(
        "appeal", sa.Column("statsforvalter_case_number", sa.String(length=100), nullable=True)
    )
    op.add_column(
        "appeal",
        sa.Column(
            "statsforvalter_outcome",
            sa.Enum(
                "upheld",
                "new_decision",
                "annulled",
                "dismissed",
                name="statsforvalter_outcome",
                native_enum=False,
                create_constraint=True,
                length=40,
            ),
            nullable=True,
        ),
    )
    op.add_column("appeal", sa.Column("statsforvalter_decided_on", sa.Date(), nullable=True))
    op.add_column(
        "appeal", sa.Column("statsforvalter_decision_document_id", sa.Uuid(), nullable=True)
    )
    op.create_foreign_key(
        op.f("fk_appeal_statsforvalter_decision_document_id_document"),
        "appeal",
        "document",
        ["statsforvalter_decision_document_id"],
        ["id"],
    )


def downgrade() -> None:
    op.drop_constraint(
        op.f("fk_appeal_statsforvalter_decision_document_id_document"), "appeal", type_="foreignkey"
    )
    op.drop_column("appeal", "statsforvalter_decision_document_id")
    op.drop_column("appeal", "statsforvalter_decided_on")
    op.drop_column("appeal", "statsforvalter_outcome")
    op.drop_column("appeal", "statsforvalter_case_number")
    op.drop_table("package_document")
    op.drop_index("ix_case_package_feed", table_name="case_package")
    op.drop_index("ix_case_package_appeal_id", table_name="case_package")
    op.drop_table("case_package")
    op.drop_index("ix_documentation_request_appeal_id", table_name="documentation_request")
    op.drop_table("documentation_request")
    op.drop_index(op.f("ix_document_sha256"), table_name="document")
    op.drop_index("ix_document_appeal_id_uploaded_at", table_name="document")
    op.drop_table("document")
