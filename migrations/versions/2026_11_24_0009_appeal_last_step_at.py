"""When the appeal's latest step happened (business time) on the appeal itself, kept by the
milestones trigger, which now runs for every history row. A step may not be dated before the
previous one: the lifecycle reads this from the appeal row it has locked, instead of asking
for the latest time in the history on every step.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-24 06:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# 0008's milestones, each now also asking whether the row enters a new status (the trigger's
# WHEN used to), and the latest step of any kind.
_TRIGGER_FUNCTION = """
CREATE OR REPLACE FUNCTION klageapi_appeal_milestones() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    entering boolean := NEW.from_status IS DISTINCT FROM NEW.to_status;
BEGIN
    UPDATE appeal SET
        last_step_at = greatest(last_step_at, NEW.occurred_at),
        last_forwarded_at = CASE WHEN entering AND NEW.to_status = 'forwarded'
            THEN NEW.occurred_at ELSE last_forwarded_at END,
        statsforvalter_received_at = CASE
            WHEN entering AND NEW.to_status = 'received_by_statsforvalter'
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
        decided_at = CASE WHEN entering AND NEW.to_status = 'decided'
            THEN NEW.occurred_at ELSE decided_at END
    WHERE id = NEW.appeal_id;
    RETURN NULL;
END $$
"""

_TRIGGER = """
CREATE TRIGGER appeal_history_milestones AFTER INSERT ON appeal_history FOR EACH ROW
EXECUTE FUNCTION klageapi_appeal_milestones()
"""

_FILL = """
UPDATE appeal AS a SET last_step_at = h.last_step_at
FROM (SELECT appeal_id, max(occurred_at) AS last_step_at FROM appeal_history GROUP BY appeal_id)
    AS h
WHERE a.id = h.appeal_id
"""

# 0008's function and trigger, as they were.
_FUNCTION_0008 = """
CREATE OR REPLACE FUNCTION klageapi_appeal_milestones() RETURNS trigger LANGUAGE plpgsql AS $$
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

_TRIGGER_0008 = """
CREATE TRIGGER appeal_history_milestones AFTER INSERT ON appeal_history FOR EACH ROW
WHEN (NEW.from_status IS DISTINCT FROM NEW.to_status AND NEW.to_status IN (
    'forwarded', 'received_by_statsforvalter', 'under_statsforvalter_review', 'decided'))
EXECUTE FUNCTION klageapi_appeal_milestones()
"""


def upgrade() -> None:
    op.add_column("appeal", sa.Column("last_step_at", sa.DateTime(timezone=True), nullable=True))
    op.execute(_FILL)
    op.execute("DROP TRIGGER appeal_history_milestones ON appeal_history")
    op.execute(_TRIGGER_FUNCTION)
    op.execute(_TRIGGER)


def downgrade() -> None:
    op.execute("DROP TRIGGER appeal_history_milestones ON appeal_history")
    op.execute(_FUNCTION_0008)
    op.execute(_TRIGGER_0008)
    op.drop_column("appeal", "last_step_at")
