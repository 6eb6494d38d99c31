"""The leak scan: every line the app's log handler writes during the run is kept, and at the end
of the session scanned for national ids and known names; any hit fails the run. Each worker
process scans its own lines; the controller joins what they found (`tests/_workers.py`).

Logging is tapped at the app's formatter, not with a handler of our own: `configure_logging`
replaces the root logger's handlers on purpose (every line must pass the redacting formatter),
and the lifespan and several tests call it again mid-run, so a handler would not last. The tap
keeps each line exactly as written, after redaction, with the test that was running and the
place that logged it. It does not depend on pytest's logging plugin (`-p no:logging`).

`scan` is also what tests/test_no_personal_data.py uses on events, webhook bodies, the audit log
and the metrics of a simulated year.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import json
import logging
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import unquote_plus, urlsplit

import pytest
from stdnum.no import fodselsnummer
from structlog.stdlib import ProcessorFormatter

from tests._workers import hand_over, handed_over, is_worker
from tests.factories import D_NUMBER, NATIONAL_ID, OTHER_NATIONAL_ID

__all__ = ["PLANTED_NAMES", "Hit", "LogLine", "known_national_ids", "scan", "tap"]

# Appellants' names never enter the data model (it has no name field); they can come in only
# through free text: grounds, reasoning, descriptions, document titles and file names. The
# tests that type a name into such a field take it from here, so the scan knows to look for it.
PLANTED_NAMES = ("Sigrunn Tveitbakk", "Åsmund Hølleland")

# Hosts the tests' own clients call the app on: what those clients log about their requests
# (httpx's "HTTP Request: POST http://klageapi.test/...?title=...") is the caller's log, not the
# app's.
_CALLER_HOSTS = frozenset({"klageapi.test"})

_ELEVEN_DIGITS = re.compile(r"(?<![0-9])[0-9]{6} ?[0-9]{5}(?![0-9])")
_LONG_DIGIT_RUN = re.compile(r"[0-9]{11,}")
# Long hex tokens (request ids, digests) and UUIDs: the app keeps them whole, and one in fifty
# holds eleven digits in a row that are not a number; the fractional digits of a decimal number
# are not one either. Both are blanked before looking for valid ids (known ids are still found
# inside them).
_NOT_A_NUMBER = re.compile(
    r"(?<![0-9A-Za-z])(?:[0-9a-f]{32,}|[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12})"
    r"(?![0-9A-Za-z])|(?<=[0-9]\.)[0-9]+"
)


@dataclass(frozen=True)
class Hit:
    kind: str  # "national_id" or "name"
    found: str
    context: str


def known_national_ids(extra: Iterable[str] = ()) -> frozenset[str]:
    """The test data's national ids and `extra`: found even inside longer digit runs."""
    return frozenset({NATIONAL_ID, OTHER_NATIONAL_ID, D_NUMBER, *extra})


def _views(text: str) -> list[str]:
    """The text as written, and where it could hide letters or digits from a plain search: as
    its JSON decodes (escaped letters such as \\u00e5) and percent-decoded (URLs)."""
    views = [text]
    if "\\u" in text:
        with contextlib.suppress(ValueError):
            views.append(json.dumps(json.loads(text), ensure_ascii=False))
    if "%" in text:
        views.append(unquote_plus(text))
    return views


def _context(text: str, start: int, end: int) -> str:
    return text[max(0, start - 60) : end + 60].replace("\n", " ")


