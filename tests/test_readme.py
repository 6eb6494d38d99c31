"""What the README promises that code can check: every refusal's code is in its errors table,
and every setting in its configuration table."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import klageapi.api.app  # noqa: F401  (imports every module that defines a refusal)
from klageapi.core.config import Settings
from klageapi.core.errors import KlageError, ServiceUnavailable

README = Path(__file__).resolve().parents[1] / "README.md"


def _subclasses(cls: type[KlageError]) -> Iterator[type[KlageError]]:
    for subclass in cls.__subclasses__():
        yield subclass
        yield from _subclasses(subclass)


def test_every_refusal_code_is_in_the_readmes_errors_table() -> None:
    text = README.read_text()
    table = text[text.index("\n## Errors") : text.index("\n## ", text.index("\n## Errors") + 1)]
    # The classes that are raised; ServiceUnavailable is raised with a code of its own each
    # time (database_unreachable, schema_behind, database_unavailable: in the 503 rows).
    raised = {cls for cls in _subclasses(KlageError) if not cls.__subclasses__()}
    raised.discard(ServiceUnavailable)

    missing = sorted(
        f"{cls.code} ({cls.__name__})" for cls in raised if f"`{cls.code}`" not in table
    )

    assert len(raised) > 40
    assert not missing, missing


def _configuration_table_variables() -> set[str]:
    """The variables the Configuration table names; `_BUCKET` after `KLAGEAPI_S3_ENDPOINT_URL`
    is short for `KLAGEAPI_S3_BUCKET`."""
    text = README.read_text()
    start = text.index("\n## Configuration\n")
    section = text[start : text.index("\n## ", start + 1)]
    names: set[str] = set()
    for line in section.splitlines():
        if not line.startswith("| `"):
            continue
        prefix = ""
        for name in re.findall(r"`([A-Z0-9_]+)`", line.split("|")[1]):
            if name.startswith("KLAGEAPI_"):
                prefix = "_".join(name.split("_")[:2])
                names.add(name)
            elif name.startswith("_"):
                names.add(prefix + name)
    return names


def test_every_setting_is_in_the_readmes_configuration_table() -> None:
    listed = _configuration_table_variables()

    missing = [
        f"KLAGEAPI_{field.upper()}"
        for field in Settings.model_fields
        if f"KLAGEAPI_{field.upper()}" not in listed
    ]

    assert missing == []
