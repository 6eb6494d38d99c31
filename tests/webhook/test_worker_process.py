"""A `klageapi worker` process killed (SIGKILL) in the middle of a delivery loses nothing: its
lease runs out and another dispatcher sends the delivery (at least once; same webhook-id)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from klageapi.models import WebhookAttempt, WebhookDelivery
from tests import journey
from tests.conftest import CommittedApp
from tests.journey import AuthHeaders
from tests.webhook.conftest import Answer, Receiver, make_dispatcher
from tests.webhook.test_dispatcher import subscribe


async def test_a_killed_worker_s_delivery_is_sent_by_another(
    race_track: CommittedApp, auth: AuthHeaders, receiver: Receiver, tmp_path: Path
) -> None:
    await subscribe(race_track, auth, receiver)
    held = asyncio.Event()
    receiver.answers = [Answer(hold=held)]
    await journey.register(race_track.client, auth)
    environment = {
        **os.environ,
        "KLAGEAPI_DATABASE_URL": race_track.engine.url.render_as_string(hide_password=False),
        "KLAGEAPI_DATA_DIR": str(tmp_path),
        "KLAGEAPI_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8",
        # A lease of 2 x 2 + 5 = 9 s to wait out (as bench/crash.py's), and still two seconds
        # to kill the worker before its held attempt times out.
        "KLAGEAPI_WEBHOOK_TIMEOUT_SECONDS": "2",
    }
    worker = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "klageapi",
        "worker",
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        await receiver.wait_for(2, within=30)  # the ping, then the event, now held
    finally:
        worker.send_signal(signal.SIGKILL)
        await worker.wait()
    held.set()

    await make_dispatcher(race_track).drain(within=40)

    first, second = receiver.events()
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    async with AsyncSession(race_track.engine) as session:
        (delivery,) = (await session.scalars(select(WebhookDelivery))).all()
        attempts = (await session.scalars(select(WebhookAttempt))).all()
    assert delivery.status == "delivered"
    assert [a.status_code for a in attempts] == [204]  # the killed attempt left no record
