"""What the README promises that code can check: every refusal's code is in its errors table."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import klageapi.api.app  # noqa: F401  (imports every module that defines a refusal)
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