def scan(
    text: str, *, known_ids: frozenset[str] = frozenset(), names: Iterable[str] = PLANTED_NAMES
) -> list[Hit]:
    """Every national id in `text` (eleven digits, alone or as six and five, that pass
    python-stdnum's fødselsnummer / d-nummer check; any of `known_ids` anywhere, even inside a
    longer digit run or a hex token) and every one of `names` (whole, or a part of five letters
    or more, also with a genitive s), case-insensitively."""
    hits: dict[tuple[str, str], Hit] = {}
    names_pattern = _names_pattern(tuple(names))
    for view in _views(text):
        if _ELEVEN_DIGITS.search(view):
            blanked = _NOT_A_NUMBER.sub(lambda m: "x" * len(m.group()), view)
            for match in _ELEVEN_DIGITS.finditer(blanked):
                candidate = match.group().replace(" ", "")
                if fodselsnummer.is_valid(candidate):
                    context = _context(view, match.start(), match.end())
                    hits.setdefault(
                        ("national_id", candidate), Hit("national_id", candidate, context)
                    )
        if known_ids:
            for match in _LONG_DIGIT_RUN.finditer(view):
                run = match.group()
                for offset in range(len(run) - 10):
                    if run[offset : offset + 11] in known_ids:
                        found = run[offset : offset + 11]
                        context = _context(view, match.start(), match.end())
                        hits.setdefault(("national_id", found), Hit("national_id", found, context))
        if names_pattern is not None:
            for match in names_pattern.finditer(view):
                context = _context(view, match.start(), match.end())
                hits.setdefault(
                    ("name", match.group().casefold()), Hit("name", match.group(), context)
                )
    return list(hits.values())


@functools.cache
def _names_pattern(names: tuple[str, ...]) -> re.Pattern[str] | None:
    """One pattern for the names and their parts of five letters or more, longest first."""
    parts = {part for name in names for part in re.split(r"[\s-]+", name) if len(part) >= 5}
    words = sorted({*names, *parts}, key=len, reverse=True)
    if not words:
        return None
    return re.compile(
        r"(?<![^\W_])(?:" + "|".join(re.escape(word) for word in words) + ")", re.IGNORECASE
    )


# The tap


@dataclass(frozen=True)
class LogLine:
    text: str
    logger: str
    where: str  # the file and line that logged it
    test: str  # the test running when it was written
    caller: bool  # written about a test client's own request to the app


class _Tap:
    """Keeps every line the app's formatter produces: in a file for the session's scan, and in
    any list a test is recording into."""

    def __init__(self) -> None:
        self.file: IO[str] | None = None
        self.path: Path | None = None
        self._pending: list[LogLine] = []
        self._recordings: list[list[LogLine]] = []
        self._original: Any = None
        self.summaries: list[str] = []

    def install(self) -> None:
        original = ProcessorFormatter.format
        self._original = original
        tap = self

        def format_and_keep(formatter: ProcessorFormatter, record: logging.LogRecord) -> str:
            text: str = original(formatter, record)
            tap.keep(record, text)
            return text

        ProcessorFormatter.format = format_and_keep  # type: ignore[method-assign]

    def uninstall(self) -> None:
        if self._original is not None:
            ProcessorFormatter.format = self._original  # type: ignore[method-assign]

    def keep(self, record: logging.LogRecord, text: str) -> None:
        line = LogLine(
            text=text,
            logger=record.name,
            where=f"{record.pathname}:{record.lineno}",
            test=os.environ.get("PYTEST_CURRENT_TEST", "(between tests)"),
            caller=_is_callers_own(record),
        )
        for recording in self._recordings:
            recording.append(line)
        if self.file is None:
            self._pending.append(line)
        else:
            self._write(line)

    def open(self, path: Path) -> None:
        self.path = path
        self.file = path.open("w", encoding="utf-8")
        for line in self._pending:
            self._write(line)
        self._pending.clear()

    def _write(self, line: LogLine) -> None:
        assert self.file is not None
        self.file.write(json.dumps(line.__dict__, ensure_ascii=False) + "\n")

    def lines(self) -> Iterator[LogLine]:
        if self.file is None:
            yield from self._pending
            return
        self.file.flush()
        assert self.path is not None
        with self.path.open(encoding="utf-8") as written:
            for row in written:
                yield LogLine(**json.loads(row))

    @contextlib.contextmanager
    def recording(self) -> Iterator[list[LogLine]]:
        """The lines written while inside, in a list."""
        lines: list[LogLine] = []
        self._recordings.append(lines)
        try:
            yield lines
        finally:
            self._recordings.remove(lines)


