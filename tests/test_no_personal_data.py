"""No personal data where it does not belong: a simulated year and an appeal whose free text
names the citizen, through the real API on a committed database, with every log line at DEBUG
(SQL statements too), then a scan of what the app wrote out: the log lines, every event of
every organisation's feed, every webhook body a real receiver got, the audit log and the
metrics' labels. No national id and no name may appear in any of them.

The whole run's log lines are scanned as well, at the end of the session (tests/_leakscan.py)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from klageapi.case_package.overdue import announce_overdue
from klageapi.event.outbox import EVENT_TYPES
from klageapi.simulation.runner import ADMIN_ORGANISATION
from tests import journey
from tests._leakscan import PLANTED_NAMES, Hit, LogLine, known_national_ids, scan, tap
from tests.conftest import SF_ROGALAND_ORG
from tests.factories import D_NUMBER
from tests.journey import AuthHeaders, Json
from tests.simulated_year import SimulatedYear, at_debug
from tests.webhook import conftest as webhook_fixtures
from tests.webhook.conftest import Receiver, make_dispatcher

pytest_plugins = ["pytester"]

receiver = webhook_fixtures.receiver  # the webhook tests' real receiver on loopback
receiver_server = webhook_fixtures.receiver_server

# Valid national ids of the named appeal's citizen and of the child the grounds mention.
CITIZEN = "01019010046"
CHILD = D_NUMBER
NAME, OTHER_NAME = PLANTED_NAMES


# The scan itself: it finds what it must, and only that


def test_a_valid_national_id_in_a_control_string_is_found() -> None:
    hits = scan(f'{{"event": "lookup", "note": "fnr {CITIZEN} oppgitt"}}')

    assert [(h.kind, h.found) for h in hits] == [("national_id", CITIZEN)]


@pytest.mark.parametrize(
    "text",
    [
        "010190 10046",  # as people write it
        "SAK-2026-01019010046",  # glued to a reference
        '{"grounds": "01019010046"}',
    ],
)
def test_a_national_id_written_in_other_ways_is_found(text: str) -> None:
    assert [h.found for h in scan(text)] == [CITIZEN]


def test_a_known_national_id_inside_a_longer_digit_run_or_a_hex_token_is_found() -> None:
    known = known_national_ids([CITIZEN])

    assert [h.found for h in scan(f"ref 77{CITIZEN}99", known_ids=known)] == [CITIZEN]
    assert [h.found for h in scan(f"req abc{CITIZEN}def0123456789ab", known_ids=known)] == [CITIZEN]


@pytest.mark.parametrize(
    "text",
    [
        "01019010047",  # a wrong check digit
        "organisation 977777771, account 12345678901234",
        '{"duration_ms": 0.01019010046}',  # the decimals of a number
        "request 4f1e01019010046a9be0c3d4e5f6a7b8",  # a request id that happens to hold digits
    ],
)
def test_what_is_not_a_national_id_is_not_found(text: str) -> None:
    assert scan(text) == []


@pytest.mark.parametrize(
    "text",
    [
        f"Klage fra {NAME}",
        '{"title": "Brev fra \\u00c5smund H\\u00f8lleland"}',  # JSON escapes the letters
        "title=Brev+fra+%C3%85smund+H%C3%B8lleland",  # and a URL percent-encodes them
        "hilsen TVEITBAKK",  # the family name alone, in capitals
    ],
)
def test_a_planted_name_is_found_however_it_is_written(text: str) -> None:
    assert {h.kind for h in scan(text)} == {"name"}


# The simulated year


@pytest.fixture
def debug_logging() -> Iterator[None]:
    with at_debug():
        yield


@pytest.fixture
async def recorded() -> AsyncIterator[list[LogLine]]:
    with tap.recording() as lines:
        yield lines


async def test_a_simulated_year_writes_no_national_id_or_name_out(
    simulated_year: SimulatedYear,
    debug_logging: None,
    auth: AuthHeaders,
    receiver: Receiver,
    recorded: list[LogLine],
) -> None:
    """The run's simulated year (played at DEBUG, its log lines kept), and then on its database
    the named appeal, every organisation's subscription and their webhooks."""
    phases = _Phases()
    race_track, outcome = simulated_year.track, simulated_year.outcome
    client = race_track.client
    admin = auth(scope="klageapi:admin")
    await _named_appeal(client, auth)
    phases.done("named appeal")
    async with race_track.app.state.sessionmaker() as session, session.begin():
        await announce_overdue(session, clock=race_track.app.state.clock, working_days=2)
    organisations = await _organisations(client, admin)
    for organisation in organisations:
        await _subscribe(client, auth(org=organisation), receiver)
    await make_dispatcher(race_track).drain(within=300)
    phases.done("webhooks")

    events = [e for org in organisations for e in await _feed(client, auth(org=org))]
    audit = await _all_pages(client, "/v1/audit-log", admin)
    metrics = await client.get("/metrics")
    labels = [
        sample.labels
        for family in text_string_to_metric_families(metrics.text)
        for sample in family.samples
    ]
    log_lines = [line.text for line in simulated_year.log_lines + recorded if not line.caller]
    phases.done("reading")

    known = known_national_ids([CITIZEN, CHILD, *(plan.national_id for plan in outcome.plans)])
    sources: dict[str, list[str]] = {
        "log lines": log_lines,
        "events": [_raw(event) for event in events],
        "webhook bodies": [r.body.decode() for r in receiver.received],
        "webhook headers": [_raw(r.headers) for r in receiver.received],
        "audit entries": [_raw(entry) for entry in audit],
        "metric samples": [_raw(sample_labels) for sample_labels in labels],
    }
    hits: list[tuple[str, Hit]] = [
        (source, hit)
        for source, texts in sources.items()
        for text in texts
        for hit in scan(text, known_ids=known)
    ]
    phases.done("scan")
    counts = {source: len(texts) for source, texts in sources.items()}
    tap.summaries.append(
        f"simulated year of {simulated_year.appeals} appeals and one named appeal, at DEBUG: "
        + ", ".join(f"{count} {source}" for source, count in counts.items())
        + f", {len(known)} known national ids; {len(hits)} hits; {phases}"
    )

    assert [(source, hit.kind, hit.found, hit.context) for source, hit in hits] == []
    # Not vacuous: the scan saw the whole year, and the year carried the personal data.
    assert outcome.differences == []
    assert counts["log lines"] > 10 * outcome.requests  # request lines, SQL and DEBUG lines
    assert any('"level": "debug"' in line for line in log_lines)
    assert any("[SQL parameters hidden" in line for line in log_lines)
    assert len(events) > 2 * simulated_year.appeals
    # The simulated systems neither wait past the targets nor download bundles, and withdraw
    # no appeal while its package waits; the simulated year has no citizens (the citizen's
    # tasks' events are checked for personal data in tests/citizen/test_tasks.py), and the
    # retention job's erasure comes from the worker's minute, which the test may end before
    # (tests/retention shows its event has no personal data).
    assert {e["type"] for e in events} >= set(EVENT_TYPES) - {
        "package.overdue",
        "documentation.overdue",
        "package.downloaded",
        "package.withdrawn",
        "citizen.comment_sent",
        "citizen.documentation_sent",
        "citizen.documents_sent",
        "appeal.personal_data_erased",
    }
    # Each event once per subscription; a delivery retried after a slow answer arrives twice
    # with the same webhook-id, as at-least-once delivery allows.
    delivered = {(r.path, r.headers["webhook-id"]) for r in receiver.events()}
    assert len(delivered) == len(events)
    assert len(audit) > simulated_year.appeals
    assert any(label.get("route") == "/v1/appeals/{appeal_id}" for label in labels)
    assert all(scan(plan.national_id, known_ids=known) for plan in outcome.plans[:20])


