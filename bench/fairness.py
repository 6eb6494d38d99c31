"""No client takes another's capacity: another organisation's read latency on a quiet service,
then while one organisation holds many slow uploads and many subscription creations whose ping
a slow receiver answers late.

    python3 -m uv run python bench/fairness.py [--uploads 45] [--subscriptions 45]
        [--reads 1000] [--ping-seconds 12] [--byte-every 2]

NAV Stavanger (the attacker) opens `--uploads` uploads to one of its appeals that send their
first bytes and then one byte every `--byte-every` seconds, and `--subscriptions` webhook
subscription creations whose ping a receiver on loopback answers only after `--ping-seconds`
(and after the measurement), all with Idempotency-Keys. Once all of them are under way, NAV Oslo
(the victim) reads one of its appeals `--reads` times, one after another, as it did on the
quiet service before. Both sets of reads have a 15 s timeout each. Printed: p50 and p99 of
each, their ratios, timeouts, and the most database connections seen idle in a transaction for
over a second while the attack was held. The goal: p99 under attack at most twice the quiet p99,
and no timeouts (and, for the figure to mean anything, every slow request still running when
the reads ended and no connection held).

The service runs with its pool of 30 + 10 connections, and with the per-organisation cap on
requests at once raised above the attack, so that every slow request is admitted and the figure
shows that none of them holds a connection (with the default cap of 32, the attacker's requests
past the 32nd would be refused with 429 instead).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import json
import sys
import time
import uuid
from typing import Any

import asyncpg
import httpx
from _harness import (
    DEMO_NAV_OFFICE,
    Service,
    free_port,
    national_ids,
    percentile,
    running_service,
)

from klageapi.core.dev_issuer import DevIssuer

VICTIM_ORGANISATION = "988888885"  # NAV Oslo in the demo registry
VICTIM_OFFICE = "0301"
READ_TIMEOUT_SECONDS = 15.0
GOAL_RATIO = 2.0


def _appeal(national_id: str, office: str, reference: str) -> dict[str, Any]:
    return {
        "nav_office_unit_number": office,
        "municipality_number": office,
        "national_id": national_id,
        "decision": {
            "reference": f"VEDTAK-{reference}",
            "decided_on": "2026-10-01",
            "notified_on": "2026-10-02",
        },
        "received_on": "2026-10-15",
        "channel": "digital",
        "grounds": "Jeg mener vedtaket er feil.",
        "external_reference": reference,
    }


class SlowReceiver:
    """A webhook receiver on loopback that answers each request (a ping) no sooner than
    `hold_seconds` after it arrived, and not before `release` is set."""

    def __init__(self, hold_seconds: float) -> None:
        self.hold_seconds = hold_seconds
        self.release = asyncio.Event()
        self.arrived = 0
        self._server: asyncio.Server | None = None
        self.port = free_port()

    async def __aenter__(self) -> SlowReceiver:
        self._server = await asyncio.start_server(self._answer, "127.0.0.1", self.port)
        return self

    async def __aexit__(self, *_: object) -> None:
        self.release.set()
        assert self._server is not None
        self._server.close()

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            await reader.readexactly(length)
            self.arrived += 1
            await asyncio.gather(asyncio.sleep(self.hold_seconds), self.release.wait())
            writer.write(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


class SlowUpload:
    """One upload over a raw connection: the headers and the file's first bytes, then one byte
    every `byte_every` seconds until `finish` is set, then the rest at once."""

    def __init__(self, service: Service, appeal_id: str, number: int, byte_every: float) -> None:
        self.service = service
        self.content = b"%PDF-1.7\n" + f"slow upload {number} ".encode() * 400
        self.path = (
            f"/v1/appeals/{appeal_id}/documents?category=supporting_document&title=Slow{number}"
        )
        self.number = number
        self.byte_every = byte_every
        self.started = asyncio.Event()
        self.finish = asyncio.Event()
        self.status: int | None = None

    async def run(self) -> None:
        port = int(self.service.base_url.rsplit(":", 1)[1])
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        digest = base64.b64encode(hashlib.sha256(self.content).digest()).decode()
        head = (
            f"POST {self.path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Authorization: Bearer {self.service.token}\r\nContent-Type: application/pdf\r\n"
            f"Content-Length: {len(self.content)}\r\nContent-Digest: sha-256=:{digest}:\r\n"
            f"Idempotency-Key: slow-upload-{self.number}\r\nConnection: close\r\n\r\n"
        )
        writer.write(head.encode() + self.content[:9])
        await writer.drain()
        self.started.set()
        sent = 9
        while not self.finish.is_set() and sent < len(self.content) - 1:
            try:
                await asyncio.wait_for(self.finish.wait(), self.byte_every)
            except TimeoutError:
                writer.write(self.content[sent : sent + 1])
                await writer.drain()
                sent += 1
        writer.write(self.content[sent:])
        await writer.drain()
        status_line = await reader.readline()
        self.status = int(status_line.split()[1])
        writer.close()


async def _reads(
    client: httpx.AsyncClient, path: str, count: int, *, within: float = float("inf")
) -> tuple[list[float], int]:
    """`count` reads one after another (fewer if `within` seconds run out): their latencies in
    seconds, and how many timed out."""
    latencies: list[float] = []
    timeouts = 0
    ends = time.monotonic() + within
    for _ in range(count):
        if time.monotonic() > ends:
            break
        began = time.perf_counter()
        try:
            response = await client.get(path, timeout=READ_TIMEOUT_SECONDS)
        except httpx.TimeoutException:
            timeouts += 1
            continue
        latencies.append(time.perf_counter() - began)
        if response.status_code != 200:
            raise RuntimeError(f"GET {path}: {response.status_code} {response.text[:300]}")
    return latencies, timeouts


class HeldTransactions:
    """Samples pg_stat_activity every half second: the most connections seen idle in a
    transaction for longer than a second (a transaction waiting on something outside it; the
    service's own short transactions are idle between their statements for well under that)."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.most = 0
        self.samples = 0
        self._stop = asyncio.Event()

    async def run(self) -> None:
        connection = await asyncpg.connect(self.dsn)
        try:
            while not self._stop.is_set():
                held: int = await connection.fetchval(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND state LIKE 'idle in transaction%' "
                    "AND now() - state_change > interval '1 second'"
                )
                self.most, self.samples = max(self.most, held), self.samples + 1
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), 0.5)
        finally:
            await connection.close()

    def stop(self) -> None:
        self._stop.set()


