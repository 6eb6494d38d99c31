"""The `klageapi` command: serve, worker, simulate, report, migrate, dev-token, openapi,
version."""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from klageapi import __version__

# Imported where used: `dev-token` runs without pydantic-settings, rich's console or asyncio
# (bench/dev_token.py measures it).
if TYPE_CHECKING:
    from rich.console import Console

    from klageapi.core.config import Settings

app = typer.Typer(
    help="klageapi: appeals on economic social assistance.",
    no_args_is_help=True,
    # Local variables in a traceback could hold tokens or national ids.
    pretty_exceptions_show_locals=False,
)


class _Stderr:
    """rich's console on standard error, made when first used."""

    @functools.cached_property
    def console(self) -> Console:
        from rich.console import Console

        return Console(stderr=True)

    def print(self, *objects: Any, **options: Any) -> None:
        self.console.print(*objects, **options)


_err = _Stderr()


def _settings() -> Settings:
    """This command's settings, read from the environment now (not a cached copy)."""
    from pydantic import ValidationError

    from klageapi.core.config import Settings

    try:
        return Settings()
    except ValidationError as error:
        for problem in error.errors():
            variable = "KLAGEAPI_" + "_".join(str(part) for part in problem["loc"][:1]).upper()
            _err.print(f"[red]configuration refused:[/red] {variable}: {problem['msg']}")
        raise typer.Exit(code=2) from error


def _fail(message: str) -> typer.Exit:
    """One line saying what went wrong and what to do; exit status 1."""
    _err.print(f"[red]klageapi:[/red] {message}", soft_wrap=True)
    return typer.Exit(code=1)


@contextlib.contextmanager
def _plainly(*, service: str | None = None) -> Iterator[None]:
    """Ordinary mistakes (the service or the database not there, a token refused) as one line
    each, not a traceback."""
    import httpx
    from sqlalchemy.exc import DBAPIError, InterfaceError

    from klageapi.core.embedded_postgres import EmbeddedPostgresMissing

    try:
        yield
    except EmbeddedPostgresMissing as error:
        raise _fail(str(error)) from error
    except httpx.ConnectError as error:
        raise _fail(f"cannot reach {service}: is `klageapi serve` running there?") from error
    except httpx.TimeoutException as error:
        raise _fail(f"{service} did not answer in time") from error
    except httpx.HTTPStatusError as error:
        answer = error.response
        code = ""
        with contextlib.suppress(ValueError, AttributeError):
            code = f" {answer.json().get('code')}"
        hint = (
            " (the token: its scope, issuer or data folder)"
            if answer.status_code
            in (
                401,
                403,
            )
            else ""
        )
        raise _fail(
            f"{service} refused {error.request.url.path}: {answer.status_code}{code}{hint}"
        ) from error
    except (DBAPIError, InterfaceError, ConnectionError, OSError) as error:
        # asyncpg's connection failures are OSErrors; SQLAlchemy wraps the rest.
        raise _fail(
            f"cannot use the database ({type(error).__name__}): check KLAGEAPI_DATABASE_URL and"
            " that the server is up"
        ) from error


def _day(text: str | None, option: str) -> dt.date | None:
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError as error:
        raise typer.BadParameter(f"{text!r} is not a date (YYYY-MM-DD)", param_hint=option) from (
            error
        )


_SERVE_SETTINGS = """\
Everything else is set by KLAGEAPI_* environment variables (the README's Configuration lists
them all), above all:

KLAGEAPI_ENVIRONMENT: development (the default: the development token issuer and a small
demonstration registry) or production (needs the next three).

KLAGEAPI_DATABASE_URL: postgresql+asyncpg://user:password@host/database; without it an
embedded PostgreSQL runs in the data folder.

KLAGEAPI_ISSUERS: the token issuers trusted, as JSON. KLAGEAPI_SECRET_KEY: signs cursors.

KLAGEAPI_RUN_WORKER: false where `klageapi worker` processes send the webhooks.

KLAGEAPI_DOCUMENT_STORAGE: filesystem (the data folder) or s3 (with KLAGEAPI_S3_*).

KLAGEAPI_LOG_LEVEL, KLAGEAPI_LOG_JSON: the log.
"""


