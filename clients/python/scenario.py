"""One appeal from NAV to the Statsforvalter and back, through the Python client generated from
openapi/openapi.json (package klageapi_client), against a running klageapi: every request,
uploads included, goes through a generated operation, and ETag and Location are read from the
generated responses.

clients/serve_and_run.py gives it the service and the tokens in KLAGEAPI_BASE_URL,
KLAGEAPI_NAV_TOKEN, KLAGEAPI_SF_TOKEN, KLAGEAPI_CITIZEN_TOKEN and KLAGEAPI_CITIZEN_NATIONAL_ID.
Every step checks its answer; the first unexpected one stops the scenario with exit status 1.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import json
import os
import sys
import uuid
import zipfile
from typing import Any, TypeVar

from klageapi_client import AuthenticatedClient
from klageapi_client.api.appeals import (
    decide_appeal,
    get_appeal,
    record_nav_outcome,
    register_appeal,
    start_nav_review,
    start_statsforvalter_review,
)
from klageapi_client.api.citizen import list_my_appeals
from klageapi_client.api.documents import upload_document
from klageapi_client.api.packages import (
    acknowledge_package,
    forward_appeal,
    get_package,
    get_package_bundle,
    list_packages,
)
from klageapi_client.models import (
    AppealCreate,
    AppealRead,
    AppealStatus,
    Channel,
    CitizenAppealPage,
    DecisionCreate,
    DecisionRef,
    DocumentCategory,
    DocumentRead,
    NavOutcome,
    NavOutcomeCreate,
    PackagePage,
    PackageRead,
    PackageStatus,
    ReceiptCreate,
    StatsforvalterOutcome,
)
from klageapi_client.types import File, Response

T = TypeVar("T")

NAV_OFFICE = "1103"  # NAV Stavanger in the demo registry; its municipality is Stavanger, 1103
SF_OFFICE = "sf-rogaland"  # where county 11 is routed


class ScenarioFailed(Exception):
    pass


def expect(step: str, response: Response[Any], status: int, kind: type[T]) -> T:
    """The parsed body of an answer with `status`; anything else (a Problem, say) fails."""
    if response.status_code != status or not isinstance(response.parsed, kind):
        body = response.content.decode(errors="replace")[:500]
        raise ScenarioFailed(f"{step}: expected {status}, got {int(response.status_code)}: {body}")
    print(f"   {step}: {int(response.status_code)}")
    return response.parsed


def pdf(text: str) -> bytes:
    """A small file that passes the service's PDF sniffing (it starts with %PDF-)."""
    return b"%PDF-1.7\n% " + text.encode() + b"\n" + os.urandom(256) + b"\n%%EOF\n"


def header(step: str, response: Response[Any], name: str) -> str:
    """A header the contract declares for this answer, read from the generated response."""
    value = response.headers.get(name)
    if value is None:
        raise ScenarioFailed(f"{step}: no {name} header")
    return value


def upload(
    client: AuthenticatedClient, appeal_id: uuid.UUID, category: DocumentCategory, data: bytes
) -> DocumentRead:
    """Upload one PDF through the generated `upload_document`: the body is the file itself.

    clients/python/config.yaml has the generator read application/pdf as bytes; it cannot
    choose among several media types for one body, so JPEG and PNG uploads are left to the
    client's own httpx client (the two expected warnings).
    """
    digest = base64.b64encode(hashlib.sha256(data).digest()).decode()
    step = f"upload {category.value}"
    answer = upload_document.sync_detailed(
        appeal_id,
        client=client,
        body=File(payload=io.BytesIO(data), file_name=f"{category.value}.pdf"),
        category=category,
        title=category.value,
        file_name=f"{category.value}.pdf",
        content_digest=f"sha-256=:{digest}:",
    )
    document = expect(step, answer, 201, DocumentRead)
    if document.sha256 != hashlib.sha256(data).hexdigest() or document.size != len(data):
        raise ScenarioFailed(f"{step}: the service stored other bytes than were sent")
    if header(step, answer, "Location") != f"/v1/documents/{document.id}/content":
        raise ScenarioFailed(f"{step}: Location is not the document's content")
    return document


def check_bundle(bundle: bytes, package: PackageRead, documents: list[DocumentRead]) -> None:
    """The ZIP holds manifest.json and every document, each with the sha256 the manifest gives."""
    with zipfile.ZipFile(io.BytesIO(bundle)) as archive:
        names = archive.namelist()
        if "manifest.json" not in names:
            raise ScenarioFailed(f"bundle: no manifest.json in {names}")
        manifest = json.loads(archive.read("manifest.json"))
        if manifest["package_id"] != str(package.id):
            raise ScenarioFailed("bundle: manifest.json is another package's")
        contents = {hashlib.sha256(archive.read(name)).hexdigest() for name in names}
    missing = {d.sha256 for d in documents} - contents
    if missing:
        raise ScenarioFailed(f"bundle: documents missing from the ZIP: {sorted(missing)}")
    print(f"   bundle: {len(bundle)} bytes, {len(names)} files, every sha256 matches")


