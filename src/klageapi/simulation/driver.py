"""Replays the planned year over HTTP, as the NAV offices' and the Statsforvalter offices'
systems would: development tokens, real requests, business time in `occurred_at`."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import time
import uuid
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import httpx

from klageapi.core.dev_issuer import DevIssuer
from klageapi.simulation.scenario import Capacity, PlannedAppeal, Registry, Step

__all__ = ["Driver", "SimulationFailed", "routing_of"]

_PDF = b"%PDF-1.7\n"
_SCOPES = "klageapi:read klageapi:write"
_TOKEN_REFRESH_SECONDS = 1800.0  # development tokens live an hour


class SimulationFailed(Exception):
    """The service refused a step the plan says is allowed."""


async def routing_of(client: httpx.AsyncClient, admin: dict[str, str]) -> dict[str, str]:
    response = await client.get("/v1/offices/routing", headers=admin)
    response.raise_for_status()
    return {row["county"]: row["statsforvalter_office_id"] for row in response.json()["items"]}


@dataclass
class _State:
    """What the driver learns about one appeal as it goes."""

    appeal_id: str = ""
    etag: str = ""
    package_id: str = ""
    request_id: str = ""
    documents: list[str] = field(default_factory=list)
    decision_document: str = ""


# httpx's connection pool does work per request for every connection it holds: with one
# client per worker, each pool holds one connection (the simulation's client was its bottleneck).
_worker_client: ContextVar[httpx.AsyncClient | None] = ContextVar("worker_client", default=None)


class Driver:
    def __init__(
        self,
        client: httpx.AsyncClient,
        issuer: DevIssuer,
        registry: Registry,
        *,
        seed: int,
        concurrency: int = 24,
        worker_clients: Sequence[httpx.AsyncClient] = (),
    ) -> None:
        self._main_client = client
        self._worker_clients = list(worker_clients)
        self._issuer = issuer
        self._registry = registry
        self._rng = random.Random(seed)
        # Tells this run's appeals from an earlier run's with the same seed on one service.
        self._run = uuid.uuid4().hex[:8]
        self._concurrency = concurrency
        self._tokens: dict[str, tuple[float, dict[str, str]]] = {}
        self._states: dict[int, _State] = {}

    @property
    def _client(self) -> httpx.AsyncClient:
        """The running worker's own client, if it has one, else the one given."""
        return _worker_client.get(None) or self._main_client

    def headers(self, organisation: str, scopes: str = _SCOPES) -> dict[str, str]:
        """A development token's header, minted again once half its hour has passed: a year
        on a busy machine can take longer than a token lives."""
        key = f"{organisation} {scopes}"
        minted, header = self._tokens.get(key, (-_TOKEN_REFRESH_SECONDS, {}))
        if time.monotonic() - minted >= _TOKEN_REFRESH_SECONDS:
            token = self._issuer.organisation_token(organisation, scopes)
            header = {"Authorization": f"Bearer {token}"}
            self._tokens[key] = (time.monotonic(), header)
        return header

    async def set_up_registry(self, admin_organisation: str) -> None:
        """One NAV office per county, and an organisation number for every Statsforvalter
        office that has none."""
        admin = self.headers(admin_organisation, "klageapi:admin")
        for office in self._registry.nav_offices:
            response = await self._client.put(
                f"/v1/offices/nav/{office.unit_number}",
                json={
                    "name": office.name,
                    "organisation_number": office.organisation_number,
                    "municipality_numbers": [office.municipality_number],
                },
                headers=admin,
            )
            _expect(response, 200, 201)
        listed = await self._client.get(
            "/v1/offices/statsforvalter", params={"limit": 500}, headers=admin
        )
        listed.raise_for_status()
        for office in listed.json()["items"]:
            planned = self._registry.statsforvalter_organisations.get(office["id"])
            if office.get("organisation_number"):
                self._registry.statsforvalter_organisations[office["id"]] = office[
                    "organisation_number"
                ]
            elif planned is not None:
                response = await self._client.put(
                    f"/v1/offices/statsforvalter/{office['id']}",
                    json={"name": office["name"], "organisation_number": planned},
                    headers=admin,
                )
                _expect(response, 200, 201)

    async def run(
        self,
        plans: list[PlannedAppeal],
        *,
        advance: Callable[[int], None] | None = None,
        steps: Callable[[PlannedAppeal], range] | None = None,
    ) -> None:
        """Every plan, `concurrency` appeals at a time, each appeal's steps in order (those in
        the range `steps` gives for it, or all)."""
        queue: asyncio.Queue[PlannedAppeal] = asyncio.Queue()
        for plan in plans:
            queue.put_nowait(plan)

        async def worker(index: int) -> None:
            if self._worker_clients:
                # Each worker task has its own context: its steps go through its own client.
                _worker_client.set(self._worker_clients[index % len(self._worker_clients)])
            while not queue.empty():
                plan = queue.get_nowait()
                await self._play(plan, steps(plan) if steps else range(len(plan.steps)))
                if advance is not None:
                    advance(1)

        await asyncio.gather(*(worker(index) for index in range(self._concurrency)))

    async def _play(self, plan: PlannedAppeal, indices: range) -> None:
        state = self._states.setdefault(plan.index, _State())
        office = plan.statsforvalter_office_id  # the office it ends at (after a re-route)
        handling = next(
            (s.values["from"] for s in plan.steps if s.kind == "reject_not_ours"), office
        )
        for index, step in enumerate(plan.steps):
            if index in indices:
                nav = self.headers(plan.office.organisation_number)
                sf = self.headers(self._registry.statsforvalter_organisations[handling])
                await self._step(plan, step, state, nav=nav, sf=sf)
            if step.kind == "reject_not_ours":
                handling = step.values["to"]

    async def serve_queue(
        self,
        office: str,
        arrivals: list[PlannedAppeal],
        capacity: Capacity,
        *,
        order: str,
        now: dt.datetime,
        client: httpx.AsyncClient | None = None,
    ) -> dict[int, dt.datetime]:
        """The Statsforvalter office `office` through the year: it receives each arrival's
        package when the plan says, and whenever it can take up a case (`capacity`) and one is
        waiting, it asks the list of appeals for its queue in `order` and starts reviewing the
        first. When each plan's review started (by plan index)."""
        if client is not None:
            _worker_client.set(client)
        organisation = self._registry.statsforvalter_organisations[office]
        by_id: dict[str, PlannedAppeal] = {}
        pending = sorted(arrivals, key=lambda plan: (plan.receipt_at, plan.index))
        started: dict[int, dt.datetime] = {}
        waiting = 0
        at = capacity.opens_at
        while True:
            if not waiting:  # idle: the next case is the next to arrive
                if not pending:
                    break
                at = max(at, _receipt(pending[0]))
            if at > now:
                break
            while pending and _receipt(pending[0]) <= at:
                plan = pending.pop(0)
                await self._receive(plan, self.headers(organisation))
                by_id[self._states[plan.index].appeal_id] = plan
                waiting += 1
            listed = await self._send(
                "GET",
                "/v1/appeals",
                self.headers(organisation),
                params={
                    "status": "received_by_statsforvalter",
                    "statsforvalter_office": office,
                    "order": order,
                    "limit": 1,
                },
                ok=(200,),
            )
            items = listed.json()["items"]
            if not items or items[0]["id"] not in by_id or by_id[items[0]["id"]].index in started:
                raise SimulationFailed(
                    f"{office}'s queue at {at.isoformat()} answered {items[:1]!r}, not one of"
                    f" the {waiting} appeals received and waiting"
                )
            plan = by_id[items[0]["id"]]
            state = self._states[plan.index]
            await self._transition(
                f"/v1/appeals/{state.appeal_id}/statsforvalter-review",
                self.headers(organisation),
                state,
                {"occurred_at": at.isoformat()},
            )
            started[plan.index] = at
            waiting -= 1
            at = capacity.next_after(at)
        for plan in pending:  # arrived after the last case it could take up this year
            await self._receive(plan, self.headers(organisation))
        return started

    async def _receive(self, plan: PlannedAppeal, sf: dict[str, str]) -> None:
        state = self._states[plan.index]
        step = next(step for step in plan.steps if step.kind == "receipt")
        await self._step(plan, step, state, nav={}, sf=sf)

    async def _step(
        self,
        plan: PlannedAppeal,
        step: Step,
        state: _State,
        *,
        nav: dict[str, str],
        sf: dict[str, str],
    ) -> None:
        at = step.at.isoformat()
        appeal = f"/v1/appeals/{state.appeal_id}"
        match step.kind:
            case "register":
                body = {
                    "nav_office_unit_number": plan.office.unit_number,
                    "municipality_number": plan.office.municipality_number,
                    "national_id": plan.national_id,
                    "decision": {
                        "reference": f"SIM-VEDTAK-{plan.index}",
                        "decided_on": plan.decision_decided_on.isoformat(),
                        "notified_on": (
                            plan.decision_decided_on + dt.timedelta(days=1)
                        ).isoformat(),
                    },
                    "received_on": plan.received_at.date().isoformat(),
                    "channel": plan.channel,
                    "grounds": "Simulert klage.",
                    "external_reference": f"SIM-{self._run}-{plan.index}",
                    "occurred_at": at,
                }
                response = await self._send("POST", "/v1/appeals", nav, json=body, ok=(200, 201))
                state.appeal_id = response.json()["id"]
                state.etag = response.headers["etag"]
            case "upload" | "upload_decision":
                category = step.values["category"]
                headers = sf if step.kind == "upload_decision" else nav
                response = await self._send(
                    "POST",
                    f"{appeal}/documents",
                    {**headers, "Content-Type": "application/pdf"},
                    params={"category": category, "title": category, "file_name": "sim.pdf"},
                    content=_PDF + self._rng.randbytes(600),
                    ok=(201,),
                )
                if step.kind == "upload_decision":
                    state.decision_document = response.json()["id"]
                else:
                    state.documents.append(response.json()["id"])
            case "nav_review":
                await self._transition(f"{appeal}/nav-review", nav, state, {"occurred_at": at})
            case "nav_outcome":
                body = {
                    "outcome": step.values["outcome"],
                    "decided_on": step.at.date().isoformat(),
                    "reasoning": "Simulert vurdering.",
                    "occurred_at": at,
                }
                await self._transition(f"{appeal}/nav-outcome", nav, state, body, if_match=True)
            case "withdraw":
                await self._transition(f"{appeal}/withdrawal", nav, state, {"occurred_at": at})
            case "forward":
                form: dict[str, Any] = {"occurred_at": at}
                if plan.urgent:
                    form |= {"urgent": True, "urgent_reason": "eviction"}
                response = await self._send("POST", f"{appeal}/packages", nav, json=form, ok=(201,))
                state.package_id = response.json()["id"]
            case "reject_incomplete" | "reject_not_ours":
                body = {"occurred_at": at}
                if step.kind == "reject_incomplete":
                    body |= {"reason": "incomplete", "description": "Mangler vedlegg."}
                else:
                    body |= {"reason": "not_ours", "statsforvalter_office_id": step.values["to"]}
                await self._send(
                    "POST", f"/v1/packages/{state.package_id}/rejection", sf, json=body, ok=(200,)
                )
            case "receipt" | "receipt_supplementary":
                await self._send(
                    "POST",
                    f"/v1/packages/{state.package_id}/receipt",
                    sf,
                    json={"statsforvalter_case_number": f"SIM/{plan.index}", "occurred_at": at},
                    ok=(200,),
                )
            case "review":
                await self._transition(
                    f"{appeal}/statsforvalter-review", sf, state, {"occurred_at": at}
                )
            case "preliminary_reply":
                expected = step.at.date() + dt.timedelta(days=step.values["expect_days"])
                await self._transition(
                    f"{appeal}/preliminary-replies",
                    sf,
                    state,
                    {"expected_decision_on": expected.isoformat(), "occurred_at": at},
                )
            case "request_documentation":
                response = await self._send(
                    "POST",
                    f"{appeal}/documentation-requests",
                    sf,
                    json={
                        "description": "Send oppdatert dokumentasjon.",
                        "due_on": (step.at.date() + dt.timedelta(days=14)).isoformat(),
                        "occurred_at": at,
                    },
                    ok=(201,),
                )
                state.request_id = response.json()["id"]
            case "fulfil":
                response = await self._send(
                    "POST",
                    f"/v1/documentation-requests/{state.request_id}/fulfilment",
                    nav,
                    json={"document_ids": state.documents[-1:], "occurred_at": at},
                    ok=(201,),
                )
                state.package_id = response.json()["id"]
            case "decide":
                body = {
                    "outcome": step.values["outcome"],
                    "decided_on": step.at.date().isoformat(),
                    "document_id": state.decision_document,
                    "occurred_at": at,
                }
                await self._transition(f"{appeal}/decision", sf, state, body, if_match=True)
            case _:
                raise ValueError(f"unknown step {step.kind!r}")

    async def _transition(
        self,
        path: str,
        headers: dict[str, str],
        state: _State,
        body: dict[str, Any],
        *,
        if_match: bool = False,
    ) -> None:
        if if_match:
            response = await self._client.post(
                path, headers={**headers, "If-Match": state.etag}, json=body
            )
            if response.status_code == 412:
                # Another step (a receipt, a fulfilment) moved the version: as a case system
                # would, take the current ETag and send the step again.
                state.etag = response.json()["current_etag"]
                response = await self._client.post(
                    path, headers={**headers, "If-Match": state.etag}, json=body
                )
            if response.status_code != 200:
                raise SimulationFailed(
                    f"POST {path} answered {response.status_code}: {response.text[:500]}"
                )
        else:
            response = await self._send("POST", path, headers, json=body, ok=(200,))
        state.etag = response.headers.get("etag", state.etag)

    async def _send(
        self, method: str, path: str, headers: dict[str, str], *, ok: tuple[int, ...], **kw: Any
    ) -> httpx.Response:
        response = await self._client.request(method, path, headers=headers, **kw)
        if response.status_code not in ok:
            raise SimulationFailed(
                f"{method} {path} answered {response.status_code}: {response.text[:500]}"
            )
        return response


def _receipt(plan: PlannedAppeal) -> dt.datetime:
    at = plan.receipt_at
    assert at is not None
    return at


def _expect(response: httpx.Response, *statuses: int) -> None:
    if response.status_code not in statuses:
        raise SimulationFailed(f"{response.request.url} answered {response.status_code}")
