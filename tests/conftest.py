"""Shared fixtures: the real default model, loaded once per test session."""

from __future__ import annotations

import pytest

from tot.model import Model


@pytest.fixture(scope="session")
def model() -> Model:
    from tot import api

    return api.load_model(seed=0)