@app.command(epilog=_SERVE_SETTINGS)
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes.", min=1)] = 1,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            help="The data folder (KLAGEAPI_DATA_DIR; default ./.klageapi): the embedded"
            " PostgreSQL, documents on disk and the development issuer's key."
        ),
    ] = None,
) -> None:
    """Run the API. Without KLAGEAPI_DATABASE_URL it starts and migrates an embedded PostgreSQL."""
    import uvicorn

    from klageapi.core.dev_issuer import remember_served

    if data_dir is not None:
        os.environ["KLAGEAPI_DATA_DIR"] = str(data_dir)  # for the workers uvicorn starts
    settings = _settings()
    if settings.uses_embedded_database:
        from klageapi.core.embedded_postgres import embedded_postgres_installed

        if not embedded_postgres_installed():
            from klageapi.core.embedded_postgres import EmbeddedPostgresMissing

            raise _fail(str(EmbeddedPostgresMissing()))
    if settings.is_development:
        remember_served(settings.data_dir)
    with contextlib.ExitStack() as stack:
        if workers > 1:
            _share_metrics(stack)
        if workers > 1 and settings.uses_embedded_database:
            # The workers join one embedded server, started here so that it lives as long as
            # this process rather than as long as the first worker that happens to start it.
            from klageapi.core.embedded_postgres import EmbeddedPostgres

            embedded = EmbeddedPostgres(settings.data_dir)
            embedded.start()
            stack.callback(embedded.stop)
        uvicorn.run(
            "klageapi.api.app:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_config=None,
            proxy_headers=True,
        )


def _share_metrics(stack: contextlib.ExitStack) -> None:
    """The workers of one `serve` write their metrics to one folder, and a scrape that reaches
    any of them reports all (prometheus_client's multiprocess mode). The folder is this run's:
    a fresh one, or the given PROMETHEUS_MULTIPROC_DIR emptied of an earlier run's files."""
    import shutil
    import tempfile

    from klageapi.core.metrics import MULTIPROCESS_DIR_VARIABLE

    given = os.environ.get(MULTIPROCESS_DIR_VARIABLE)
    if given:
        for stale in Path(given).glob("*.db"):
            stale.unlink()
        return
    folder = tempfile.mkdtemp(prefix="klageapi-metrics-")
    os.environ[MULTIPROCESS_DIR_VARIABLE] = folder  # before uvicorn starts the workers
    stack.callback(shutil.rmtree, folder, ignore_errors=True)


@app.command()
def worker() -> None:
    """Run the webhook dispatcher (and the overdue announcements) until SIGINT or SIGTERM.
    Run as many as you like against one database; set KLAGEAPI_RUN_WORKER=false on the API
    processes when these do the sending."""
    import asyncio

    from klageapi import worker as background

    settings = _settings()
    with _plainly():
        asyncio.run(background.run(settings))


_ALL_POLICIES = ("forwarded", "citizen_wait", "urgent_then_citizen_wait")


def _policies(text: str | None) -> list[Any]:
    """`--policy`: queue orders, comma-separated, or `all` (the three the comparison is for)."""
    from klageapi.core.queue_order import AppealOrder

    if text is None:
        return []
    names = [name.strip() for name in text.split(",") if name.strip()]
    if names == ["all"]:
        names = list(_ALL_POLICIES)
    known = [order.value for order in AppealOrder if order is not AppealOrder.updated]
    unknown = [name for name in names if name not in known]
    if unknown or not names or len(set(names)) != len(names):
        _err.print(
            f"[red]--policy:[/red] {', '.join(unknown) or text!r}: give each of"
            f" {', '.join(known)} at most once, or all"
        )
        raise typer.Exit(code=2)
    return [AppealOrder(name) for name in names]


