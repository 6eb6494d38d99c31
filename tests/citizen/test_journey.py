"""A citizen's whole journey over HTTP, in each of nb, nn and en: NAV registers the appeal, the
citizen comments on the case presentation and sends the documentation the Statsforvalter asks
for, the Statsforvalter decides, and the citizen reads what the decision means and downloads the
decision letter. Every answer is in the one language asked for."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests import journey
from tests.journey import AuthHeaders, Json

PHRASES = {
    "nb": {
        "received": "NAV har mottatt klagen din",
        "office": "Statsforvalteren i Rogaland",
        "comment": "Du kan uttale deg om saksfremlegget",
        "documentation": "Statsforvalteren har bedt om flere opplysninger",
        "decided": "Statsforvalteren har avgjort klagen din.",
        "final": "Sivilombudet",
    },
    "nn": {
        "received": "NAV har teke imot klaga di",
        "office": "Statsforvaltaren i Rogaland",
        "comment": "Du kan uttale deg om saksframlegget",
        "documentation": "Statsforvaltaren har bede om fleire opplysningar",
        "decided": "Statsforvaltaren har avgjort klaga di.",
        "final": "Sivilombodet",
    },
    "en": {
        "received": "NAV has received your appeal",
        "office": "The County Governor of Rogaland",
        "comment": "You may comment on the case presentation",
        "documentation": "The County Governor has asked for more information",
        "decided": "The County Governor has decided your appeal.",
        "final": "Parliamentary Ombud",
    },
}
OTHER_LANGUAGES_OFFICE = {
    "nb": ("Statsforvaltaren", "County Governor of"),
    "nn": ("Statsforvalteren i", "County Governor of"),
    "en": ("Statsforvalteren i", "Statsforvaltaren"),
}


@pytest.mark.parametrize("language", ["nb", "nn", "en"])
async def test_a_citizen_s_whole_journey(
    client: httpx.AsyncClient, auth: AuthHeaders, citizen: Any, language: str
) -> None:
    me = citizen(**{"Accept-Language": language})
    words = PHRASES[language]

    async def view(appeal_id: str) -> Json:
        response = await client.get(f"/v1/me/appeals/{appeal_id}", headers=me)
        assert response.status_code == 200, response.text
        assert response.headers["content-language"] == language
        for foreign in OTHER_LANGUAGES_OFFICE[language]:
            assert foreign not in response.text, (language, foreign)
        answer: Json = response.json()
        return answer

    # NAV registers the appeal: the citizen can withdraw it, nothing else.
    appeal = await journey.register(client, auth)
    seen = await view(appeal["id"])
    assert seen["now"]["description"].startswith(words["received"])
    assert [a["action"] for a in seen["you_can"]] == ["withdraw"]

    # NAV keeps its decision and forwards, with the case presentation to comment on.
    await journey.start_nav_review(client, auth, appeal["id"])
    for category in journey.REQUIRED:
        await journey.upload(client, auth, appeal["id"], category=category)
    await journey.record_nav_outcome(client, auth, appeal["id"])
    forwarded = await client.post(
        f"/v1/appeals/{appeal['id']}/packages",
        json={"case_presentation_sent_on": "2026-10-30", "comment_deadline_on": "2026-11-13"},
        headers=auth(),
    )
    assert forwarded.status_code == 201, forwarded.text
    seen = await view(appeal["id"])
    assert words["office"] in seen["now"]["who_has_the_case"]
    (comment,) = [a for a in seen["you_can"] if a["action"] == "comment"]
    assert comment["text"].startswith(words["comment"])
    commented = await client.post(comment["href"], json={"text": "Merknad."}, headers=me)
    assert commented.status_code == 201, commented.text

    # The Statsforvalter receives both packages, starts, and asks for documentation.
    sf = auth(org=journey.SF_ROGALAND_ORG)
    feed = (await client.get("/v1/packages", headers=sf)).json()["items"]
    for package in sorted(feed, key=lambda p: p["kind"] != "initial"):
        await journey.acknowledge(client, auth, package["id"])
    await journey.start_statsforvalter_review(client, auth, appeal["id"])
    await journey.request_documentation(client, auth, appeal["id"])
    seen = await view(appeal["id"])
    (send,) = [a for a in seen["you_can"] if a["action"] == "send_documentation"]
    assert send["text"].startswith(words["documentation"])
    sent = await client.post(
        send["href"],
        params={"title": "Husleiekontrakt", "file_name": "kontrakt.pdf"},
        content=journey.pdf(),
        headers={**me, "Content-Type": "application/pdf"},
    )
    assert sent.status_code == 201, sent.text

    # The Statsforvalter takes the citizen's package in; NAV answers the request; decision.
    waiting = (
        await client.get("/v1/packages", params={"status": "awaiting_receipt"}, headers=sf)
    ).json()["items"]
    for package in waiting:
        await journey.acknowledge(client, auth, package["id"])
    request_id = send["documentation_request_id"]
    nav_file = await journey.upload(client, auth, appeal["id"], category="documentation_response")
    fulfilled = await client.post(
        f"/v1/documentation-requests/{request_id}/fulfilment",
        json={"document_ids": [nav_file["id"]]},
        headers=auth(),
    )
    assert fulfilled.status_code == 201, fulfilled.text
    for package in (
        await client.get("/v1/packages", params={"status": "awaiting_receipt"}, headers=sf)
    ).json()["items"]:
        await journey.acknowledge(client, auth, package["id"])
    letter = await journey.decide(client, auth, appeal["id"])

    # The citizen reads what it means, and downloads the decision letter.
    seen = await view(appeal["id"])
    assert seen["now"]["description"] == words["decided"]
    assert words["final"] in seen["after_decision"]
    assert seen["you_can"] == []
    documents = await client.get(seen["documents_href"], headers=me)
    (decision,) = [
        d for d in documents.json()["items"] if d["category"] == "statsforvalter_decision"
    ]
    download = await client.get(decision["href"], headers=me)
    assert download.status_code == 200, download.text
    assert journey.sha256(download.content) == letter["sha256"]
    assert download.headers["x-content-type-options"] == "nosniff"
    assert {d["category"] for d in documents.json()["items"] if d["sent_by_you"]} == {
        "citizen_comment",
        "documentation_response",
    }
