"""The report's figures fetched over HTTP, for `klageapi report`: the same answers of the
statistics endpoint that the served page is made from, and the offices' names where the token
may read the registry."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx

from klageapi.report.data import GROUPINGS, ReportData, months

__all__ = ["fetch"]

_STATISTICS = "/v1/statistics/processing-times"
_OFFICES = {"statsforvalter_office": "/v1/offices/statsforvalter", "nav_office": "/v1/offices/nav"}
_NAME_FIELDS = {"statsforvalter_office": "id", "nav_office": "unit_number"}


def fetch(client: httpx.Client, *, start: dt.date, end: dt.date) -> ReportData:
    """Raises httpx.HTTPStatusError when the statistics are refused."""
    views = {
        grouping: _get(client, _STATISTICS, _period(start, end) | {"group_by": grouping})
        for grouping in GROUPINGS
    }
    trend = []
    for first, last in months(start, end):
        total = _get(client, _STATISTICS, _period(first, last))["total"]
        trend.append((first, {"received": total["received"], "decided": total["decided"]}))
    return ReportData(start=start, end=end, views=views, months=trend, names=_names(client))


def _period(start: dt.date, end: dt.date) -> dict[str, str]:
    return {"from": start.isoformat(), "to": end.isoformat()}


def _get(client: httpx.Client, path: str, params: dict[str, Any]) -> dict[str, Any]:
    answer = client.get(path, params=params)
    answer.raise_for_status()
    body: dict[str, Any] = answer.json()
    return body


def _names(client: httpx.Client) -> dict[str, dict[str, str]]:
    """Office names by grouping; none (the page shows ids) when the token may not read the
    registry, which needs klageapi:admin."""
    names: dict[str, dict[str, str]] = {}
    for grouping, path in _OFFICES.items():
        found: dict[str, str] = {}
        cursor = None
        while True:
            answer = client.get(
                path, params={"limit": 500, **({"cursor": cursor} if cursor else {})}
            )
            if answer.status_code in {401, 403}:
                break
            answer.raise_for_status()
            page = answer.json()
            found.update({item[_NAME_FIELDS[grouping]]: item["name"] for item in page["items"]})
            cursor = page.get("next_cursor")
            if not cursor:
                break
        names[grouping] = found
    return names