@app.command()
def simulate(
    appeals: Annotated[int, typer.Option(help="Appeals in the synthetic year.")] = 4000,
    seed: Annotated[int, typer.Option(help="Same seed, same year.")] = 1,
    base_url: Annotated[
        str | None,
        typer.Option(help="A running development service; without it one is started."),
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(help="The given service's data folder (its development token key)."),
    ] = None,
    concurrency: Annotated[int, typer.Option(help="Appeals in flight at once.")] = 24,
    policy: Annotated[
        str | None,
        typer.Option(
            help="Statsforvalter offices with queues, taking their next case in these orders"
            " (comma-separated: forwarded, urgent_first, citizen_wait, urgent_then_citizen_wait;"
            " all: forwarded, citizen_wait and urgent_then_citizen_wait): the same year under"
            " each, side by side."
        ),
    ] = None,
    comparison_out: Annotated[
        Path | None,
        typer.Option(
            help="Where the comparison of the orders is written as JSON; default"
            " simulation-comparison.json in the data folder."
        ),
    ] = None,
    report_to: Annotated[
        Path | None,
        typer.Option(
            "--report",
            help="Also write the year's report (as `klageapi report` does) to this HTML file,"
            " before the service started for the year is stopped.",
        ),
    ] = None,
) -> None:
    """Drive a synthetic year of appeals through the real API as the NAV offices' and the
    Statsforvalter offices' systems, then compare the statistics with the ground truth."""
    import asyncio

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from klageapi.simulation import comparison, runner

    orders = _policies(policy)
    if base_url is not None and len(orders) > 1:
        raise _fail(
            "a running service holds one simulated year: give one --policy with --base-url,"
            " or leave --base-url out and a service is started for each order"
        )
    now = dt.datetime.now(dt.UTC)

    def run(url: str, folder: Path, order: Any) -> runner.Outcome:
        with Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=_err.console,
            refresh_per_second=2,  # drawing it ten times a second cost the simulation's client
        ) as bar:

            def progress(total: int, requests: int) -> Any:
                task = bar.add_task(f"{total} appeals, {requests} requests", total=total)
                return lambda done: bar.advance(task, done)

            outcome = asyncio.run(
                runner.play(
                    url,
                    folder,
                    appeals=appeals,
                    seed=seed,
                    concurrency=concurrency,
                    progress=progress,
                    policy=order,
                    now=now,
                )
            )
        title = f"order {order.value}: " if order is not None else ""
        _err.print(
            f"{title}simulated {appeals} appeals ({outcome.requests} requests) in"
            f" {outcome.seconds:.0f} s, {outcome.requests / outcome.seconds:.0f} requests/s"
        )
        if order is None:
            _print_national(outcome.reported["statsforvalter_office"]["total"])
        if report_to is not None:
            from klageapi.core.dev_issuer import DevIssuer

            token = DevIssuer(folder).organisation_token(_REPORT_ADMIN, "klageapi:admin")
            end = dt.date.today()
            start = end - dt.timedelta(days=365)
            output = report_to
            if len(orders) > 1:  # a report of each order's year
                output = report_to.with_stem(f"{report_to.stem}-{order.value}")
            _write_report(url, token, start=start, end=end, output=output)
        if not outcome.differences:
            _err.print("[green]the statistics match the ground truth in every group[/green]")
            return outcome
        from rich.table import Table

        table = Table("grouping", "group", "figure", "expected", "reported", title="Differences")
        for difference in outcome.differences[:200]:
            table.add_row(
                difference.group_by,
                str(difference.key),
                difference.figure,
                str(difference.expected),
                str(difference.reported),
            )
        _err.print(table)
        _err.print(f"[red]{len(outcome.differences)} figures differ[/red]")
        return outcome

    outcomes = []
    for order in orders or [None]:
        if base_url is not None:
            with _plainly(service=base_url):
                outcomes.append(run(base_url, data_dir or _settings().data_dir, order))
        else:
            with runner.started_service() as (url, folder):
                outcomes.append(run(url, folder, order))
    failed = any(outcome.differences for outcome in outcomes)
    if orders:
        rows = [comparison.figures_of(outcome) for outcome in outcomes]
        _print_comparison(rows)
        path = comparison_out or (data_dir or _settings().data_dir) / comparison.COMPARISON_FILE
        document = comparison.comparison_document(seed=seed, appeals=appeals, rows=rows)
        comparison.write_comparison(path, document)
        _err.print(f"comparison written to {path}")
        problems = comparison.invariant_problems(rows)
        for problem in problems:
            _err.print(f"[red]queueing invariant broken:[/red] {problem}")
        if len(rows) > 1 and not problems:
            _err.print(
                "[green]queueing invariant holds: the mean wait for a case officer is the same"
                " under every order (to the minute), the mean whole wait within"
                f" {comparison.WHOLE_WAIT_TOLERANCE:.0%}[/green]"
            )
        failed = failed or bool(problems)
    raise typer.Exit(1 if failed else 0)


