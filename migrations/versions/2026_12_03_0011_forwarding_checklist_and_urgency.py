"""The appeal body's checklist at forwarding: what the decision was about, urgency, and the
document categories the checklists ask for.

- `appeal.legal_basis` (the provision of sosialtjenesteloven the decision applied): the
  documents required at forwarding depend on it. Appeals already registered get
  `economic_assistance`, the default a registration without it gets.
- `urgent` and `urgent_reason` on the appeal (set when NAV forwards it) and on each package
  (copied when frozen); the pull feed serves urgent packages first, so its index leads with it.
- Document categories `application`, `journal_note`, `advance_notice`, `settlement_list`.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 11:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_LEGAL_BASES = (
    "economic_assistance",
    "special_circumstances",
    "conditions",
    "temporary_housing",
    "refund_claim",
)
_URGENT_REASONS = (
    "emergency_help",
    "eviction",
    "electricity_arrears",
    "temporary_housing",
    "other",
)
_CATEGORIES = (
    "appeal",
    "decision",
    "forwarding_letter",
    "citizen_comment",
    "supporting_document",
    "documentation_response",
    "statsforvalter_decision",
    "correspondence",
)
_NEW_CATEGORIES = ("application", "journal_note", "advance_notice", "settlement_list")


def _one_of(column: str, values: Sequence[str]) -> str:
    return f"{column} IN ({', '.join(repr(value) for value in values)})"


def _categories(values: Sequence[str]) -> None:
    op.drop_constraint(op.f("ck_document_document_category"), "document", type_="check")
    op.create_check_constraint(
        op.f("ck_document_document_category"), "document", _one_of("category", values)
    )


def _urgency(table: str) -> None:
    op.add_column(
        table, sa.Column("urgent", sa.Boolean(), server_default=sa.text("false"), nullable=False)
    )
    op.add_column(table, sa.Column("urgent_reason", sa.String(40), nullable=True))
    op.create_check_constraint(
        op.f(f"ck_{table}_urgent_reason"), table, _one_of("urgent_reason", _URGENT_REASONS)
    )


def upgrade() -> None:
    op.add_column(
        "appeal",
        sa.Column(
            "legal_basis",
            sa.String(40),
            server_default="economic_assistance",
            nullable=False,
        ),
    )
    op.create_check_constraint(
        op.f("ck_appeal_legal_basis"), "appeal", _one_of("legal_basis", _LEGAL_BASES)
    )
    _urgency("appeal")
    _urgency("case_package")
    op.drop_index("ix_case_package_feed", table_name="case_package")
    op.create_index(
        "ix_case_package_feed",
        "case_package",
        ["statsforvalter_office_id", "status", sa.text("urgent DESC"), "frozen_at", "id"],
    )
    _categories((*_CATEGORIES, *_NEW_CATEGORIES))


def downgrade() -> None:
    # The constant categories above, not input.
    moved_back = _one_of("category", _NEW_CATEGORIES)
    op.execute(f"UPDATE document SET category = 'supporting_document' WHERE {moved_back}")  # noqa: S608
    _categories(_CATEGORIES)
    op.drop_index("ix_case_package_feed", table_name="case_package")
    op.create_index(
        "ix_case_package_feed",
        "case_package",
        ["statsforvalter_office_id", "status", "frozen_at", "id"],
    )
    for table in ("case_package", "appeal"):
        op.drop_constraint(op.f(f"ck_{table}_urgent_reason"), table, type_="check")
        op.drop_column(table, "urgent_reason")
        op.drop_column(table, "urgent")
    op.drop_constraint(op.f("ck_appeal_legal_basis"), "appeal", type_="check")
    op.drop_column("appeal", "legal_basis")