def run(base_url: str, nav_token: str, sf_token: str, citizen_token: str, national_id: str) -> None:
    today = dt.date.today()
    nav = AuthenticatedClient(base_url=base_url, token=nav_token)
    sf = AuthenticatedClient(base_url=base_url, token=sf_token)
    citizen = AuthenticatedClient(base_url=base_url, token=citizen_token)

    print("NAV Stavanger registers the appeal, reviews it and forwards it")
    reference = f"PY-{uuid.uuid4().hex[:12]}"
    registered = register_appeal.sync_detailed(
        client=nav,
        idempotency_key=f"register-{reference}",
        body=AppealCreate(
            nav_office_unit_number=NAV_OFFICE,
            municipality_number=NAV_OFFICE,
            national_id=national_id,
            decision=DecisionRef(
                reference=f"VEDTAK-{reference}",
                decided_on=today - dt.timedelta(days=20),
                notified_on=today - dt.timedelta(days=19),
            ),
            received_on=today - dt.timedelta(days=5),
            channel=Channel.DIGITAL,
            grounds="Jeg mener vedtaket er feil.",
            external_reference=reference,
        ),
    )
    appeal = expect("register", registered, 201, AppealRead)
    if header("register", registered, "Location") != f"/v1/appeals/{appeal.id}":
        raise ScenarioFailed("register: Location is not the appeal's")
    if header("register", registered, "ETag") != '"1"':
        raise ScenarioFailed('register: a new appeal\'s ETag is not "1"')
    if appeal.statsforvalter_office_id != SF_OFFICE or appeal.status != AppealStatus.RECEIVED:
        raise ScenarioFailed(
            f"register: routed to {appeal.statsforvalter_office_id}, {appeal.status}"
        )
    expect("nav-review", start_nav_review.sync_detailed(appeal.id, client=nav), 200, AppealRead)
    documents = [
        upload(nav, appeal.id, category, pdf(f"{category.value} for {reference}"))
        for category in (
            DocumentCategory.APPEAL,
            DocumentCategory.DECISION,
            DocumentCategory.FORWARDING_LETTER,
            DocumentCategory.APPLICATION,
        )
    ]
    current = get_appeal.sync_detailed(appeal.id, client=nav)
    expect("read for its ETag", current, 200, AppealRead)
    expect(
        "nav-outcome upheld",
        record_nav_outcome.sync_detailed(
            appeal.id,
            client=nav,
            if_match=header("read for its ETag", current, "ETag"),
            body=NavOutcomeCreate(
                outcome=NavOutcome.UPHELD, decided_on=today, reasoning="Vilkårene er ikke oppfylt."
            ),
        ),
        200,
        AppealRead,
    )
    forwarding = forward_appeal.sync_detailed(appeal.id, client=nav)
    forwarded = expect("forward", forwarding, 201, PackageRead)
    if header("forward", forwarding, "Location") != f"/v1/packages/{forwarded.id}":
        raise ScenarioFailed("forward: Location is not the package's")

    print("Statsforvalteren i Rogaland pulls the package, acknowledges it and decides")
    feed = expect(
        "pull feed",
        list_packages.sync_detailed(client=sf, status=PackageStatus.AWAITING_RECEIPT, limit=500),
        200,
        PackagePage,
    )
    if forwarded.id not in {item.id for item in feed.items}:
        raise ScenarioFailed("pull feed: the forwarded package is not in it")
    package = expect(
        "manifest", get_package.sync_detailed(forwarded.id, client=sf), 200, PackageRead
    )
    bundle = get_package_bundle.sync_detailed(package.id, client=sf)
    if bundle.status_code != 200:
        raise ScenarioFailed(f"bundle: expected 200, got {int(bundle.status_code)}")
    check_bundle(bundle.content, package, documents)
    received = expect(
        "receipt",
        acknowledge_package.sync_detailed(
            package.id,
            client=sf,
            body=ReceiptCreate(statsforvalter_case_number=f"2026/{reference}"),
        ),
        200,
        PackageRead,
    )
    if received.status != PackageStatus.RECEIVED:
        raise ScenarioFailed(f"receipt: the package is {received.status}")
    expect(
        "statsforvalter-review",
        start_statsforvalter_review.sync_detailed(appeal.id, client=sf),
        200,
        AppealRead,
    )
    decision_document = upload(
        sf, appeal.id, DocumentCategory.STATSFORVALTER_DECISION, pdf(f"vedtak {reference}")
    )
    current = get_appeal.sync_detailed(appeal.id, client=sf)
    expect("read for its ETag", current, 200, AppealRead)
    decided = expect(
        "decision upheld",
        decide_appeal.sync_detailed(
            appeal.id,
            client=sf,
            if_match=header("read for its ETag", current, "ETag"),
            body=DecisionCreate(
                outcome=StatsforvalterOutcome.UPHELD,
                decided_on=today,
                document_id=decision_document.id,
            ),
        ),
        200,
        AppealRead,
    )
    if decided.status != AppealStatus.DECIDED:
        raise ScenarioFailed(f"decision: the appeal is {decided.status}")

    print("The citizen reads the status")
    mine = expect(
        "GET /v1/me/appeals",
        list_my_appeals.sync_detailed(client=citizen, accept_language="en"),
        200,
        CitizenAppealPage,
    )
    if [item.id for item in mine.items] != [appeal.id]:
        raise ScenarioFailed(f"/v1/me/appeals: expected only {appeal.id}, got {mine.items}")
    now = mine.items[0].now
    if now.status != AppealStatus.DECIDED:
        raise ScenarioFailed(f"/v1/me/appeals: the citizen sees {now.status}, not decided")
    print(f'   the citizen sees: {now.status.value}, "{now.description}", outcome: {now.outcome}')


def main() -> int:
    try:
        run(
            os.environ["KLAGEAPI_BASE_URL"],
            os.environ["KLAGEAPI_NAV_TOKEN"],
            os.environ["KLAGEAPI_SF_TOKEN"],
            os.environ["KLAGEAPI_CITIZEN_TOKEN"],
            os.environ["KLAGEAPI_CITIZEN_NATIONAL_ID"],
        )
    except ScenarioFailed as failure:
        print(f"FAILED: {failure}", file=sys.stderr)
        return 1
    print("Python scenario: the appeal went from NAV to the Statsforvalter, and was decided")
    return 0


if __name__ == "__main__":
    sys.exit(main())