def _print_comparison(rows: list[Any]) -> None:
    """The orders side by side."""
    from rich.table import Table

    def days(value: float | None) -> str:
        return "-" if value is None else f"{value:.1f}"

    table = Table("", *(row.policy for row in rows), title="The same year under each order")
    table.add_row(
        "decided within 90 days of receipt (official)",
        *(
            "-" if r.official_within_90_share is None else f"{r.official_within_90_share:.1%}"
            for r in rows
        ),
    )
    for name, label in (
        ("p50", "citizen's whole wait, median (days)"),
        ("p90", "citizen's whole wait, p90"),
        ("p99", "citizen's whole wait, p99"),
        ("max", "longest whole wait"),
        ("mean", "whole wait, mean of the decided"),
    ):
        table.add_row(label, *(days(row.whole_wait_days[name]) for row in rows))
    table.add_row(
        "open past 90 days at the year's end",
        *(str(row.open_past_90_at_year_end) for row in rows),
    )
    table.add_row("appeals decided", *(str(row.decided) for row in rows))
    table.add_row(
        "invariant: mean wait for an officer",
        *(f"{row.mean_wait_for_officer_days:.3f}" for row in rows),
    )
    table.add_row(
        "invariant: mean whole wait to year's end",
        *(f"{row.mean_waited_to_year_end_days:.2f}" for row in rows),
    )
    console = _err.console
    if not console.is_terminal:  # a log or a pipe: wide enough for three orders side by side
        from rich.console import Console

        console = Console(stderr=True, width=max(console.width, 112))
    console.print(table)


def _print_national(total: dict[str, Any]) -> None:
    """The national picture: each stage's median and 90th percentile."""
    from rich.table import Table

    table = Table("stage", "appeals", "median days", "p90 days", title="All offices")
    for stage, times in total["decided"]["stages"].items():
        median, p90 = times["median_days"], times["p90_days"]
        table.add_row(
            stage,
            str(times["count"]),
            "-" if median is None else f"{median:.1f}",
            "-" if p90 is None else f"{p90:.1f}",
        )
    _err.print(table)
    share = total["decided"]["within_90_days_share"]
    if share is not None:
        _err.print(f"decided within 90 days of the Statsforvalter's receipt: {share:.0%}")