class _Phases:
    """Wall-clock seconds per phase of the test, for the summary."""

    def __init__(self) -> None:
        self._last = time.monotonic()
        self._seconds: dict[str, float] = {}

    def done(self, phase: str) -> None:
        now = time.monotonic()
        self._seconds[phase] = now - self._last
        self._last = now

    def __str__(self) -> str:
        return ", ".join(f"{phase} {seconds:.1f} s" for phase, seconds in self._seconds.items())


def _raw(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


async def _named_appeal(client: httpx.AsyncClient, auth: AuthHeaders) -> None:
    """One appeal whose every free-text field names the citizen (and a child's d-nummer), read
    by NAV, the Statsforvalter and the citizen, with a correlation id that carries the citizen's
    national id, as a case system might send."""
    correlation = {"X-Request-ID": f"SAK-{CITIZEN}"}
    grounds = f"Jeg, {NAME}, klager på vedtaket. Min sønn {OTHER_NAME} ({CHILD}) bor hos meg."
    appeal = await journey.register(client, auth, national_id=CITIZEN, grounds=grounds)
    appeal_id = appeal["id"]
    await journey.start_nav_review(client, auth, appeal_id)
    for category in journey.REQUIRED:
        await _upload(client, auth(), appeal_id, category)
    current = await client.get(f"/v1/appeals/{appeal_id}", headers={**auth(), **correlation})
    assert current.status_code == 200, current.text
    assert NAME in current.text and CITIZEN in current.text  # the app does hold them
    response = await client.post(
        f"/v1/appeals/{appeal_id}/nav-outcome",
        json={
            "outcome": "upheld",
            "decided_on": "2026-11-02",
            "reasoning": f"{NAME} har ikke rett.",
        },
        headers={**auth(), "If-Match": current.headers["etag"]},
    )
    assert response.status_code == 200, response.text
    package = await journey.forward(client, auth, appeal_id)
    sf = auth(org=SF_ROGALAND_ORG)
    response = await client.post(
        f"/v1/packages/{package['id']}/rejection",
        json={"reason": "incomplete", "description": f"Mangler {NAME}s kontoutskrift."},
        headers=sf,
    )
    assert response.status_code == 200, response.text
    package = await journey.forward(client, auth, appeal_id)
    for path in (f"/v1/packages/{package['id']}", f"/v1/packages/{package['id']}/bundle"):
        response = await client.get(path, headers={**sf, **correlation})
        assert response.status_code == 200, response.text
    await journey.acknowledge(client, auth, package["id"], case_number=f"2026/{NAME.split()[-1]}")
    await journey.start_statsforvalter_review(client, auth, appeal_id)
    response = await client.post(
        f"/v1/appeals/{appeal_id}/documentation-requests",
        json={"description": f"Send {NAME}s husleiekontrakt.", "due_on": "2026-11-16"},
        headers=sf,
    )
    assert response.status_code == 201, response.text
    request_id = response.json()["id"]
    answer = await _upload(client, auth(), appeal_id, "documentation_response")
    response = await client.post(
        f"/v1/documentation-requests/{request_id}/fulfilment",
        json={"document_ids": [answer["id"]]},
        headers=auth(),
    )
    assert response.status_code == 201, response.text
    citizen = auth(org=None, scope=None, pid=CITIZEN, acr="idporten-loa-high")
    for path in ("/v1/me/appeals", f"/v1/me/appeals/{appeal_id}"):
        response = await client.get(path, headers={**citizen, **correlation})
        assert response.status_code == 200, response.text


async def _upload(
    client: httpx.AsyncClient, headers: dict[str, str], appeal_id: str, category: str
) -> Json:
    response = await client.post(
        f"/v1/appeals/{appeal_id}/documents",
        params={
            "category": category,
            "title": f"{category} fra {NAME}",
            "file_name": f"{NAME.replace(' ', '_')}_{CITIZEN}.pdf",
        },
        content=journey.pdf(),
        headers={**headers, "Content-Type": "application/pdf"},
    )
    assert response.status_code == 201, response.text
    document: Json = response.json()
    return document


async def _organisations(client: httpx.AsyncClient, admin: dict[str, str]) -> list[str]:
    """Every organisation in the registry: the simulated and demo NAV offices', the
    Statsforvalter offices'."""
    found: set[str] = set()
    for kind in ("nav", "statsforvalter"):
        for office in await _all_pages(client, f"/v1/offices/{kind}", admin):
            if office.get("organisation_number"):
                found.add(office["organisation_number"])
    found.discard(ADMIN_ORGANISATION.removeprefix("0192:"))
    return sorted(found)


async def _subscribe(
    client: httpx.AsyncClient, headers: dict[str, str], receiver: Receiver
) -> None:
    response = await client.post(
        "/v1/webhook-subscriptions",
        json={"url": f"{receiver.url}/{uuid.uuid4().hex[:8]}", "event_types": list(EVENT_TYPES)},
        headers=headers,
    )
    assert response.status_code == 201, response.text


async def _feed(client: httpx.AsyncClient, headers: dict[str, str]) -> list[Json]:
    """The organisation's whole event feed, page by page, until a page comes back empty."""
    events: list[Json] = []
    after: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 1000} | ({"after": after} if after else {})
        response = await client.get("/v1/events", params=params, headers=headers)
        assert response.status_code == 200, response.text
        page = response.json()
        if not page["items"]:
            return events
        events += page["items"]
        after = page["next_cursor"]


