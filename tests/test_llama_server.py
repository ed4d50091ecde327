"""The server backend against llama.cpp's own `llama-server` binary on the default model (the server most people
run): teacher-forced scores and top-k label values beside the local backend's, solve (fast and paper presets),
a small bench and `tot doctor`. Skipped without a binary (tools/build-llama-server.sh builds one; CI always has it)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tot import api, tasks
from tot.cli import app
from tot.models import DEFAULT_MODEL_NAME, Model

pytestmark = pytest.mark.model
runner = CliRunner()


def test_doctor_lists_what_llama_server_can_do(llamacpp_server: str) -> None:
    result = runner.invoke(app, ["doctor", "--server", llamacpp_server, "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["model"] == DEFAULT_MODEL_NAME
    available = {name: c["available"] for name, c in report["capabilities"].items()}
    assert available == {
        "generation": True, "top-k log-probabilities": True, "prompt log-probabilities": False,  # it ignores echo
        "teacher-forced scoring": True, "embeddings": False, "grammar": True,  # embeddings need --embeddings
    }
    assert all(p["runs"] for p in report["presets"].values())


def test_teacher_forced_scores_agree_with_the_local_model(llamacpp_server: str, model: Model) -> None:
    task = tasks.get("game24")
    state = task.initial("4 9 10 13")
    prompt = task.prompts.propose_prompt(state)
    steps = [task.prompts.action_text(state, action) for action in task.actions(state)]
    served = api.connect(llamacpp_server)
    remote, local = served.score_continuations(prompt, steps), model.score_continuations(prompt, steps)
    assert getattr(served, "scoring") == "forced"
    # Generated tokens are decoded in batches of 1-4 rows, which take other kernels (and round differently) than
    # the local backend's: close, not equal.
    assert remote == pytest.approx(local, abs=1.0)
    assert sum(abs(a - b) for a, b in zip(remote, local)) / len(steps) < 0.25
    best = max(range(len(steps)), key=lambda i: local[i])
    assert remote[best] >= sorted(remote)[-3]  # the local backend's likeliest step is among the server's top 3


def test_label_values_from_the_top_k_agree_with_the_local_model(llamacpp_server: str, model: Model) -> None:
    task = tasks.get("game24")
    labels = [" " + label for label in task.prompts.labels]
    served = api.connect(llamacpp_server)
    for puzzle in ("4 9 10 13", "1 1 4 6", "2 9 10 12"):
        prompt = task.prompts.verdict_prompt(task.initial(puzzle))
        before = served.meter.prompt_tokens
        remote, local = served.score_labels(prompt, labels), model.score_labels(prompt, labels)
        # Equal to 0.001 on the machine these flags were chosen on; on another CPU of the same kind (CI) the server's
        # values differed from the local backend's by 0.065 (the first puzzle), as they did here before the flags (0.068).
        assert remote == pytest.approx(local, abs=0.1)
        assert served.meter.prompt_tokens - before == len(getattr(model, "prompt_tokens")(prompt))  # one request
    assert served.meter.label_bounds == 0  # sure, likely and impossible are among the 20 likeliest


@pytest.mark.parametrize("preset", ["fast", "paper"])
def test_solve_through_llama_server(llamacpp_server: str, preset: str) -> None:
    calls = "60" if preset == "fast" else "2"
    result = runner.invoke(app, ["solve", "game24", "4", "9", "10", "13", "--server", llamacpp_server, "--preset", preset,
                                 "--max-calls", calls, "--json"])
    assert result.exit_code in (0, 1), result.output
    line = json.loads(result.output)
    assert line["config"]["model"] == DEFAULT_MODEL_NAME and line["config"]["preset"] == preset
    if preset == "fast":
        assert line["solved"] and line["verified"]  # the local backend solves it in 7 calls
    usage = line["usage"]
    assert 1 <= usage["calls"] <= int(calls) and 0 < usage["prompt_tokens_evaluated"] < usage["prompt_tokens"]


def test_a_small_bench_through_llama_server(llamacpp_server: str, tmp_path: Path) -> None:
    out = tmp_path / "bench.jsonl"
    result = runner.invoke(app, ["bench", "game24", "--server", llamacpp_server, "--rows", "900:902", "--budget-calls", "6",
                                 "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["row"] for line in lines] == [900, 901]
    for line in lines:
        assert line["model"] == {"file": DEFAULT_MODEL_NAME, "sha256": "", "backend": "server"}
        assert line["config"]["preset"] == "fast" and 1 <= line["usage"]["calls"] <= 6