@app.command()
def report(
    base_url: Annotated[str, typer.Option(help="The service.")] = "http://127.0.0.1:8000",
    from_: Annotated[
        str | None, typer.Option("--from", help="First day (YYYY-MM-DD); a year ago if none.")
    ] = None,
    to: Annotated[str | None, typer.Option(help="Last day (YYYY-MM-DD); today if none.")] = None,
    output: Annotated[Path, typer.Option(help="The HTML file to write.")] = Path("report.html"),
    lang: Annotated[str, typer.Option(help="nb (Bokmål), nn (Nynorsk) or en.")] = "nb",
    comparison: Annotated[
        Path | None,
        typer.Option(help="A queue-order comparison from `klageapi simulate --policy` (JSON)."),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(
            envvar="KLAGEAPI_TOKEN",
            help="A bearer token with klageapi:admin; in development one is made.",
        ),
    ] = None,
) -> None:
    """Write the waiting-time report as one self-contained HTML page (inline SVG charts, CSV
    downloads), the same page as GET /v1/statistics/report, with a queue-order comparison when
    one is given."""
    from klageapi.report.data import ComparisonUnreadable, default_period, read_comparison
    from klageapi.report.texts import LANGUAGES

    if lang not in LANGUAGES:
        _err.print(f"[red]--lang {lang}[/red] is not one of {', '.join(LANGUAGES)}")
        raise typer.Exit(code=2)
    start, end = default_period(_day(from_, "--from"), _day(to, "--to"), dt.date.today())
    compared = None
    if comparison is not None:
        try:
            compared = read_comparison(comparison)
        except ComparisonUnreadable as error:
            _err.print(f"[red]comparison refused:[/red] {error}")
            raise typer.Exit(code=2) from error
    if token is None:
        settings = _settings()
        given = "data_dir" in settings.model_fields_set
        issuer = _issuer(settings.data_dir, given=given)
        token = issuer.organisation_token(_REPORT_ADMIN, "klageapi:admin")
    _write_report(
        base_url, token, start=start, end=end, output=output, language=lang, comparison=compared
    )


def _write_report(
    base_url: str,
    token: str,
    *,
    start: dt.date,
    end: dt.date,
    output: Path,
    language: str = "nb",
    comparison: Any = None,
) -> None:
    """The report page from the service at `base_url`, as GET /v1/statistics/report serves it,
    with `comparison` (a `report.data.Comparison`) when given."""
    import dataclasses

    import httpx

    from klageapi.report.remote import fetch
    from klageapi.report.render import render

    headers = {"Authorization": f"Bearer {token}"}
    with (
        _plainly(service=base_url),
        httpx.Client(base_url=base_url, headers=headers, timeout=120) as client,
    ):
        data = fetch(client, start=start, end=end)
    html = render(dataclasses.replace(data, comparison=comparison), language=language)
    output.write_text(html, encoding="utf-8")
    _err.print(f"wrote {output}")


@app.command()
def migrate(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
) -> None:
    """Apply the migrations to the configured (or embedded) database."""
    import asyncio

    from klageapi.core.db import create_engine
    from klageapi.core.embedded_postgres import EmbeddedPostgres
    from klageapi.core.migrations import downgrade, upgrade_to_head

    settings = _settings()

    async def run() -> None:
        embedded = None
        if settings.database_url is not None:
            url = settings.database_url.get_secret_value()
        else:
            embedded = EmbeddedPostgres(settings.data_dir)
            url = embedded.start()
        engine = create_engine(url, settings)
        try:
            if revision == "head":
                await upgrade_to_head(engine)
            else:
                await downgrade(engine, revision)
        finally:
            await engine.dispose()
            if embedded is not None:
                embedded.stop()

    with _plainly():
        asyncio.run(run())
    _err.print(f"[green]database migrated to {revision}[/green]")


@app.command()
def check() -> None:
    """Exit 0 when the configured database answers and its schema is at the newest migration
    (what `klageapi worker` needs to work; a container's health check), else say why, exit 1."""
    import asyncio

    from klageapi.core.db import create_engine, current_revision
    from klageapi.core.migrations import head_revision

    settings = _settings()
    if settings.database_url is None:
        raise _fail("KLAGEAPI_DATABASE_URL is not set: there is no database to check")

    async def revision() -> str | None:
        assert settings.database_url is not None
        engine = create_engine(settings.database_url.get_secret_value(), settings)
        try:
            return await current_revision(engine)
        finally:
            await engine.dispose()

    with _plainly():
        found = asyncio.run(revision())
    head = head_revision()
    if found != head:
        raise _fail(
            f"the database schema is at {found or 'nothing'}, not {head}: run `klageapi migrate`"
        )
    _err.print(f"database reachable, schema at {head}")


