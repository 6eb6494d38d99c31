"""A real webhook receiver on loopback (uvicorn), answering as each test tells it: one server for
the run, and each test's receiver at a path of its own on it."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

import pytest
import uvicorn

from klageapi.webhook.dispatcher import Dispatcher
from klageapi.worker import dispatcher_for
from tests.conftest import CommittedApp, loopback_listener


@dataclass
class Received:
    path: str  # as the test's receiver saw it: after its own prefix, /hooks...
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

    def __init__(self, root: str) -> None:
        self.received: list[Received] = []
        self.answers: list[Answer] = []
        self.default = Answer()
        self.root = root  # every URL under it reaches this receiver
        self.url = f"{root}/hooks"
        self._arrived = asyncio.Condition()
        self._held: list[asyncio.Event] = []

    async def take(self, scope: dict, receive, send, path: str) -> None:  # type: ignore[no-untyped-def]
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        async with self._arrived:
            self.received.append(
                Received(path, headers, body, time.monotonic(), scope.get("client"))
            )
            self._arrived.notify_all()
        answer = self.answers.pop(0) if self.answers else self.default
        if answer.hold is not None:
            self._held.append(answer.hold)
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

    def release(self) -> None:
        """Give every answer still held, so no request waits past its test."""
        for hold in self._held:
            hold.set()


class ReceiverServer:
    """Sends a request for /<key>/<rest> to the receiver registered under `key`, as /<rest>;
    one for a key no longer registered (a test that is over) is answered 404."""

    def __init__(self) -> None:
        self.base_url = ""
        self.receivers: dict[str, Receiver] = {}

    async def __call__(self, scope: dict, receive, send) -> None:  # type: ignore[no-untyped-def]
        if scope["type"] != "http":
            return
        _, key, *rest = scope["path"].split("/", 2)
        receiver = self.receivers.get(key)
        if receiver is None:
            await send({"type": "http.response.start", "status": 404, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        await receiver.take(scope, receive, send, "/" + "".join(rest))


@pytest.fixture(scope="session")
async def receiver_server() -> AsyncIterator[ReceiverServer]:
    """The run's receiver server. One per test spent some 0.2 s of each webhook test stopping
    (uvicorn's shutdown polls every 0.1 s)."""
    server = ReceiverServer()
    config = uvicorn.Config(
        server,
        host="127.0.0.1",
        port=0,
        log_level="warning",
        lifespan="off",
        access_log=False,
        timeout_graceful_shutdown=5,
    )
    uvicorn_server = uvicorn.Server(config)
    # Bound and listening before the server runs: early connections wait in the backlog.
    sock = loopback_listener()
    server.base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    task = asyncio.create_task(uvicorn_server.serve(sockets=[sock]))
    yield server
    uvicorn_server.should_exit = True
    await task


@pytest.fixture
def receiver(receiver_server: ReceiverServer) -> Iterator[Receiver]:
    """The test's own receiver: at a path of its own, so nothing sent in another test reaches
    it."""
    key = uuid.uuid4().hex[:12]
    receiver = Receiver(f"{receiver_server.base_url}/{key}")
    receiver_server.receivers[key] = receiver
    yield receiver
    del receiver_server.receivers[key]
    receiver.release()


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
