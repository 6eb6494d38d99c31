"""The offices' official names in Nynorsk and English beside Bokmål, so the citizen's view
answers in one language: the shipped Statsforvalter offices get theirs here (a registry loaded
before this migration is never loaded again); NAV offices keep one name unless an administrator
gives others.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03 14:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The shipped offices' official names (registry/data/routing.json): id, Nynorsk, English.
_NAMES = [
    (
        "sf-oslo-akershus-ostfold-buskerud",
        "Statsforvaltaren i Østfold, Buskerud, Oslo og Akershus",
        "The County Governor of Østfold, Buskerud, Oslo and Akershus",
    ),
    ("sf-rogaland", "Statsforvaltaren i Rogaland", "The County Governor of Rogaland"),
    (
        "sf-more-og-romsdal",
        "Statsforvaltaren i Møre og Romsdal",
        "The County Governor of Møre og Romsdal",
    ),
    ("sf-nordland", "Statsforvaltaren i Nordland", "The County Governor of Nordland"),
    ("sf-innlandet", "Statsforvaltaren i Innlandet", "The County Governor of Innlandet"),
    (
        "sf-vestfold-og-telemark",
        "Statsforvaltaren i Vestfold og Telemark",
        "The County Governor of Vestfold and Telemark",
    ),
    ("sf-agder", "Statsforvaltaren i Agder", "The County Governor of Agder"),
    ("sf-vestland", "Statsforvaltaren i Vestland", "The County Governor of Vestland"),
    ("sf-trondelag", "Statsforvaltaren i Trøndelag", "The County Governor of Trøndelag"),
    (
        "sf-troms-og-finnmark",
        "Statsforvaltaren i Troms og Finnmark",
        "The County Governor of Troms and Finnmark",
    ),
]


def upgrade() -> None:
    for table in ("nav_office", "statsforvalter_office"):
        op.add_column(table, sa.Column("name_nn", sa.Text(), nullable=True))
        op.add_column(table, sa.Column("name_en", sa.Text(), nullable=True))
    office = sa.table(
        "statsforvalter_office",
        sa.column("id", sa.String),
        sa.column("name_nn", sa.Text),
        sa.column("name_en", sa.Text),
    )
    for office_id, name_nn, name_en in _NAMES:
        op.execute(
            office.update().where(office.c.id == office_id).values(name_nn=name_nn, name_en=name_en)
        )


def downgrade() -> None:
    for table in ("statsforvalter_office", "nav_office"):
        op.drop_column(table, "name_en")
        op.drop_column(table, "name_nn")