@app.command("dev-token")
def dev_token(
    org: Annotated[
        str | None, typer.Option(help="Organisation as 0192:<orgnr> (Maskinporten consumer).")
    ] = None,
    scope: Annotated[
        str, typer.Option(help="Space-separated scopes.")
    ] = "klageapi:read klageapi:write",
    supplier: Annotated[
        str | None, typer.Option(help="Supplier organisation, 0192:<orgnr>.")
    ] = None,
    citizen: Annotated[str | None, typer.Option(help="A citizen's national id (pid).")] = None,
) -> None:
    """Print a bearer token from the development issuer (development only): signed with the
    key in the data folder of `klageapi serve` (KLAGEAPI_DATA_DIR, else ./.klageapi when it has
    one, else the folder of the last development `serve` on this machine)."""
    from stdnum.no import fodselsnummer, orgnr

    development, data_dir, given = _development_folder()
    if not development:
        raise typer.BadParameter("the development issuer is off outside development")
    if (org is None) == (citizen is None):
        raise typer.BadParameter("give exactly one of --org and --citizen")
    if citizen is not None:
        if not fodselsnummer.is_valid(citizen):
            raise typer.BadParameter(
                "not a national id (11 digits with valid check digits)", param_hint="--citizen"
            )
        typer.echo(_issuer(data_dir, given=given).citizen_token(citizen))
        return
    assert org is not None
    for name, value in (("--org", org), ("--supplier", supplier)):
        if value is not None and not orgnr.is_valid(value.removeprefix("0192:")):
            raise typer.BadParameter(
                f"{value!r} is not an organisation number (nine digits, valid check digit)",
                param_hint=name,
            )
    typer.echo(_issuer(data_dir, given=given).organisation_token(org, scope, supplier=supplier))


_REPORT_ADMIN = "0192:910000004"
"""The administrator the development report token is made for (any valid number)."""


def _development_folder() -> tuple[bool, Path, bool]:
    """Whether this is development, the data folder, and whether KLAGEAPI_DATA_DIR gave it:
    the two settings read as the settings object reads them (the prefix in any case; a test
    holds the two readings equal), without building it. Importing pydantic-settings was half
    of `dev-token`'s time (bench/dev_token.py)."""
    from klageapi.core.dev_issuer import DEFAULT_DATA_DIR

    def setting(name: str) -> str | None:
        wanted = f"KLAGEAPI_{name}".upper()
        return next((v for k, v in os.environ.items() if k.upper() == wanted), None)

    environment = setting("environment") or "development"
    data_dir = setting("data_dir")
    folder = DEFAULT_DATA_DIR if data_dir is None else Path(data_dir)
    return environment == "development", folder, data_dir is not None


def _issuer(folder: Path, *, given: bool) -> Any:
    """The development issuer of the data folder that `klageapi serve` uses: `folder` when
    `given`, else when it holds a key, else the folder of the last development `serve`."""
    from klageapi.core.dev_issuer import KEY_FILE, DevIssuer, last_served

    if not given and not (folder / KEY_FILE).is_file():
        served = last_served()
        if served is None:
            raise _fail(
                f"no development key in {folder.resolve()}: start `klageapi serve` first, or"
                " set KLAGEAPI_DATA_DIR to the data folder it runs with"
            )
        folder = served
    return DevIssuer(folder)


@app.command()
def openapi(
    output: Annotated[Path, typer.Option(help="Where to write the document.")] = Path(
        "openapi/openapi.json"
    ),
) -> None:
    """Write the OpenAPI document generated from the app (the committed contract)."""
    from klageapi.api.app import openapi_document

    document = openapi_document()
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    _err.print(f"wrote {output}")


@app.command()
def version() -> None:
    """Print klageapi's version."""
    typer.echo(__version__)
