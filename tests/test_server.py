"""The server backend against a scripted OpenAI-compatible server: requests, scoring, usage, errors."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.servers import GEMMA_STYLE_TEMPLATE, FakeServer, free_port
from tot import api
from tot.bench import harness
from tot.cli import app
from tot.errors import InputError, ModelError
from tot.models import normalise
from tot.models.server import ServerModel, base_url, connect

runner = CliRunner()


def usage(prompt: int, completion: int) -> dict[str, int]:
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def echo_reply(path: str, body: dict[str, Any]) -> Any:
    """Echo a BOS token and each character as one token, the character at i with log-probability -i / 10, then generate 'x'."""
    if path != "/v1/completions":  # no /tokenize, no embeddings
        return 404, {"error": {"message": "File Not Found"}}
    text = body["prompt"]
    if body.get("logprobs") == 20:  # the likeliest next tokens: only "d" of the labels below
        return {"choices": [{"text": "d", "logprobs": {"top_logprobs": [{"d": -0.25, "q": -2.0}]}}], "usage": usage(len(text), 1)}
    if not body.get("echo"):
        return {"choices": [{"text": f"seed {body.get('seed')}\n\nmore", "index": 0}], "usage": usage(len(text), 3)}
    return {
        "choices": [{
            "text": text + "x",
            "logprobs": {
                "tokens": ["<bos>", *text, "x"],
                "text_offset": [0, *range(5, len(text) + 6)],
                "token_logprobs": [None, *(-i / 10 for i in range(1, len(text) + 2))],
            },
        }],
        "usage": usage(len(text), 1),
    }


def test_base_url_drops_v1_and_rejects_other_schemes() -> None:
    assert base_url("http://127.0.0.1:8000/v1/") == "http://127.0.0.1:8000"
    with pytest.raises(InputError):
        base_url("127.0.0.1:8000")


def test_connect_names_the_served_model_and_sample_sends_one_seeded_request_per_sample() -> None:
    with FakeServer(echo_reply) as server:
        model = connect(server.url, seed=3)
        assert model.name == "fake.gguf"
        texts = model.sample("Q:", 3, max_tokens=8, temperature=0.7, stop=("\n\n",))
        bodies = [body for _, body in server.requests]
    assert len(bodies) == 3 and len({b["seed"] for b in bodies}) == 3
    seeds = [(3 * 1_000_003 + 101 + k) for k in range(3)]
    assert texts == [f"seed {seed}" for seed in seeds]  # in order, each cut at the stop string
    assert all(b["model"] == "/models/fake.gguf" and b["temperature"] == 0.7 and b["max_tokens"] == 8 for b in bodies)
    assert (model.meter.calls, model.meter.prompt_tokens, model.meter.generated_tokens) == (1, 6, 9)


def test_a_server_that_wants_top_k_minus_1_for_off_gets_it() -> None:
    def reply(path: str, body: dict[str, Any]) -> Any:
        if body["top_k"] == 0:
            return 400, {"error": {"message": "top_k must be -1 (disable), or at least 1, got 0."}}
        return echo_reply(path, body)

    with FakeServer(reply) as server:
        model = connect(server.url)
        assert model.sample("Q:", 2, max_tokens=4) and model.complete("Q:", max_tokens=4)
    assert [body["top_k"] for _, body in server.requests].count(-1) == 3


def test_reseed_repeats_the_same_seeds() -> None:
    with FakeServer(echo_reply) as server:
        model = connect(server.url)
        first = model.sample("Q:", 2, max_tokens=4)
        model.reseed(0)
        assert model.sample("Q:", 2, max_tokens=4) == first


def test_echo_scoring_adds_the_continuation_tokens_only() -> None:
    with FakeServer(echo_reply) as server:
        model = connect(server.url)
        scores = model.score_continuations("abc", ["de", "", "f"])
    # "abcde": d and e (tokens 4 and 5 after the BOS) have log-probabilities -0.4 and -0.5; the generated x is left out
    assert scores == pytest.approx([-0.9, 0.0, -0.4])
    assert model.scoring == "echo" and model.meter.calls == 1


def test_labels_are_read_from_the_likeliest_next_tokens_and_the_others_bounded_by_the_kth() -> None:
    with FakeServer(echo_reply) as server:
        model = connect(server.url)
        labels = model.score_labels("abc", ["d", "f"])
        sent = [body for _, body in server.requests]
    # "d" is among the likeliest (-0.25); "f" is not, so it is bounded by the last of them ("q", -2.0)
    assert labels == pytest.approx(normalise([-0.25, -2.0]))
    assert [body.get("logprobs") for body in sent] == [20]  # one request: the likeliest tokens
    assert (model.meter.calls, model.meter.label_bounds) == (1, 1)


def test_servers_without_echo_are_asked_for_prompt_logprobs() -> None:
    def reply(path: str, body: dict[str, Any]) -> Any:
        if body.get("echo"):
            return 400, {"error": {"message": "echo is not supported"}}
        tokens = ["<s>", "ab", "c", "de"][: 1 + len(body["prompt"]) // 2]
        entries = [None, *({"7": {"logprob": -1.0 * i, "decoded_token": t}} for i, t in enumerate(tokens[1:], 1))]
        return {"choices": [{"text": "x", "prompt_logprobs": entries}], "usage": usage(len(tokens), 1)}

    with FakeServer(reply) as server:
        model = connect(server.url)
        assert model.score_continuations("abc", ["de"]) == [-3.0]
        assert model.scoring == "prompt_logprobs"


def test_a_server_without_prompt_logprobs_is_a_clear_error() -> None:
    def reply(path: str, body: dict[str, Any]) -> Any:
        return {"choices": [{"text": "x", "logprobs": None}], "usage": usage(3, 1)}

    with FakeServer(reply) as server:
        model = connect(server.url)
        with pytest.raises(ModelError, match="returns no prompt log-probabilities"):
            model.score_labels("abc", [" sure", " impossible"])


def test_continuations_are_scored_concurrently() -> None:
    def slow(path: str, body: dict[str, Any]) -> Any:
        time.sleep(0.2)
        return echo_reply(path, body)

    with FakeServer(slow) as server:
        connect(server.url).score_continuations("abc", ["d", "e", "f", "g"])
        assert server.most_in_flight >= 2


def test_the_budget_is_checked_before_any_request() -> None:
    class Spent(Exception):
        pass

    def guard() -> None:
        raise Spent

    with FakeServer(echo_reply) as server:
        model = connect(server.url)
        model.meter.guard = guard
        with pytest.raises(Spent):
            model.sample("Q:", 2, max_tokens=4)
        assert server.requests == []


def test_chat_sends_the_prompt_as_a_user_message_in_the_template() -> None:
    with FakeServer(echo_reply) as server:
        plain = ServerModel(server.url, "m")
        chat = ServerModel(server.url, "m", chat_template=GEMMA_STYLE_TEMPLATE)
        plain.complete("Input: 4 9 10 13", max_tokens=4)
        chat.complete("Input: 4 9 10 13", max_tokens=4)
        sent = [body["prompt"] for _, body in server.requests]
    assert sent == ["Input: 4 9 10 13", "<start_of_turn>user\nInput: 4 9 10 13<end_of_turn>\n<start_of_turn>model\n"]


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (lambda path, body: b"<html>hello</html>", "did not answer like an OpenAI-compatible server"),
        (lambda path, body: {"object": "text_completion"}, "did not answer like an OpenAI-compatible server"),
        (lambda path, body: (500, {"error": {"message": "out of memory"}}), "refused the request (HTTP 500): out of memory"),
        (lambda path, body: time.sleep(1.0) or echo_reply(path, body), "did not answer within 0.2 s"),
    ],
)
def test_bad_answers_are_one_line_model_errors(reply: Any, message: str) -> None:
    with FakeServer(reply) as server:
        model = ServerModel(server.url, "m", timeout=0.2)
        with pytest.raises(ModelError, match=message.replace("(", r"\(").replace(")", r"\)")) as raised:
            model.complete("Q:", max_tokens=4)
    assert "\n" not in raised.value.message


def test_solve_against_a_server_that_is_down_exits_2_with_one_line() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = runner.invoke(app, ["solve", "game24", "4", "9", "10", "13", "--server", url])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [f"error: cannot reach the server at {url}: connection refused (is it running?)"]


def test_doctor_checks_a_server() -> None:
    with FakeServer(echo_reply) as server:
        result = runner.invoke(app, ["doctor", "--server", server.url])
    assert result.exit_code == 0 and "fake.gguf" in result.output
    assert "prompt log-probabilities  yes  echoed prompt log-probabilities" in result.output
    with FakeServer(lambda path, body: {"choices": [{"text": "x", "logprobs": None}]}) as server:
        result = runner.invoke(app, ["doctor", "--server", server.url])
    assert result.exit_code == 0 and "fast              does not" in result.output
    with FakeServer(lambda path, body: b"<html>hello</html>") as server:
        result = runner.invoke(app, ["doctor", "--server", server.url])
    assert result.exit_code == 2 and "did not answer like an OpenAI-compatible server" in result.output


def test_bench_against_a_server_that_is_down_exits_2(tmp_path: Any) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    out = tmp_path / "b.jsonl"
    result = runner.invoke(app, ["bench", "game24", "--rows", "900:901", "--server", url, "--out", str(out), "--json"])
    assert result.exit_code == 2 and "cannot reach the server" in result.output


def test_solve_runs_a_search_through_a_server() -> None:
    def reply(path: str, body: dict[str, Any]) -> Any:
        return {"choices": [{"text": "4 + 9 = 13 (left: 10 13 13)\nimpossible\n"}], "usage": usage(100, 12)}

    with FakeServer(reply) as server:
        result = api.solve("game24", "4 9 10 13", preset="paper", server=server.url, budget=api.Budget(max_calls=4))
    assert result.config["model"] == "fake.gguf"
    assert 0 < result.usage.calls <= 4 and result.usage.prompt_tokens == 100 * len(server.requests)


def test_bench_workers_take_the_servers_in_turn(tmp_path: Any) -> None:
    with FakeServer(echo_reply) as one, FakeServer(echo_reply) as two:
        spec = harness.model_spec(None, None, [one.url, two.url])
        assert spec.identity() == {"file": "fake.gguf", "sha256": "", "backend": "server"}
        urls = [getattr(harness.load(spec, 0, worker), "url") for worker in range(3)]
    assert urls == [one.url, two.url, one.url]


def test_bench_gives_one_worker_per_server_by_default() -> None:
    from tot.bench import config

    spec = config.build({"task": "game24", "rows": "900:901", "server": "http://a:1,http://b:2"})
    assert spec.servers == ("http://a:1", "http://b:2") and spec.workers == 2


def test_chat_is_part_of_a_benchmark_lines_model_identity() -> None:
    from tot.bench import config

    assert config.build({"task": "game24", "rows": "900:901", "chat": True}).chat
    assert harness.model_spec(None, None, chat=True).identity()["chat"] is True
    assert "chat" not in harness.model_spec(None, None).identity()  # keys of earlier runs stay as they were
    with pytest.raises(InputError, match="chat must be true or false"):
        config.build({"task": "game24", "rows": "900:901", "chat": "maybe"})


def test_servers_of_different_models_are_refused() -> None:
    with FakeServer(echo_reply) as one, FakeServer(echo_reply, models={"data": [{"id": "other.gguf"}]}) as two:
        with pytest.raises(InputError, match="serve different models"):
            harness.model_spec(None, None, [one.url, two.url])


def test_a_worker_process_gets_the_server_error_intact() -> None:
    import pickle

    from tot.models.server import ServerRefused

    error = pickle.loads(pickle.dumps(ServerRefused("http://h:1", 503, "busy")))
    assert (error.message, error.exit_code) == ("the server at http://h:1 refused the request (HTTP 503): busy", 2)
    assert json.dumps(error.detail) == '"busy"'


def test_ctrl_c_during_requests_exits_130_without_waiting_for_them() -> None:
    proposed = []

    def stuck(path: str, body: dict[str, Any]) -> Any:  # the proposal is answered, the 3 value samples hang
        if not proposed:
            proposed.append(body)
            return {"choices": [{"text": "4 + 9 = 13 (left: 10 13 13)\n"}], "usage": usage(100, 12)}
        time.sleep(20)
        return echo_reply(path, body)

    with FakeServer(stuck) as server:
        # Default Ctrl-C handling even when the tests run as a background job (which inherits SIGINT ignored).
        run = subprocess.Popen([sys.executable, "-m", "tot", "solve", "game24", "4", "9", "10", "13", "--server", server.url,
                                "--preset", "paper", "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        while len(server.requests) < 4:  # the proposal, then three value samples in flight at once
            time.sleep(0.05)
        run.send_signal(signal.SIGINT)
        started = time.monotonic()
        stdout, _ = run.communicate(timeout=15)
    assert run.returncode == 130 and time.monotonic() - started < 10
    assert json.loads(stdout)["stop_reason"] == "interrupted"  # the search so far is still reported
