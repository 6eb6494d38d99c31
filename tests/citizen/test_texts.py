"""The text catalogues: every status, step, outcome and action in nb, nn and en, with the same
keys and the same placeholders in each."""

from __future__ import annotations

import datetime as dt
import string
from typing import Any

import hypothesis
import pytest
from hypothesis import strategies as st

from klageapi.citizen.language import LANGUAGES, catalogue, negotiate
from klageapi.citizen.schemas import WindowBasis
from klageapi.citizen.service import STEPS
from klageapi.models import AppealStatus, NavOutcome, StatsforvalterOutcome


def _leaves(node: Any, path: tuple[str, ...] = ()) -> dict[tuple[str, ...], str]:
    if isinstance(node, dict):
        found: dict[tuple[str, ...], str] = {}
        for key, value in node.items():
            found |= _leaves(value, (*path, key))
        return found
    if isinstance(node, list):
        return {(*path, str(index)): str(value) for index, value in enumerate(node)}
    return {path: str(node)}


def _placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_status_step_outcome_and_action_has_a_text(language: str) -> None:
    texts = catalogue(language)

    for status in AppealStatus:
        assert texts.text("statuses", status.value).strip()
    for step in STEPS:
        assert texts.text("steps", step).strip()
    for nav_outcome in NavOutcome:
        assert texts.text("outcomes", "nav", nav_outcome.value).strip()
    for outcome in StatsforvalterOutcome:
        assert texts.text("outcomes", "statsforvalter", outcome.value).strip()
    for basis in WindowBasis:
        assert texts.texts["window"][basis.value].strip()
    assert len(texts.texts["months"]) == 12


def test_the_catalogues_have_the_same_keys_and_placeholders() -> None:
    reference = _leaves(catalogue("nb").texts)
    for language in LANGUAGES:
        leaves = _leaves(catalogue(language).texts)
        assert leaves.keys() == reference.keys(), language
        for key, text in leaves.items():
            assert _placeholders(text) == _placeholders(reference[key]), (language, key)


def test_dates_read_naturally() -> None:
    day = dt.date(2027, 2, 15)

    assert catalogue("nb").date(day) == "15. februar 2027"
    assert catalogue("nn").date(day) == "15. februar 2027"
    assert catalogue("en").date(day) == "15 February 2027"


@hypothesis.given(st.text(max_size=60))
@hypothesis.example("en;q=\u0661, nb;q=0.5")
@hypothesis.example("en;q=nan")
def test_any_accept_language_names_one_of_the_languages(accept_language: str) -> None:
    assert negotiate(accept_language) in LANGUAGES


@pytest.mark.parametrize("weight", ["\u0661", "nan", "1e3", "1_0", "²", "0.5000", "2"])
def test_a_weight_that_is_no_qvalue_is_not_read(weight: str) -> None:
    # RFC 9110 section 12.4.2: 0 to 1 with at most three decimals, in ASCII; else not a weight.
    assert negotiate(f"en;q={weight}, nn;q=0.5") == "nn"


def test_weights_choose_among_the_languages() -> None:
    assert negotiate("en;q=0.4, nn;q=0.9, nb;q=0.5") == "nn"
    assert negotiate("nb;q=0, en") == "en"
    assert negotiate("de, en;q=1.000") == "en"
