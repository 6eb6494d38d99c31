"""The documents a citizen may read of their own appeal, downloaded through the citizen's view:
what they sent, their appeal, the case presentation, the Statsforvalter's decision; every
download audited; nothing else, and nobody else's."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from klageapi.models import AuditEntry
from tests import journey
from tests.factories import OTHER_NATIONAL_ID
from tests.journey import AuthHeaders, Json


async def _decided_with_a_comment(
    client: httpx.AsyncClient, auth: AuthHeaders, citizen: Any
) -> tuple[Json, dict[str, Json], Json]:
    """A decided appeal: its NAV documents by category, and the Statsforvalter's letter. The
    citizen commented on the case presentation before the Statsforvalter received it."""
    appeal, documents = await journey.ready_to_forward(client, auth)
    response = await client.post(
        f"/v1/appeals/{appeal['id']}/packages",
        json={"case_presentation_sent_on": "2026-10-30", "comment_deadline_on": "2026-11-13"},
        headers=auth(),
    )
    assert response.status_code == 201, response.text
    comment = await client.post(
        f"/v1/me/appeals/{appeal['id']}/comments", json={"text": "Merknad."}, headers=citizen()
    )
    assert comment.status_code == 201, comment.text
    sf = auth(org=journey.SF_ROGALAND_ORG)
    feed = (await client.get("/v1/packages", headers=sf)).json()["items"]
    # NAV's package first: the clock stands still, so both were frozen at the same moment.
    for package in sorted(feed, key=lambda p: p["kind"] != "initial"):
        await journey.acknowledge(client, auth, package["id"])
    await journey.start_statsforvalter_review(client, auth, appeal["id"])
    letter = await journey.decide(client, auth, appeal["id"])
    return appeal, {d["category"]: d for d in documents}, letter


async def test_the_citizen_reads_their_own_papers_and_the_decision_and_nothing_else(
    client: httpx.AsyncClient, auth: AuthHeaders, citizen: Any, session: AsyncSession
) -> None:
    appeal, documents, letter = await _decided_with_a_comment(client, auth, citizen)

    listed = await client.get(f"/v1/me/appeals/{appeal['id']}/documents", headers=citizen())

    assert listed.status_code == 200, listed.text
    items = listed.json()["items"]
    assert sorted((d["category"], d["sent_by_you"]) for d in items) == [
        ("appeal", False),
        ("citizen_comment", True),
        ("forwarding_letter", False),
        ("statsforvalter_decision", False),
    ]
    (decision,) = [d for d in items if d["category"] == "statsforvalter_decision"]
    assert decision["id"] == letter["id"]
    audited_before = await session.scalar(
        select(func.count()).where(AuditEntry.action == "document.citizen_download")
    )

    download = await client.get(decision["href"], headers=citizen())

    assert download.status_code == 200, download.text
    assert journey.sha256(download.content) == letter["sha256"]
    assert download.headers["content-type"] == "application/pdf"
    assert download.headers["x-content-type-options"] == "nosniff"
    assert download.headers["content-security-policy"] == "default-src 'none'; sandbox"
    assert download.headers["etag"] == f'"{letter["sha256"]}"'
    audited = await session.scalar(
        select(func.count()).where(AuditEntry.action == "document.citizen_download")
    )
    assert audited == (audited_before or 0) + 1
    # NAV's own papers (the decision appealed, the application) are not the citizen's to read
    # here, and nobody reads another citizen's.
    for category in ("decision", "application"):
        hidden = documents[category]["id"]
        response = await client.get(
            f"/v1/me/appeals/{appeal['id']}/documents/{hidden}/content", headers=citizen()
        )
        assert (response.status_code, response.json()["code"]) == (404, "document_not_found")
    other = citizen(pid=OTHER_NATIONAL_ID)
    for url in (f"/v1/me/appeals/{appeal['id']}/documents", decision["href"]):
        response = await client.get(url, headers=other)
        assert (response.status_code, response.json()["code"]) == (404, "appeal_not_found")


async def test_the_decision_letter_is_readable_only_once_the_appeal_is_decided(
    client: httpx.AsyncClient, auth: AuthHeaders, citizen: Any
) -> None:
    appeal, _, _ = await journey.under_statsforvalter_review(client, auth)
    letter = await journey.upload(
        client, auth, appeal["id"], category="statsforvalter_decision", org=journey.SF_ROGALAND_ORG
    )

    listed = await client.get(f"/v1/me/appeals/{appeal['id']}/documents", headers=citizen())
    early = await client.get(
        f"/v1/me/appeals/{appeal['id']}/documents/{letter['id']}/content", headers=citizen()
    )

    assert "statsforvalter_decision" not in [d["category"] for d in listed.json()["items"]]
    assert early.status_code == 404
