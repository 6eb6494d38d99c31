"""Milestones on the appeal for the processing-time statistics (registered, last forwarded,
first received and first reviewed by the Statsforvalter, time awaiting documentation,
decided), kept by a trigger on appeal_history and filled from the history for the appeals
already there. The statistics then read one row per appeal, not its whole history.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-24 00:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = (
    "last_forwarded_at",
    "statsforvalter_received_at",
    "statsforvalter_review_started_at",
    "decided_at",
)

# One history row at a time, as it is written. Only rows that enter a new status matter: a
# re-route (forwarded to forwarded) is no new forwarding. The time awaiting documentation
# grows by each wait when it ends (decisions come only from under_statsforvalter_review, so
# every wait of a decided appeal has ended).
_TRIGGER_FUNCTION = """
CREATE FUNCTION klageapi_appeal_milestones() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE appeal SET
        last_forwarded_at = CASE WHEN NEW.to_status = 'forwarded'
            THEN NEW.occurred_at ELSE last_forwarded_at END,
        statsforvalter_received_at = CASE WHEN NEW.to_status = 'received_by_statsforvalter'
            THEN coalesce(statsforvalter_received_at, NEW.occurred_at)
            ELSE statsforvalter_received_at END,
        statsforvalter_review_started_at = CASE
            WHEN NEW.to_status = 'under_statsforvalter_review'
                AND NEW.from_status = 'received_by_statsforvalter'
            THEN coalesce(statsforvalter_review_started_at, NEW.occurred_at)
            ELSE statsforvalter_review_started_at END,
        documentation_wait_seconds = CASE
            WHEN NEW.from_status = 'awaiting_documentation'
                AND NEW.to_status = 'under_statsforvalter_review'
            THEN coalesce(documentation_wait_seconds, 0) + date_part('epoch', NEW.occurred_at
                - (SELECT h.occurred_at FROM appeal_history AS h
                   WHERE h.appeal_id = NEW.appeal_id AND h.to_status = 'awaiting_documentation'
                       AND h.from_status <> 'awaiting_documentation'
                   ORDER BY h.id DESC LIMIT 1))
            ELSE documentation_wait_seconds END,
        decided_at = CASE WHEN NEW.to_status = 'decided' THEN NEW.occurred_at ELSE decided_at END
    WHERE id = NEW.appeal_id;
    RETURN NULL;
END $$
"""

_TRIGGER = """
CREATE TRIGGER appeal_history_milestones AFTER INSERT ON appeal_history FOR EACH ROW
WHEN (NEW.from_status IS DISTINCT FROM NEW.to_status AND NEW.to_status IN (
    'forwarded', 'received_by_statsforvalter', 'under_statsforvalter_review', 'decided'))
EXECUTE FUNCTION klageapi_appeal_milestones()
"""

# The same milestones for the appeals already there, from their whole history at once.
_FILL = """
UPDATE appeal AS a SET
    registered_at = m.registered_at,
    last_forwarded_at = m.last_forwarded_at,
    statsforvalter_received_at = m.statsforvalter_received_at,
    statsforvalter_review_started_at = m.statsforvalter_review_started_at,
    documentation_wait_seconds = m.documentation_wait_seconds,
    decided_at = m.decided_at
FROM (
    SELECT appeal_id,
        min(occurred_at) FILTER (WHERE from_status IS NULL) AS registered_at,
        max(occurred_at) FILTER (WHERE entering AND to_status = 'forwarded')
            AS last_forwarded_at,
        min(occurred_at) FILTER (WHERE entering AND to_status = 'received_by_statsforvalter')
            AS statsforvalter_received_at,
        min(occurred_at) FILTER (WHERE entering AND to_status = 'under_statsforvalter_review'
            AND from_status = 'received_by_statsforvalter') AS statsforvalter_review_started_at,
        sum(date_part('epoch', occurred_at)) FILTER (WHERE entering
            AND to_status = 'under_statsforvalter_review'
            AND from_status = 'awaiting_documentation')
        - sum(date_part('epoch', occurred_at)) FILTER (WHERE entering
            AND to_status = 'awaiting_documentation') AS documentation_wait_seconds,
        max(occurred_at) FILTER (WHERE to_status = 'decided') AS decided_at
    FROM (SELECT *, from_status IS DISTINCT FROM to_status AS entering FROM appeal_history) AS h
    GROUP BY appeal_id
) AS m
WHERE a.id = m.appeal_id
"""


def upgrade() -> None:
    op.add_column(
        "appeal",
        sa.Column(
            "registered_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
    )
    for name in _COLUMNS:
        op.add_column("appeal", sa.Column(name, sa.DateTime(timezone=True), nullable=True))
    op.add_column("appeal", sa.Column("documentation_wait_seconds", sa.Float(), nullable=True))
    op.execute(_FILL)
    # Everything the statistics read of a decided appeal: an index-only scan.
    op.create_index(
        "ix_appeal_decided_at",
        "appeal",
        ["decided_at"],
        unique=False,
        postgresql_include=[
            "statsforvalter_office_id",
            "nav_office_unit_number",
            "municipality_number",
            "channel",
            "forwarded_at",
            "statsforvalter_outcome",
            "registered_at",
            *_COLUMNS[:3],
            "documentation_wait_seconds",
        ],
        postgresql_where=sa.text("decided_at IS NOT NULL"),
    )
    op.execute(_TRIGGER_FUNCTION)
    op.execute(_TRIGGER)


def downgrade() -> None:
    op.execute("DROP TRIGGER appeal_history_milestones ON appeal_history")
    op.execute("DROP FUNCTION klageapi_appeal_milestones()")
    op.drop_index(
        "ix_appeal_decided_at",
        table_name="appeal",
        postgresql_where=sa.text("decided_at IS NOT NULL"),
    )
    for name in ("documentation_wait_seconds", *reversed(_COLUMNS), "registered_at"):
        op.drop_column("appeal", name)