def _is_callers_own(record: logging.LogRecord) -> bool:
    if record.name != "httpx" or not isinstance(record.args, tuple) or len(record.args) < 2:
        return False
    return urlsplit(str(record.args[1])).hostname in _CALLER_HOSTS


tap = _Tap()


# The plugin


def pytest_configure(config: pytest.Config) -> None:
    tap.install()
    # The app's own loggers at every level, whatever level the run configures: the root level
    # is set again at each `configure_logging`, a named logger's is not.
    logging.getLogger("klageapi").setLevel(logging.DEBUG)


def pytest_unconfigure(config: pytest.Config) -> None:
    tap.uninstall()


@pytest.fixture(scope="session", autouse=True)
def _leak_scan_log(tmp_path_factory: pytest.TempPathFactory) -> None:
    tap.open(tmp_path_factory.getbasetemp() / "app-log-lines.jsonl")


@dataclass
class _Findings:
    """What the scan of one process's lines found, as plain data (it crosses to the controller
    from a worker), and the sum of several."""

    lines: int = 0
    callers: int = 0
    redacted: dict[str, int] = field(default_factory=dict)
    hits: list[dict[str, str]] = field(default_factory=list)
    summaries: list[str] = field(default_factory=list)
    kept_in: list[str] = field(default_factory=list)

    @classmethod
    def joined(cls, parts: Iterable[dict[str, Any]]) -> _Findings:
        whole = cls()
        redacted: collections.Counter[str] = collections.Counter()
        for part in parts:
            whole.lines += part["lines"]
            whole.callers += part["callers"]
            redacted.update(part["redacted"])
            whole.hits += part["hits"]
            whole.summaries += part["summaries"]
            whole.kept_in += part["kept_in"]
        whole.redacted = dict(redacted.most_common())
        return whole


def _scan_run() -> _Findings:
    findings = _Findings(summaries=list(tap.summaries), kept_in=[str(tap.path)])
    redacted: collections.Counter[str] = collections.Counter()
    known = known_national_ids()
    for line in tap.lines():
        if line.caller:
            findings.callers += 1
            continue
        findings.lines += 1
        if "[redacted]" in line.text:
            redacted[line.logger] += 1
        findings.hits += [
            {
                "kind": hit.kind,
                "found": hit.found,
                "logger": line.logger,
                "where": line.where,
                "test": line.test,
                "context": hit.context,
            }
            for hit in scan(line.text, known_ids=known)
        ]
    findings.redacted = dict(redacted)
    return findings


_KEY = "klageapi-leak-scan"
_findings: list[_Findings] = []


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if tap.file is not None:  # this process ran tests: scan what they logged
        findings = _scan_run()
        tap.file.close()
        hand_over(session.config, _KEY, asdict(findings))
    if is_worker(session.config) or not handed_over(_KEY):
        return  # a worker's scan is joined by the controller; or nothing ran
    whole = _Findings.joined(handed_over(_KEY))
    _findings.append(whole)
    if whole.hits:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _findings:
        return
    findings = _findings[0]
    write = terminalreporter.write_line
    terminalreporter.section("personal data in the app's log lines")
    write(
        f"{findings.lines} lines scanned (and {findings.callers} of the tests' own clients "
        f"skipped), kept in {', '.join(findings.kept_in)}"
    )
    redacted = ", ".join(f"{name} {count}" for name, count in findings.redacted.items())
    # The redaction at work, or a client's request id blanked on arrival.
    write(f'lines showing "[redacted]", by logger: {redacted or "none"}')
    for summary in findings.summaries:
        write(summary)
    if not findings.hits:
        write("no national id, no name: 0 hits")
        return
    write(f"{len(findings.hits)} HITS: personal data was written out", red=True)
    for hit in findings.hits[:50]:
        write(f"  {hit['kind']} {hit['found']!r} by {hit['logger']} at {hit['where']}", red=True)
        write(f"    during {hit['test']}")
        write(f"    ...{hit['context']}...")
