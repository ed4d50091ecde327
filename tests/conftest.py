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


@pytest.fixture(scope="session")
def llamacpp_server() -> Iterator[str]:
    """The URL of llama.cpp's own llama-server on the default model: $TOT_TEST_LLAMA_SERVER (.ci/run starts one),
    else one started here from a llama-server binary (see tests.servers.llama_server_binary); skipped without one."""
    from tests.servers import llama_server, llama_server_binary, wait_until_ready

    url = os.environ.get("TOT_TEST_LLAMA_SERVER")
    if url:
        wait_until_ready(url)
        yield url
        return
    reason = os.environ.get("TOT_TEST_LLAMA_SERVER_SKIP")  # .ci/run could not build one
    if reason:
        pytest.skip(f"no llama-server binary: {reason}")
    binary = llama_server_binary()
    if binary is None:
        pytest.skip("no llama-server binary: build one with tools/build-llama-server.sh (CI does), "
                    "or set TOT_LLAMA_SERVER_BIN")
    with llama_server(binary) as started:
        yield started
