"""The list of appeals in the Statsforvalter's queue orders: keyset pagination under each order
(property-based, with ties and missing receipts drawn on purpose), each order's meaning over
HTTP, and cursors that keep their order."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from klageapi.appeal import repository
from klageapi.core import queue_order
from klageapi.core.queue_order import AppealOrder
from klageapi.models import Appeal, AppealStatus, Channel
from klageapi.registry import access
from tests.conftest import NOW, SF_ROGALAND_ORG
from tests.factories import NATIONAL_ID

AuthHeaders = Callable[..., dict[str, str]]

# Few distinct values, so that rows tie on every key but the id.
_MOMENTS = [NOW - dt.timedelta(days=d) for d in (30, 20, 10)]
_DAYS = [dt.date(2026, 9, 1), dt.date(2026, 9, 15), dt.date(2026, 10, 1)]
_ROWS = st.lists(
    st.fixed_dictionaries(
        {
            "urgent": st.booleans(),
            "received_on": st.sampled_from(_DAYS),
            "statsforvalter_received_at": st.none() | st.sampled_from(_MOMENTS),
            "forwarded_at": st.none() | st.sampled_from(_MOMENTS),
            "updated_at": st.sampled_from(_MOMENTS),
        }
    ),
    max_size=12,
)


def _later(value: Any) -> tuple[bool, Any]:
    """An ascending key with NULLs last."""
    return (value is None, value if value is not None else 0)


def _arrived(row: dict[str, Any]) -> tuple[Any, ...]:
    return (*_later(row["statsforvalter_received_at"]), *_later(row["forwarded_at"]), row["id"])


# What each order promises, said again in Python.
_EXPECTED: dict[AppealOrder, Callable[[dict[str, Any]], tuple[Any, ...]]] = {
    AppealOrder.updated: lambda r: (r["updated_at"], r["id"]),
    AppealOrder.forwarded: _arrived,
    AppealOrder.urgent_first: lambda r: (not r["urgent"], *_arrived(r)),
    AppealOrder.citizen_wait: lambda r: (r["received_on"], *_arrived(r)),
    AppealOrder.urgent_then_citizen_wait: lambda r: (
        not r["urgent"],
        r["received_on"],
        *_arrived(r),
    ),
}


def _row(drawn: dict[str, Any]) -> dict[str, Any]:
    return {
        **drawn,
        "id": uuid.uuid4(),
        "nav_office_unit_number": "1103",
        "municipality_number": "1103",
        "statsforvalter_office_id": "sf-rogaland",
        "national_id": NATIONAL_ID,
        "decision_reference": "VEDTAK-1",
        "decision_decided_on": dt.date(2026, 8, 1),
        "decision_notified_on": dt.date(2026, 8, 2),
        "channel": Channel.digital,
        "grounds": "Uenig.",
        "external_reference": f"SAK-{uuid.uuid4().hex[:12]}",
        "appeal_deadline_on": dt.date(2026, 8, 24),
        "late": False,
        "status": AppealStatus.received_by_statsforvalter,
        "version": 1,
        "registration_digest": "0" * 64,
        "status_changed_at": NOW,
        "registered_at": NOW,
        "created_at": NOW,
    }


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    rows=_ROWS,
    order=st.sampled_from(list(AppealOrder)),
    limit=st.integers(min_value=1, max_value=5),
)
async def test_pages_in_every_order_join_into_the_whole_ordered_list(
    session: AsyncSession, rows: list[dict[str, Any]], order: AppealOrder, limit: int
) -> None:
    appeals = [_row(drawn) for drawn in rows]
    offices = access.offices(nav=["1103"], statsforvalter=None)
    keyset = queue_order.APPEALS[order]
    savepoint = await session.begin_nested()
    try:
        if appeals:
            await session.execute(insert(Appeal), appeals)
        whole = await repository.list_visible(
            session, offices, repository.AppealFilter(), order=order, after=None, limit=1000
        )
        paged: list[uuid.UUID] = []
        after = None
        while True:
            page = list(
                await repository.list_visible(
                    session,
                    offices,
                    repository.AppealFilter(),
                    order=order,
                    after=after,
                    limit=limit + 1,
                )
            )
            paged += [appeal.id for appeal in page[:limit]]
            if len(page) <= limit:
                break
            last = page[limit - 1]
            # Through JSON, as a cursor travels.
            position = json.loads(json.dumps(keyset.encode(lambda name, a=last: getattr(a, name))))
            after = queue_order.appeal_position(order, position)
    finally:
        await savepoint.rollback()

    expected = [row["id"] for row in sorted(appeals, key=_EXPECTED[order])]
    assert [appeal.id for appeal in whole] == expected
    assert paged == expected
    assert len(set(paged)) == len(paged)


def test_a_position_of_another_order_or_shape_is_refused() -> None:
    forwarded = queue_order.APPEALS[AppealOrder.forwarded]
    position = forwarded.encode(
        {"statsforvalter_received_at": None, "forwarded_at": NOW, "id": uuid.uuid4()}.__getitem__
    )

    assert queue_order.appeal_position(AppealOrder.forwarded, position)[0] is None
    for order in set(AppealOrder) - {AppealOrder.forwarded}:
        with pytest.raises(queue_order.InvalidPosition):
            queue_order.appeal_position(order, position)
    for broken in ([], ["forwarded", 1, None, "x"], ["forwarded", None, None, None]):
        with pytest.raises(queue_order.InvalidPosition):
            queue_order.appeal_position(AppealOrder.forwarded, broken)


# Over HTTP: three appeals at the Statsforvalter in Rogaland, (NAV's receipt, its receipt,
# urgent), and one forwarded but not received yet.
_QUEUE = [
    (dt.date(2026, 9, 20), _MOMENTS[0], False),
    (dt.date(2026, 9, 1), _MOMENTS[1], False),
    (dt.date(2026, 9, 10), _MOMENTS[2], True),
    (dt.date(2026, 8, 25), None, False),
]


@pytest.mark.parametrize(
    ("order", "expected"),
    [
        ("forwarded", [0, 1, 2, 3]),
        ("urgent_first", [2, 0, 1, 3]),
        ("citizen_wait", [3, 1, 2, 0]),
        ("urgent_then_citizen_wait", [2, 3, 1, 0]),
    ],
)
async def test_the_statsforvalter_lists_its_appeals_in_each_order_a_page_at_a_time(
    client: httpx.AsyncClient,
    session: AsyncSession,
    auth: AuthHeaders,
    order: str,
    expected: list[int],
) -> None:
    ids = []
    for received_on, received_at, urgent in _QUEUE:
        row = _row(
            {
                "urgent": urgent,
                "received_on": received_on,
                "statsforvalter_received_at": received_at,
                "forwarded_at": _MOMENTS[0] - dt.timedelta(days=5),
                "updated_at": NOW,
            }
        )
        if received_at is None:
            row["status"] = AppealStatus.forwarded
        await session.execute(insert(Appeal), [row])
        ids.append(str(row["id"]))

    listed, cursor = [], None
    while True:
        params = {"order": order, "limit": "1", **({"cursor": cursor} if cursor else {})}
        response = await client.get("/v1/appeals", params=params, headers=auth(org=SF_ROGALAND_ORG))
        assert response.status_code == 200, response.text
        listed += [item["id"] for item in response.json()["items"]]
        cursor = response.json()["next_cursor"]
        if cursor is None:
            break

    assert listed == [ids[n] for n in expected]
    first = await client.get(
        "/v1/appeals", params={"order": order, "limit": "1"}, headers=auth(org=SF_ROGALAND_ORG)
    )
    other = "updated" if order != "updated" else "forwarded"
    refused = await client.get(
        "/v1/appeals",
        params={"order": other, "cursor": first.json()["next_cursor"]},
        headers=auth(org=SF_ROGALAND_ORG),
    )
    assert (refused.status_code, refused.json()["code"]) == (400, "invalid_cursor")
