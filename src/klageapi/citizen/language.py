"""The citizen's language: chosen from Accept-Language among nb, nn and en, and the text
catalogue of each (texts/<language>.json)."""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

__all__ = ["DEFAULT", "LANGUAGES", "Catalogue", "catalogue", "negotiate"]

LANGUAGES = ("nb", "nn", "en")
DEFAULT = "nb"
# "no" (Norwegian) is written Bokmål by most; nynorsk readers ask for nn.
_ALIASES = {"no": "nb", "nob": "nb", "nno": "nn", "eng": "en"}
_QVALUE = re.compile(r"0(\.[0-9]{0,3})?|1(\.0{0,3})?")


def negotiate(accept_language: str | None) -> str:
    """The best of nb, nn and en for an Accept-Language header (RFC 9110 section 12.5.4),
    or nb when the header names none of them."""
    if not accept_language:
        return DEFAULT
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(accept_language.split(",")):
        tag, _, parameters = part.strip().partition(";")
        quality = 1.0
        name, _, value = parameters.strip().partition("=")
        if name.strip() == "q":
            # RFC 9110 section 12.4.2's qvalue in ASCII: float() would also read "nan", "1e3",
            # "1_0" and digits of other scripts.
            if not _QVALUE.fullmatch(value.strip()):
                continue
            quality = float(value)
        primary = tag.strip().lower().split("-")[0]
        language = _ALIASES.get(primary, primary)
        if language in LANGUAGES and quality > 0:
            ranked.append((-quality, position, language))
    return min(ranked)[2] if ranked else DEFAULT


@dataclass(frozen=True)
class Catalogue:
    language: str
    texts: dict[str, Any]

    def text(self, *path: str, **values: str) -> str:
        node: Any = self.texts
        for key in path:
            node = node[key]
        return str(node).format(**values)

    def date(self, day: dt.date) -> str:
        month = self.texts["months"][day.month - 1]
        return str(self.texts["date"]).format(day=day.day, month=month, year=day.year)


@functools.cache
def catalogue(language: str) -> Catalogue:
    source = resources.files("klageapi.citizen").joinpath("texts", f"{language}.json")
    return Catalogue(language, json.loads(source.read_text(encoding="utf-8")))
