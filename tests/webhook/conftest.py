"""A real webhook receiver on loopback (uvicorn), answering as each test tells it."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
import uvicorn

from klageapi.webhook.dispatcher import Dispatcher
from klageapi.worker import dispatcher_for
from tests.conftest import CommittedApp


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float
    peer: tuple[str, int] | None = None  # the sender's address and port: one per connection


@dataclass
class Answer:
    status: int = 204
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    hold: asyncio.Event | None = None  # answer only once this is set


class Receiver:
    """Records every request; answers from `answers` in turn, then with `default`."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.answers: list[Answer] = []
        self.default = Answer()
        self.url = ""
        self._arrived = asyncio.Condition()

    async def __call__(self, scope: dict, receive, send) -> None:  # type: ignore[no-untyped-def]
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        async with self._arrived:
            self.received.append(
                Received(scope["path"], headers, body, time.monotonic(), scope.get("client"))
            )
            self._arrived.notify_all()
        answer = self.answers.pop(0) if self.answers else self.default
        if answer.hold is not None:
            await answer.hold.wait()
        await send(
            {
                "type": "http.response.start",
                "status": answer.status,
                "headers": [(k.encode(), v.encode()) for k, v in answer.headers.items()],
            }
        )
        await send({"type": "http.response.body", "body": answer.body})

    async def wait_for(self, count: int, *, within: float = 10.0) -> list[Received]:
        async with asyncio.timeout(within), self._arrived:
            await self._arrived.wait_for(lambda: len(self.received) >= count)
        return self.received

    def events(self) -> list[Received]:
        """What arrived other than pings."""
        return [r for r in self.received if b'"webhook.ping"' not in r.body]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    config = uvicorn.Config(
        receiver, host="127.0.0.1", port=0, log_level="warning", lifespan="off", access_log=False
    )
    server = uvicorn.Server(config)
    # Bound and listening before the server runs: early connections wait in the backlog.
    sock = socket.create_server(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    task = asyncio.create_task(server.serve(sockets=[sock]))
    receiver.url = f"http://127.0.0.1:{port}/hooks"
    yield receiver
    server.should_exit = True
    await task


def make_dispatcher(track: CommittedApp) -> Dispatcher:
    state = track.app.state
    return dispatcher_for(
        track.engine,
        state.sessionmaker,
        state.settings,
        state.http_client,
        state.clock,
        state.metrics,
    )
