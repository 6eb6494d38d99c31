"""The shape of the package, as the README's "Where things live" promises it: every route lives in
the package its URL prefix names, and no module imports a module of a layer above its own."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from fastapi import FastAPI
from fastapi.routing import iter_route_contexts

README = Path(__file__).resolve().parents[1] / "README.md"
PACKAGE = Path(__file__).resolve().parents[1] / "src" / "klageapi"

# Bottom to top. A module may import from its own top-level package and from lower layers;
# packages that share a layer do not import each other.
LAYERS: tuple[frozenset[str], ...] = (
    frozenset({"models"}),
    frozenset({"core"}),
    frozenset({"registry", "audit"}),
    frozenset({"event"}),
    frozenset({"appeal"}),
    frozenset({"document"}),
    frozenset({"case_package"}),
    frozenset({"citizen", "statistics", "webhook", "simulation", "retention"}),
    frozenset({"report"}),
    frozenset({"worker"}),
    frozenset({"api"}),
    frozenset({"cli"}),
    frozenset({"__main__"}),
)
_LAYER_OF = {name: n for n, layer in enumerate(LAYERS) for name in layer}


def _section(title: str) -> str:
    text = README.read_text()
    start = text.index(f"\n## {title}\n")
    end = text.index("\n## ", start + 1)
    return text[start:end]


def _where_things_live() -> dict[str, str]:
    """URL prefix → the module path under src/klageapi/ that the table names."""
    table: dict[str, str] = {}
    for line in _section("Where things live").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) < 2 or not cells[0].startswith("`/"):
            continue
        (module,) = re.findall(r"`([a-z_/.]+)`", cells[1])
        for prefix in re.findall(r"`(/[^`]*)`", cells[0]):
            table[prefix] = module
    return table


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix.rstrip("/") + "/")


def _app_routes(app: FastAPI) -> list[tuple[str, str]]:
    """(path, module of the endpoint) of every route the project declares (FastAPI's own
    documentation routes aside)."""
    routes = []
    for route in iter_route_contexts(app.routes):
        module = getattr(route.endpoint, "__module__", "")
        if route.path is not None and module.startswith("klageapi."):
            routes.append((route.path, module))
    return routes


def _module_path(module: str) -> str:
    """klageapi.appeal.endpoints → appeal/endpoints.py"""
    return module.removeprefix("klageapi.").replace(".", "/") + ".py"


def test_every_route_lives_where_the_readme_says(app: FastAPI) -> None:
    table = _where_things_live()
    misplaced, unlisted = [], []
    for path, module in _app_routes(app):
        prefixes = [prefix for prefix in table if _under(path, prefix)]
        if not prefixes:
            unlisted.append(path)
            continue
        named = table[max(prefixes, key=len)]
        if not _module_path(module).startswith(named):
            misplaced.append(f"{path} is in {_module_path(module)}, the README says {named}")

    assert not unlisted, f"routes under no prefix of the README's table: {unlisted}"
    assert not misplaced, misplaced


def test_every_row_of_where_things_live_has_a_route(app: FastAPI) -> None:
    paths = [path for path, _ in _app_routes(app)]
    unused = [
        prefix for prefix in _where_things_live() if not any(_under(p, prefix) for p in paths)
    ]

    assert len(_where_things_live()) > 10
    assert not unused, f"rows of the README's table that no route is under: {unused}"


def _imports(source: Path) -> set[str]:
    """The top-level klageapi packages a module imports (at any depth of the module)."""
    found = set()
    for node in ast.walk(ast.parse(source.read_text(), str(source))):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        found |= {name.split(".")[1] for name in names if name.startswith("klageapi.")}
    return found


def _package_of(source: Path) -> str:
    relative = source.relative_to(PACKAGE)
    return relative.parts[0].removesuffix(".py")


def test_no_module_imports_a_layer_above_its_own() -> None:
    # The package's own __init__ belongs to no layer.
    modules = [path for path in PACKAGE.rglob("*.py") if path != PACKAGE / "__init__.py"]
    upward = []
    for source in modules:
        own = _package_of(source)
        assert own in _LAYER_OF, f"{own} is in no layer of tests/test_layout.py"
        for imported in _imports(source) - {own}:
            assert imported in _LAYER_OF, f"{imported} is in no layer of tests/test_layout.py"
            if _LAYER_OF[imported] >= _LAYER_OF[own]:
                upward.append(f"{source.relative_to(PACKAGE)} imports klageapi.{imported}")

    assert len(modules) > 100
    assert not upward, upward


def test_the_layer_check_sees_an_upward_import(tmp_path: Path) -> None:
    # The check itself can fail: a module of event/ that imports appeal/ is seen.
    source = tmp_path / "service.py"
    source.write_text("from klageapi.appeal import service as appeals\nimport klageapi.core.db\n")

    assert _imports(source) == {"appeal", "core"}
    assert _LAYER_OF["appeal"] > _LAYER_OF["event"]
