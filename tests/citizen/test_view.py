"""The citizen's view over HTTP: only their own appeals, plain language in nb, nn and en, the
steps, who has the case, when to expect an answer, and what they can do."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from klageapi.citizen.service import MIN_DECIDED_FOR_ESTIMATE
from klageapi.models import AppealHistory, AppealStatus, AuditEntry, StatsforvalterOutcome
from tests import journey
from tests.conftest import NOW
from tests.factories import NATIONAL_ID, OTHER_NATIONAL_ID, make_appeal
from tests.journey import AuthHeaders

Json = dict[str, Any]


async def _view(client: httpx.AsyncClient, headers: dict[str, str], appeal_id: str) -> Json:
    response = await client.get(f"/v1/me/appeals/{appeal_id}", headers=headers)
    assert response.status_code == 200, response.text
    view: Json = response.json()
    return view


async def test_an_appeal_under_nav_review_in_bokmal(
    client: httpx.AsyncClient, auth: AuthHeaders, citizen: Any
) -> None:
    appeal = await journey.register(client, auth)
    await journey.start_nav_review(client, auth, appeal["id"])

    response = await client.get(f"/v1/me/appeals/{appeal['id']}", headers=citizen())

    assert response.headers["content-language"] == "nb"
    view = response.json()
    assert view["title"] == "Klage på vedtak om økonomisk sosialhjelp"
    assert [(s["step"], s["on"]) for s in view["done"]] == [("received", "2026-10-15")]
    assert view["now"]["step"] == "nav_review"
    assert view["now"]["description"].startswith("NAV ser på vedtaket sitt på nytt")
    assert view["now"]["who_has_the_case"] == "NAV Stavanger (demo) har saken."
    assert [s["step"] for s in view["ahead"]] == [
        "forwarded",
        "statsforvalter_received",
        "statsforvalter_review",
        "decided",
    ]
    assert [a["action"] for a in view["you_can"]] == ["withdraw"]
    # NAV has it: its review comes first, and with no history no dates are made up.
    window = view["expected_decision"]
    assert (window["basis"], window["earliest"], window["latest"]) == ("nav_first", None, None)
    assert window["explanation"].startswith("NAV ser først på vedtaket sitt på nytt.")
    assert "90 dager etter at den er mottatt" in window["explanation"]


@pytest.mark.parametrize(
    ("accept", "language", "phrase"),
    [
        ("nn", "nn", "NAV har teke imot klaga di"),
        ("en-GB, nb;q=0.5", "en", "NAV has received your appeal"),
        ("de-DE, fr;q=0.8", "nb", "NAV har mottatt klagen din"),
        ("nb;q=0.4, nn-NO;q=0.9", "nn", "NAV har teke imot klaga di"),
        ("no", "nb", "NAV har mottatt klagen din"),
        ("en;q=0, *", "nb", "NAV har mottatt klagen din"),
    ],
)
async def test_the_language_follows_accept_language_with_bokmal_as_fallback(
    client: httpx.AsyncClient,
    auth: AuthHeaders,
    citizen: Any,
    accept: str,
    language: str,
    phrase: str,
) -> None:
    appeal = await journey.register(client, auth)

    response = await client.get(
        f"/v1/me/appeals/{appeal['id']}", headers=citizen(**{"Accept-Language": accept})
    )

    assert response.headers["content-language"] == language
    assert response.json()["now"]["description"].startswith(phrase)


async def test_a_forwarded_appeal_is_with_the_statsforvalter(
    client: httpx.AsyncClient, auth: AuthHeaders, citizen: Any
) -> None:
    appeal, _, _ = await journey.forwarded(client, auth)

    view = await _view(client, citizen(**{"Accept-Language": "en"}), appeal["id"])

    assert view["now"]["step"] == "forwarded"
    assert view["now"]["who_has_the_case"] == "The County Governor of Rogaland has the case."
    assert view["now"]["outcome"] == (
        "NAV thinks its decision is right and sends the appeal to the County Governor."
    )
    assert [s["step"] for s in view["done"]] == ["received", "nav_review"]
    # No case presentation was sent with a comment deadline: nothing to comment on.
    assert [a["action"] for a in view["you_can"]] == ["send_documents", "withdraw"]
    assert "Vedtaket står" not in str(view)  # NAV's reasoning is internal


async def test_documentation_asked_for_comes_with_its_due_date(
    client: httpx.AsyncClient, auth: AuthHeaders, citizen: Any
) -> None:
    appeal, _, _ = await journey.under_statsforvalter_review(client, auth)
    await journey.request_documentation(client, auth, appeal["id"], due_on="2026-11-16")

    view = await _view(client, citizen(), appeal["id"])

    assert view["now"]["status"] == "awaiting_documentation"
    assert view["now"]["step"] == "statsforvalter_review"
    (send,) = [a for a in view["you_can"] if a["action"] == "send_documentation"]
    assert send["due_on"] == "2026-11-16"
    assert "16. november 2026" in send["text"]
    assert "husleiekontrakten" not in str(view)  # the request's wording is between the offices


async def test_a_preliminary_reply_sets_the_expected_date(
    client: httpx.AsyncClient, auth: AuthHeaders, citizen: Any
) -> None:
    appeal = await journey.register(client, auth)
    reply = await client.post(
        f"/v1/appeals/{appeal['id']}/preliminary-replies",
        json={"expected_decision_on": "2027-02-15"},
        headers=auth(),
    )
    assert reply.status_code == 200, reply.text

    window = (await _view(client, citizen(), appeal["id"]))["expected_decision"]

    assert window["basis"] == "preliminary_reply"
    assert (window["earliest"], window["latest"]) == ("2027-02-15", "2027-02-15")
    assert "15. februar 2027" in window["explanation"]


async def _recent_history(session: AsyncSession, *, to_forwarding: int, to_decision: int) -> None:
    """Decided appeals of NAV Stavanger at sf-rogaland, received 200 days ago: forwarded
    `to_forwarding` + n days later and decided `to_decision` + n days after that."""
    for n in range(MIN_DECIDED_FOR_ESTIMATE):
        received = NOW - dt.timedelta(days=200)
        forwarded = received + dt.timedelta(days=to_forwarding + n)
        decided_appeal = await make_appeal(session, national_id=OTHER_NATIONAL_ID)
        decided_appeal.status = AppealStatus.decided
        await session.execute(
            update(AppealHistory)
            .where(AppealHistory.appeal_id == decided_appeal.id)
            .values(occurred_at=received)
        )
        for from_status, to_status, at in (
            (AppealStatus.under_nav_review, AppealStatus.forwarded, forwarded),
            (
                AppealStatus.under_statsforvalter_review,
                AppealStatus.decided,
                forwarded + dt.timedelta(days=to_decision + n),
            ),
        ):
            session.add(
                AppealHistory(
                    appeal_id=decided_appeal.id,
                    action="step",
                    from_status=from_status,
                    to_status=to_status,
                    actor_organisation="0192:922222223",
                    occurred_at=at,
                    recorded_at=NOW,
                )
            )
    await session.flush()


async def test_the_window_comes_from_the_office_s_recent_decisions_when_there_are_enough(
    client: httpx.AsyncClient, auth: AuthHeaders, citizen: Any, session: AsyncSession
) -> None:
    # At sf-rogaland, from forwarding to decision took 30 + n days.
    await _recent_history(session, to_forwarding=10, to_decision=30)
    appeal, _, _ = await journey.forwarded(client, auth)

    window = (await _view(client, citizen(), appeal["id"]))["expected_decision"]

    # p50 of 30..49 days is 39.5 days, p90 47.1 days, from today (forwarded now).
    assert window["basis"] == "office_history"
    assert (window["earliest"], window["latest"]) == ("2026-12-11", "2026-12-19")
    assert "mellom 11. desember 2026 og 19. desember 2026" in window["explanation"]


async def test_while_nav_has_the_appeal_the_window_adds_nav_s_time_to_the_statsforvalter_s(
    client: httpx.AsyncClient, auth: AuthHeaders, citizen: Any, session: AsyncSession
) -> None:
    await _recent_history(session, to_forwarding=10, to_decision=30)
    appeal = await journey.register(client, auth)  # received (by NAV) now

    window = (await _view(client, citizen(), appeal["id"]))["expected_decision"]

    # NAV: p50 19.5, p90 27.1 days to forwarding; then p50 39.5, p90 47.1 to the decision.
    assert window["basis"] == "nav_and_office_history"
    assert (window["earliest"], window["latest"]) == ("2026-12-31", "2027-01-15")
    assert window["explanation"].startswith("NAV ser først på vedtaket sitt på nytt.")


async def test_a_decided_appeal_shows_the_outcome_and_nothing_ahead(
    client: httpx.AsyncClient, auth: AuthHeaders, citizen: Any, session: AsyncSession
) -> None:
    appeal = await make_appeal(session)
    appeal.status = AppealStatus.decided
    appeal.statsforvalter_outcome = StatsforvalterOutcome.new_decision
    await session.flush()

    view = await _view(client, citizen(**{"Accept-Language": "nn"}), str(appeal.id))

    assert view["now"]["step"] is None
    assert view["now"]["outcome"] == "Statsforvaltaren har gjort eit nytt vedtak i saka di."
    assert view["ahead"] == []
    assert view["expected_decision"] is None
    assert view["you_can"] == []
    assert view["now"]["who_has_the_case"] == "Ingen har saka no."
    assert view["after_decision"] == (
        "Statsforvaltaren har sjølv gjort eit nytt vedtak i saka, som gjeld i staden for"
        " vedtaket frå NAV. Vedtaket frå Statsforvaltaren er endeleg. Du kan ikkje klage på det"
        " til nokon annan forvaltingsinstans (forvaltningslova § 28). Meiner du at saka er"
        " handsama feil, kan du be Sivilombodet sjå på ho. Vedtaksbrevet frå Statsforvaltaren"
        " er sendt til deg og forklarar kva som er avgjort, og kvifor."
    )


async def test_the_list_holds_only_the_citizen_s_own_appeals_and_each_read_is_audited(
    client: httpx.AsyncClient, auth: AuthHeaders, citizen: Any, session: AsyncSession
) -> None:
    mine = await journey.register(client, auth)
    await journey.register(client, auth, national_id=OTHER_NATIONAL_ID)

    response = await client.get("/v1/me/appeals", headers=citizen())

    assert [item["id"] for item in response.json()["items"]] == [mine["id"]]
    assert NATIONAL_ID not in response.text
    audited = (
        await session.scalars(select(AuditEntry).where(AuditEntry.action == "appeal.citizen_read"))
    ).all()
    assert [(a.appeal_id, a.actor_kind) for a in audited] == [(uuid.UUID(mine["id"]), "citizen")]


async def test_someone_else_s_appeal_is_not_found_and_nothing_is_audited(
    client: httpx.AsyncClient, auth: AuthHeaders, citizen: Any, session: AsyncSession
) -> None:
    theirs = await journey.register(client, auth, national_id=OTHER_NATIONAL_ID)

    response = await client.get(f"/v1/me/appeals/{theirs['id']}", headers=citizen())
    unknown = await client.get(f"/v1/me/appeals/{uuid.uuid4()}", headers=citizen())

    assert response.status_code == 404
    assert response.json()["code"] == "appeal_not_found"
    assert unknown.status_code == 404
    audited = await session.scalars(
        select(AuditEntry).where(AuditEntry.action == "appeal.citizen_read")
    )
    assert audited.all() == []


async def test_a_citizen_below_the_highest_assurance_level_is_refused(
    client: httpx.AsyncClient, auth: AuthHeaders, citizen: Any
) -> None:
    appeal = await journey.register(client, auth)

    response = await client.get(
        f"/v1/me/appeals/{appeal['id']}", headers=citizen(acr="idporten-loa-substantial")
    )

    assert response.status_code == 401
    assert 'error="insufficient_user_authentication"' in response.headers["www-authenticate"]


async def test_an_organisation_token_is_not_a_citizen(
    client: httpx.AsyncClient, auth: AuthHeaders
) -> None:
    response = await client.get("/v1/me/appeals", headers=auth())

    assert response.status_code == 403
    assert response.json()["code"] == "citizen_token_required"


async def test_a_citizen_cannot_use_the_organisation_endpoints(
    client: httpx.AsyncClient, auth: AuthHeaders, citizen: Any
) -> None:
    appeal = await journey.register(client, auth)

    response = await client.get(f"/v1/appeals/{appeal['id']}", headers=citizen())

    assert response.status_code == 403


async def test_a_step_is_dated_by_its_change_of_status_not_by_a_later_row(
    client: httpx.AsyncClient, auth: AuthHeaders, citizen: Any
) -> None:
    # NAV's review began on 8 October; its outcome (12 October) and a preliminary reply
    # (14 October) change no status, so they date no step and do not move `since`.
    appeal = await journey.register(
        client, auth, received_on="2026-10-06", occurred_at="2026-10-07T08:00:00Z"
    )
    path = f"/v1/appeals/{appeal['id']}"
    steps: list[tuple[str, dict[str, Any], dict[str, str]]] = [
        ("nav-review", {"occurred_at": "2026-10-08T08:00:00Z"}, {}),
        (
            "nav-outcome",
            {
                "outcome": "upheld",
                "decided_on": "2026-10-12",
                "reasoning": "Vedtaket står.",
                "occurred_at": "2026-10-12T08:00:00Z",
            },
            {"If-Match": '"2"'},
        ),
        (
            "preliminary-replies",
            {"expected_decision_on": "2026-12-01", "occurred_at": "2026-10-14T08:00:00Z"},
            {},
        ),
    ]
    for step, body, extra in steps:
        response = await client.post(f"{path}/{step}", json=body, headers={**auth(), **extra})
        assert response.status_code == 200, response.text

    view = await _view(client, citizen(), appeal["id"])

    assert view["now"]["step"] == "nav_review"
    assert view["now"]["since"] == "2026-10-08"
    assert [(s["step"], s["on"]) for s in view["done"]] == [("received", "2026-10-06")]


@pytest.mark.parametrize(
    ("language", "about"),
    [
        (
            "nb",
            "Klagen gjelder vedtak VEDTAK-REF-7 fra NAV Stavanger (demo), datert 1. oktober 2026,"
            " om krav om tilbakebetaling av stønad (sosialtjenesteloven §§ 25 og 26).",
        ),
        (
            "en",
            "The appeal concerns decision VEDTAK-REF-7 by NAV Stavanger (demo), dated 1 October"
            " 2026, on a claim to repay assistance (Social Services Act sections 25 and 26).",
        ),
    ],
)
async def test_the_citizen_can_tell_appeals_apart_by_the_decision_they_concern(
    client: httpx.AsyncClient, auth: AuthHeaders, citizen: Any, language: str, about: str
) -> None:
    decision = {
        "reference": "VEDTAK-REF-7",
        "decided_on": "2026-10-01",
        "notified_on": "2026-10-02",
        "legal_basis": "refund_claim",
    }
    appeal = await journey.register(client, auth, decision=decision)

    view = await _view(client, citizen(**{"Accept-Language": language}), appeal["id"])

    assert view["decision"] == {
        "reference": "VEDTAK-REF-7",
        "decided_on": "2026-10-01",
        "nav_office": "NAV Stavanger (demo)",
        "legal_basis": "refund_claim",
        "about": about,
    }
    assert view["late"] is None
    assert view["after_decision"] is None


async def test_a_late_appeal_says_what_arriving_after_the_deadline_means(
    client: httpx.AsyncClient, auth: AuthHeaders, citizen: Any
) -> None:
    appeal = await journey.register(client, auth, received_on="2026-10-30")  # deadline 23 Oct

    view = await _view(client, citizen(), appeal["id"])

    assert view["late"].startswith("Klagen kom inn etter klagefristen, som var 23. oktober 2026.")
    assert "forvaltningsloven § 31" in view["late"]


async def test_an_open_documentation_request_says_what_is_asked_for_and_by_when(
    client: httpx.AsyncClient, auth: AuthHeaders, citizen: Any
) -> None:
    appeal, _, _ = await journey.under_statsforvalter_review(client, auth)
    response = await client.post(
        f"/v1/appeals/{appeal['id']}/documentation-requests",
        json={
            "description": "Kontoutskrifter for mars",
            "categories": ["application", "supporting_document"],
            "due_on": "2026-11-16",
        },
        headers=auth(org=journey.SF_ROGALAND_ORG),
    )
    assert response.status_code == 201, response.text

    view = await _view(client, citizen(**{"Accept-Language": "en"}), appeal["id"])

    (send,) = [a for a in view["you_can"] if a["action"] == "send_documentation"]
    assert send["due_on"] == "2026-11-16"
    assert send["text"].endswith(
        "The County Governor needs the application with its attachments and documentation in"
        " the case from NAV by 16 November 2026."
    )
    assert "Kontoutskrifter" not in send["text"]  # the offices' own words stay theirs


async def test_an_appeal_links_to_nav_s_case_and_the_citizen_s_list_filters_by_it(
    client: httpx.AsyncClient, auth: AuthHeaders, citizen: Any
) -> None:
    other_decision = {
        "reference": "VEDTAK-2",
        "decided_on": "2026-10-03",
        "notified_on": "2026-10-04",
    }
    linked = await journey.register(
        client,
        auth,
        digisos_case_id="1a2b3c4d-0000-4000-8000-00000000abcd",
        nav_appeal_id="klage-77",
        other_decisions=[other_decision],
    )
    await journey.register(client, auth)  # of no Digisos case

    listed = await client.get(
        "/v1/me/appeals",
        params={"digisos_case_id": "1a2b3c4d-0000-4000-8000-00000000abcd"},
        headers=citizen(),
    )

    assert [item["id"] for item in listed.json()["items"]] == [linked["id"]]
    assert (linked["digisos_case_id"], linked["nav_appeal_id"]) == (
        "1a2b3c4d-0000-4000-8000-00000000abcd",
        "klage-77",
    )
    assert linked["other_decisions"] == [{**other_decision, "legal_basis": "economic_assistance"}]
