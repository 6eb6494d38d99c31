"""HTTP endpoints of the citizen's view: `/v1/me/appeals`, in nb, nn or en."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Query, Response

from klageapi.citizen import service
from klageapi.citizen.language import LANGUAGES, Catalogue, catalogue, negotiate
from klageapi.citizen.schemas import CitizenAppealPage, CitizenAppealRead
from klageapi.core.auth import CitizenDep
from klageapi.core.clock import ClockDep
from klageapi.core.db import SessionDep
from klageapi.core.routing import JsonRoute
from klageapi.core.schemas import problem_responses

__all__ = ["router"]

router = APIRouter(
    prefix="/me/appeals",
    tags=["citizen"],
    responses=problem_responses(401, 403),
    route_class=JsonRoute,
)

AcceptLanguage = Annotated[
    str | None,
    Header(
        description=f"One of {', '.join(LANGUAGES)} (Bokmål, Nynorsk, English); anything else"
        " gets nb. The answer's Content-Language says which was used.",
        examples=["nn-NO, nb;q=0.8"],
    ),
]


def _texts(accept_language: str | None, response: Response) -> Catalogue:
    language = negotiate(accept_language)
    response.headers["Content-Language"] = language
    response.headers["Vary"] = "Accept-Language"
    return catalogue(language)


@router.get(
    "",
    operation_id="list_my_appeals",
    response_model=CitizenAppealPage,
    responses=problem_responses(422),
)
async def list_my_appeals(
    session: SessionDep,
    citizen: CitizenDep,
    clock: ClockDep,
    response: Response,
    accept_language: AcceptLanguage = None,
    digisos_case_id: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=64,
            pattern=r"^[A-Za-z0-9-]+$",
            description="Only the appeals of this Digisos case, for showing them beside it.",
        ),
    ] = None,
) -> CitizenAppealPage:
    """The appeals the logged-in citizen made, newest first, in plain language: the steps done,
    the step now and who has the case, the steps ahead, when to expect an answer, and what the
    citizen can do. Needs an ID-porten token at level idporten-loa-high."""
    texts = _texts(accept_language, response)
    items = await service.list_own(
        session, citizen=citizen, texts=texts, clock=clock, digisos_case_id=digisos_case_id
    )
    return CitizenAppealPage(items=items)


@router.get(
    "/{appeal_id}",
    operation_id="get_my_appeal",
    response_model=CitizenAppealRead,
    responses=problem_responses(404, 422),
)
async def get_my_appeal(
    session: SessionDep,
    citizen: CitizenDep,
    clock: ClockDep,
    appeal_id: uuid.UUID,
    response: Response,
    accept_language: AcceptLanguage = None,
) -> CitizenAppealRead:
    """One of the citizen's own appeals; any other id is 404."""
    texts = _texts(accept_language, response)
    return await service.get(session, appeal_id, citizen=citizen, texts=texts, clock=clock)