async def _all_pages(client: httpx.AsyncClient, path: str, headers: dict[str, str]) -> list[Json]:
    items: list[Json] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 500} | ({"cursor": cursor} if cursor else {})
        response = await client.get(path, params=params, headers=headers)
        assert response.status_code == 200, response.text
        page = response.json()
        items += page["items"]
        cursor = page.get("next_cursor")
        if not cursor:
            return items


# The run's scan fails the run


@pytest.mark.parametrize(
    "processes",
    [
        pytest.param([], id="in one process"),
        # As the suite runs: the worker that ran the test scans, the controller fails the run.
        pytest.param(["-p", "tests._workers", "-n", "2"], id="in two workers"),
    ],
)
def test_a_run_whose_app_logs_a_name_or_a_national_id_fails_and_says_where(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, processes: list[str]
) -> None:
    # What the redaction lets through: a name, and a national id written as six and five.
    pytester.makepyfile(
        test_leaky=f"""
        from klageapi.core.logging import configure_logging, get_logger

        def test_logs_personal_data():
            configure_logging(level="INFO", json=True)
            get_logger("klageapi.leaky").info("lookup", note="{NAME}, 010190 10046")
        """
    )
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).parent.parent))

    result = pytester.runpytest_subprocess(
        "-p", "tests._leakscan", "-p", "no:cacheprovider", "-p", "no:asyncio", *processes
    )

    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "*HITS: personal data was written out*",
            "*national_id '01019010046' by klageapi.leaky at *test_leaky.py:5*",
            "*name 'Sigrunn Tveitbakk' by klageapi.leaky at *test_leaky.py:5*",
            "*during test_leaky.py::test_logs_personal_data*",
        ]
    )
