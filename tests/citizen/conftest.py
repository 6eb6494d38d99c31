"""The citizen's token, for the citizen's view and tasks."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import TokenFactory
from tests.factories import NATIONAL_ID


@pytest.fixture
def citizen(make_token: TokenFactory) -> Any:
    def headers(pid: str = NATIONAL_ID, acr: str = "idporten-loa-high", **extra: str) -> dict:
        token = make_token(org=None, scope=None, pid=pid, acr=acr)
        return {"Authorization": f"Bearer {token}", **extra}

    return headers