def _describe(name: str, latencies: list[float], timeouts: int) -> tuple[float, float]:
    p50, p99 = percentile(latencies, 0.50), percentile(latencies, 0.99)
    print(
        f"  {name}: {len(latencies)} reads, p50 {p50 * 1000:.2f} ms, p99 {p99 * 1000:.2f} ms, "
        f"max {max(latencies) * 1000:.2f} ms, timeouts {timeouts}"
    )
    return p50, p99


async def run(args: argparse.Namespace) -> bool:
    settings = {
        "KLAGEAPI_LOG_LEVEL": "WARNING",
        "KLAGEAPI_RUN_WORKER": "false",
        "KLAGEAPI_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8",
        # The pings are held through the whole measurement: the longest timeout there is.
        "KLAGEAPI_WEBHOOK_TIMEOUT_SECONDS": "120",
        "KLAGEAPI_ORGANISATION_MAX_CONCURRENT_REQUESTS": str(
            args.uploads + args.subscriptions + 16
        ),
        "KLAGEAPI_ORGANISATION_REQUESTS_PER_SECOND": "0",
        "KLAGEAPI_IDEMPOTENCY_CLAIM_SECONDS": "300",
    }
    with running_service(settings=settings) as service:
        victim_token = DevIssuer(service.data_dir).organisation_token(
            f"0192:{VICTIM_ORGANISATION}", "klageapi:read klageapi:write"
        )
        victim_headers = {"Authorization": f"Bearer {victim_token}"}
        ids = national_ids(2)
        limits = httpx.Limits(max_connections=args.subscriptions + 8)
        async with (
            httpx.AsyncClient(base_url=service.base_url, headers=victim_headers) as victim,
            httpx.AsyncClient(
                base_url=service.base_url,
                headers=service.headers,
                limits=limits,
                # The creations wait for the slow pings, and for the whole measurement.
                timeout=600,
            ) as attacker,
            SlowReceiver(args.ping_seconds) as receiver,
        ):
            own = await attacker.post(
                "/v1/appeals", json=_appeal(ids[0], DEMO_NAV_OFFICE, f"FAIR-{uuid.uuid4().hex}")
            )
            other = await victim.post(
                "/v1/appeals", json=_appeal(ids[1], VICTIM_OFFICE, f"FAIR-{uuid.uuid4().hex}")
            )
            if own.status_code != 201 or other.status_code != 201:
                raise RuntimeError(f"registration failed: {own.text[:300]} {other.text[:300]}")
            read_path = f"/v1/appeals/{other.json()['id']}"
            await _reads(victim, read_path, 50)  # warm up
            print(
                f"fairness: NAV Oslo reads one appeal {args.reads} times, quiet, then while NAV "
                f"Stavanger holds {args.uploads} uploads (a byte every {args.byte_every:g} s) and "
                f"{args.subscriptions} subscription creations (ping answered after "
                f"{args.ping_seconds:g} s)"
            )
            quiet, quiet_timeouts = await _reads(victim, read_path, args.reads)

            uploads = [
                SlowUpload(service, own.json()["id"], number, args.byte_every)
                for number in range(args.uploads)
            ]
            upload_tasks = [asyncio.create_task(upload.run()) for upload in uploads]
            creations = [
                asyncio.create_task(
                    attacker.post(
                        "/v1/webhook-subscriptions",
                        json={
                            "url": f"http://127.0.0.1:{receiver.port}/hooks/{number}",
                            "event_types": ["appeal.received"],
                        },
                        headers={"Idempotency-Key": f"slow-ping-{number}"},
                    )
                )
                for number in range(args.subscriptions)
            ]
            began = time.monotonic()
            await asyncio.gather(*(upload.started.wait() for upload in uploads))
            while receiver.arrived < args.subscriptions:
                if time.monotonic() - began > 60:
                    raise RuntimeError(f"only {receiver.arrived} pings arrived")
                await asyncio.sleep(0.05)
            held = HeldTransactions(service.dsn)
            sampling = asyncio.create_task(held.run())
            # Within the pings' 120 s timeout, with room for the setup above.
            attacked, attacked_timeouts = await _reads(victim, read_path, args.reads, within=90.0)
            held.stop()
            await sampling
            still_held = sum(upload.status is None for upload in uploads) + sum(
                not creation.done() for creation in creations
            )
            window = time.monotonic() - began
            for upload in uploads:
                upload.finish.set()
            receiver.release.set()
            await asyncio.gather(*upload_tasks)
            created = await asyncio.gather(*creations)

        print(
            f"  attack held for {window:.1f} s: {still_held} of "
            f"{args.uploads + args.subscriptions} slow requests still running when the reads "
            f"ended; connections idle in a transaction for over 1 s: at most {held.most} in "
            f"{held.samples} samples"
        )
        print(
            f"  the attack's answers: uploads {_statuses(u.status for u in uploads)}, "
            f"subscriptions {_statuses(c.status_code for c in created)}"
        )
        _, quiet_p99 = _describe("quiet", quiet, quiet_timeouts)
        _, attacked_p99 = _describe("under attack", attacked, attacked_timeouts)
        p50_ratio = percentile(attacked, 0.5) / percentile(quiet, 0.5)
        ratio = attacked_p99 / quiet_p99
        timeouts = quiet_timeouts + attacked_timeouts
        met = (
            ratio <= GOAL_RATIO
            and timeouts == 0
            and still_held == args.uploads + args.subscriptions
            and held.most == 0
        )
        print(
            f"fairness: p99 quiet {quiet_p99 * 1000:.2f} ms, under attack "
            f"{attacked_p99 * 1000:.2f} ms, ratio {ratio:.2f} (p50 ratio {p50_ratio:.2f}); "
            f"timeouts {timeouts} (goal: ratio <= {GOAL_RATIO:g}, no timeouts: "
            f"{'met' if met else 'MISSED'})"
        )
        return met


def _statuses(statuses: Any) -> str:
    counts: dict[str, int] = {}
    for status in statuses:
        counts[str(status)] = counts.get(str(status), 0) + 1
    return json.dumps(dict(sorted(counts.items())))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uploads", type=int, default=45)
    parser.add_argument("--subscriptions", type=int, default=45)
    parser.add_argument("--reads", type=int, default=1000)
    parser.add_argument("--ping-seconds", type=float, default=12.0)
    parser.add_argument("--byte-every", type=float, default=2.0)
    met = asyncio.run(run(parser.parse_args()))
    sys.exit(0 if met else 1)


if __name__ == "__main__":
    main()
