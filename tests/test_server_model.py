"""The server backend against llama-cpp-python's own OpenAI-compatible server on the default model, and --chat for real."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.servers import GEMMA_STYLE_TEMPLATE, gguf_with_chat_template, llama_cpp_server
from tot import api
from tot.cli import app
from tot.errors import ModelError
from tot.models import DEFAULT_MODEL_NAME, Model, default_model_path

pytestmark = pytest.mark.model
runner = CliRunner()


@pytest.fixture(scope="module")
def chat_gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default model with a chat template in Gemma's turn format added to its metadata (it has none)."""
    target = tmp_path_factory.mktemp("chat") / "gemma-chat.gguf"
    return gguf_with_chat_template(default_model_path(), target, GEMMA_STYLE_TEMPLATE)


def test_server_scores_agree_with_the_local_model(llama_server: str, model: Model) -> None:
    served = api.connect(llama_server)
    prompt, continuations = "The capital of France is", [" Paris", " Rome"]
    remote, local = served.score_continuations(prompt, continuations), model.score_continuations(prompt, continuations)
    assert remote[0] > remote[1] and local[0] > local[1]
    assert remote == pytest.approx(local, abs=0.5)  # other kernels and batch shapes: close, not equal
    assert served.meter.prompt_tokens > 0 and getattr(served, "scoring") == "echo"


def test_server_label_values_agree_with_the_local_model(llama_server: str, model: Model) -> None:
    from tot import tasks

    task = tasks.get("game24")
    prompt = task.prompts.verdict_prompt(task.initial("4 9 10 13"))
    labels = [" " + label for label in task.prompts.labels]
    served = api.connect(llama_server)
    before = served.meter.prompt_tokens
    remote, local = served.score_labels(prompt, labels), model.score_labels(prompt, labels)
    assert remote == pytest.approx(local, abs=0.15)  # other kernels and batch shapes: close, not equal
    prompt_tokens = len(getattr(model, "prompt_tokens")(prompt))
    assert served.meter.prompt_tokens - before == prompt_tokens  # one request: the labels were among the likeliest


def test_solve_through_the_server(llama_server: str) -> None:
    result = runner.invoke(app, ["solve", "game24", "4", "9", "10", "13", "--server", llama_server, "--generator", "propose",
                                 "--evaluator", "labels", "--max-calls", "3", "--json"])
    assert result.exit_code in (0, 1), result.output
    line = json.loads(result.output)
    usage = line["usage"]
    assert line["config"]["model"] == DEFAULT_MODEL_NAME
    assert 1 <= usage["calls"] <= 3 and usage["prompt_tokens"] > 100 and usage["generated_tokens"] > 0


def test_bench_spreads_workers_over_the_servers(llama_server: str, tmp_path: Path) -> None:
    out = tmp_path / "bench.jsonl"
    result = runner.invoke(app, ["bench", "game24", "--server", f"{llama_server},{llama_server}/v1", "--preset", "paper",
                                 "--rows", "900:902", "--budget-calls", "2", "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(lines) == 2
    for line in lines:
        assert line["model"] == {"file": DEFAULT_MODEL_NAME, "sha256": "", "backend": "server"}
        assert line["machine"]["server"] == llama_server and 1 <= line["usage"]["calls"] <= 2


def test_a_server_without_logits_says_it_lacks_logprobs() -> None:
    with llama_cpp_server("--logits_all", "False") as url:
        with pytest.raises(ModelError, match="returns no prompt log-probabilities") as raised:
            api.connect(url).score_labels("Is 24 reachable?", [" sure", " impossible"])
    assert "(it said: logprobs is not supported for models created with logits_all=False)" in raised.value.message


def test_chat_changes_the_tokens_the_local_model_sees(chat_gguf: Path) -> None:
    from tot.models.llama import load

    plain, chat = load(chat_gguf), load(chat_gguf, chat=True)
    start_of_turn = plain.tokenize("<start_of_turn>", bos=False, special=True)
    assert len(start_of_turn) == 1
    assert start_of_turn[0] not in plain.prompt_tokens("Input: 4 9 10 13")
    assert chat.prompt_tokens("Input: 4 9 10 13")[:2] == [plain.prompt_tokens("")[0], start_of_turn[0]]


@pytest.mark.parametrize("where", ["local", "server"])
def test_solve_with_chat(chat_gguf: Path, llama_server: str, where: str) -> None:
    served = ["--server", llama_server] if where == "server" else []
    result = runner.invoke(app, ["solve", "game24", "4", "9", "10", "13", "--chat", "--model", str(chat_gguf), *served,
                                 "--preset", "paper", "--max-calls", "2", "--json"])
    assert result.exit_code in (0, 1), result.output
    assert 1 <= json.loads(result.output)["usage"]["calls"] <= 2


def test_chat_on_a_model_without_a_template_exits_2() -> None:
    result = runner.invoke(app, ["solve", "game24", "4", "9", "10", "13", "--chat", "--max-calls", "1"])
    assert result.exit_code == 2 and "has no chat template" in result.output
