"""Shared fixtures: the real default model, loaded once per test session, and a server of it."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tot.models import Model


@pytest.fixture(scope="session")
def model() -> Model:
    from tot import api

    return api.load_model(seed=0)


@pytest.fixture(scope="session")
def llama_server() -> Iterator[str]:
    """The URL of llama-cpp-python's server on the default model: $TOT_TEST_SERVER (.ci/run starts one), else our own."""
    from tests.servers import llama_cpp_server, wait_until_ready

    url = os.environ.get("TOT_TEST_SERVER")
    if url:
        wait_until_ready(url)
        yield url
        return
    with llama_cpp_server() as started:
        yield started
