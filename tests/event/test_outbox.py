"""The outbox's row and the columns the statements built once write from it."""

from __future__ import annotations

import datetime as dt
import uuid

from klageapi.event import outbox
from klageapi.models import Appeal, AppealStatus


def test_a_row_has_a_value_for_every_column_written_from_it_and_no_other() -> None:
    # Registration, steps and uploads write events by `outbox.COLUMNS`: a value in the row
    # that is not there would be dropped silently.
    appeal = Appeal(
        id=uuid.uuid4(),
        nav_office_unit_number="1103",
        statsforvalter_office_id="sf-rogaland",
        forwarded_at=None,
        status=AppealStatus.received,
    )
    now = dt.datetime(2026, 11, 2, 9, 30, tzinfo=dt.UTC)

    row = outbox.row(appeal, type_="appeal.received", occurred_at=now, recorded_at=now)

    assert sorted(row) == sorted(outbox.COLUMNS)
