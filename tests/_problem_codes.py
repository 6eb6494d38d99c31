"""The problem-code check: every problem document the app answers during the test run is kept
(operation, status, code), and at the end of the session each is looked up in the committed
contract's `x-problem-codes`; a code an operation answered but does not declare fails the run.
Each worker process checks its own tests' answers; the controller joins them (`tests/_workers.py`).

The tap wraps `problem_response`, the one function every refusal of the app is rendered by
(handlers, the middleware's 503 and 500), where the middleware and the handlers find it. The
operation is the route the request matched; a refusal made before routing (a body declared too
large) is matched to its route here. Requests to routes the contract does not have (a test's own
route) are counted, not checked.

The run's whole record is kept in `<basetemp>/problem-codes.jsonl`, with the test that caused each.
"""

from __future__ import annotations

import collections
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pytest
from fastapi.routing import iter_route_contexts
from starlette.requests import Request

from klageapi.api import middleware, problems
from tests._workers import hand_over, handed_over, is_worker

__all__ = ["Answered", "declared_codes", "tap", "undeclared"]

CONTRACT = Path(__file__).resolve().parent.parent / "openapi" / "openapi.json"


@dataclass(frozen=True)
class Answered:
    operation: str | None
    status: int
    code: str
    test: str


def _operation(request: Request) -> str | None:
    route = request.scope.get("route")
    method = request.scope.get("method")
    if route is None or method not in getattr(route, "methods", ()):
        # Refused before routing (or a 405 on a path whose route has another method): the route
        # the request would have reached, if any.
        route = None
        app = request.scope.get("app")
        path = request.scope.get("path", "")
        for candidate in iter_route_contexts(getattr(app, "routes", ())):
            regex = getattr(candidate, "path_regex", None)
            if regex is not None and regex.match(path) and method in (candidate.methods or ()):
                route = candidate
                break
    return getattr(route, "operation_id", None)


class _Tap:
    def __init__(self) -> None:
        self.answered: list[Answered] = []
        self.path: Path | None = None
        self._file: IO[str] | None = None
        self._originals: dict[Any, Any] = {}

    def install(self) -> None:
        original = problems.problem_response

        def recording(request: Request, *, status: int, code: str, **kwargs: Any) -> Any:
            self.record(
                Answered(
                    operation=_operation(request),
                    status=status,
                    code=code,
                    test=os.environ.get("PYTEST_CURRENT_TEST", "(between tests)"),
                )
            )
            return original(request, status=status, code=code, **kwargs)

        # Wherever the function was imported by name (error_response calls the module's own).
        for module in (problems, middleware):
            if getattr(module, "problem_response", None) is original:
                self._originals[module] = original
                module.problem_response = recording  # type: ignore[attr-defined]

    def uninstall(self) -> None:
        for module, original in self._originals.items():
            module.problem_response = original
        self._originals.clear()

    def open(self, path: Path) -> None:
        self.path = path
        self._file = path.open("w", encoding="utf-8")
        for answered in self.answered:
            self._file.write(json.dumps(answered.__dict__) + "\n")

    def record(self, answered: Answered) -> None:
        self.answered.append(answered)
        if self._file is not None:
            self._file.write(json.dumps(answered.__dict__) + "\n")

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


tap = _Tap()


def declared_codes(contract: dict[str, Any]) -> dict[str, dict[int, frozenset[str]]]:
    """Each operation's declared problem codes, per status."""
    declared: dict[str, dict[int, frozenset[str]]] = {}
    for operations in contract["paths"].values():
        for operation in operations.values():
            declared[operation["operationId"]] = {
                int(status): frozenset(response.get("x-problem-codes", ()))
                for status, response in operation["responses"].items()
            }
    return declared


def undeclared(
    answered: list[Answered], contract: dict[str, Any]
) -> tuple[dict[tuple[str, int, str], list[str]], int]:
    """The (operation, status, code) answered but not declared, each with the tests that caused
    it; and how many answers were to routes the contract does not have."""
    declared = declared_codes(contract)
    missing: dict[tuple[str, int, str], list[str]] = collections.defaultdict(list)
    outside = 0
    for item in answered:
        if item.operation is None or item.operation not in declared:
            outside += 1
            continue
        if item.code not in declared[item.operation].get(item.status, frozenset()):
            missing[(item.operation, item.status, item.code)].append(item.test)
    return dict(missing), outside


# The plugin


def pytest_configure(config: pytest.Config) -> None:
    tap.install()


def pytest_unconfigure(config: pytest.Config) -> None:
    tap.uninstall()


@pytest.fixture(scope="session", autouse=True)
def _problem_codes_record(tmp_path_factory: pytest.TempPathFactory) -> None:
    tap.open(tmp_path_factory.getbasetemp() / "problem-codes.jsonl")


_KEY = "klageapi-problem-codes"
_report: list[dict[str, Any]] = []


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if tap.path is not None:  # this process ran tests: check what they answered
        tap.close()
        contract = json.loads(CONTRACT.read_text(encoding="utf-8"))
        missing, outside = undeclared(tap.answered, contract)
        hand_over(
            session.config,
            _KEY,
            {
                "answered": len(tap.answered),
                "operations": sorted({item.operation for item in tap.answered if item.operation}),
                "outside": outside,
                "missing": [[*key, tests] for key, tests in missing.items()],
                "kept_in": [str(tap.path)],
            },
        )
    if is_worker(session.config) or not handed_over(_KEY):
        return  # a worker's check is joined by the controller; or nothing ran
    parts = handed_over(_KEY)
    missing_tests: dict[tuple[str, int, str], list[str]] = collections.defaultdict(list)
    for part in parts:
        for operation, status, code, tests in part["missing"]:
            missing_tests[(operation, status, code)] += tests
    _report.append(
        {
            "answered": sum(part["answered"] for part in parts),
            "operations": len({o for part in parts for o in part["operations"]}),
            "outside": sum(part["outside"] for part in parts),
            "missing": dict(missing_tests),
            "kept_in": [path for part in parts for path in part["kept_in"]],
        }
    )
    if missing_tests:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _report:
        return
    report = _report[0]
    missing = report["missing"]
    write = terminalreporter.write_line
    terminalreporter.section("problem codes answered against the contract")
    write(
        f"{report['answered']} problem documents from {report['operations']} operations "
        f"({report['outside']} from routes outside the contract), "
        f"kept in {', '.join(report['kept_in'])}"
    )
    if not missing:
        write("every code answered is declared in openapi/openapi.json")
        return
    write(f"{len(missing)} codes answered but not declared (x-problem-codes):", red=True)
    for (operation, status, code), tests in sorted(missing.items()):
        write(f"  {operation} {status} {code}  ({len(tests)}x, e.g. {tests[0]})", red=True)
