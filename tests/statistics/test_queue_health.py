"""The waiting-list formulas against the published worked examples (Fong et al. 2022)."""

from __future__ import annotations

import pytest

from klageapi.statistics import queue_health


def test_the_published_worked_examples() -> None:
    assert round(queue_health.pressure(63, 52), 2) == 2.42
    assert queue_health.target_mean_wait(52) == 13
    assert queue_health.target_queue_size(30, 52) == 390


def test_load_and_relief_capacity() -> None:
    assert queue_health.load(30, 25) == pytest.approx(1.2)
    assert queue_health.load(30, 0) is None
    # 30 a week, a queue of 650 against a target queue of 390: 10 more a week for 26 weeks.
    assert queue_health.relief_capacity(30, 650, 52) == pytest.approx(40)
    # At its target size the queue needs exactly the demand.
    assert queue_health.relief_capacity(30, 390, 52) == pytest.approx(30)
