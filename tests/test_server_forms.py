"""The server backend on servers that answer like llama.cpp's `llama-server` (scripted): both forms of
log-probabilities, label values from the top-k with a bound, teacher-forced scoring, capabilities, and the errors."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.servers import FakeServer
from tot.cli import app
from tot.errors import ModelError
from tot.models import logprobs, normalise
from tot.models.server import connect

runner = CliRunner()

TOP = [("d", -0.25), ("q", -2.0), (" sure", -2.5), ("z", -4.0)]  # the likeliest next tokens, likeliest first


def token_logprob(token: int) -> float:
    """The log-probability the scripted model gives token `token` (a character's code point) wherever it comes."""
    return -token / 100


def llama_server_reply(path: str, body: dict[str, Any], *, grammar: bool = True) -> Any:
    """Like llama-server: `/tokenize` (one token per character, its code point), `echo` and `prompt_logprobs`
    ignored, log-probabilities in the `content` list form; a grammar of token ids is followed, else a token with a
    positive `logit_bias` is generated."""
    if path == "/tokenize":
        if body.get("with_pieces"):
            return {"tokens": [{"id": ord(c), "piece": c} for c in body["content"]]}
        return {"tokens": [ord(c) for c in body["content"]]}
    if path == "/v1/embeddings":
        return 501, {"error": {"code": 501, "message": "This server does not support embeddings. Start it with `--embeddings`"}}
    rules = body.get("grammar", "") if grammar else ""
    literal = re.fullmatch(r'root ::= "(.*)"', rules)
    root, _, last = rules.partition("\nlast ::= ")  # `last`: a choice of tokens after the root's; the first is taken
    ids = [ord(c) for c in literal.group(1)] if literal else [int(i) for i in re.findall(r"<\[(\d+)\]>", root)]
    ids += [int(i) for i in re.findall(r"<\[(\d+)\]>", last)][:1]
    biased = [token for token, bias in body.get("logit_bias", []) if bias > 0]
    ids = ids or biased[:1] * body["max_tokens"] or [ord("x")] * body["max_tokens"]
    content = [
        {"id": i, "token": chr(i), "logprob": token_logprob(i),
         "top_logprobs": [{"id": ord(t[-1]), "token": t, "logprob": v} for t, v in TOP]}
        for i in ids
    ]
    answer = {"text": "".join(chr(i) for i in ids), "logprobs": {"content": content} if body.get("logprobs") else None}
    usage = {"prompt_tokens": len(body["prompt"]), "completion_tokens": len(ids), "prompt_tokens_details": {"cached_tokens": 2}}
    return {"choices": [answer], "usage": usage}


def legacy_reply(path: str, body: dict[str, Any]) -> Any:
    """The same likeliest tokens in the legacy completions form."""
    top = [dict(TOP)] if body.get("logprobs") else None
    return {"choices": [{"text": "d", "logprobs": top and {"tokens": ["d"], "token_logprobs": [-0.25], "top_logprobs": top}}]}


def generation_only(path: str, body: dict[str, Any]) -> Any:
    if path == "/tokenize":
        return 404, {"error": {"message": "File Not Found"}}
    return {"choices": [{"text": "4 + 9 = 13 (left: 10 13 13)\nsure\n", "logprobs": None}], "usage": {"prompt_tokens": 9}}


def top_k_only(path: str, body: dict[str, Any]) -> Any:
    if path == "/tokenize":
        return 404, {"error": {"message": "File Not Found"}}
    return llama_server_reply(path, body, grammar=False)


# ---- reading both forms ---------------------------------------------------------------------


def test_next_tokens_are_read_from_either_form() -> None:
    content = {"content": [{"token": "d", "logprob": -0.25, "top_logprobs": [{"token": t, "logprob": v} for t, v in TOP]}]}
    assert logprobs.next_tokens(content) == logprobs.next_tokens({"top_logprobs": [dict(TOP)]}) == dict(TOP)


def test_generated_tokens_are_read_from_either_form() -> None:
    content = {"content": [{"id": 7, "token": "a", "logprob": -1.0}, {"id": 8, "token": "b", "logprob": -2.0}]}
    legacy = {"tokens": ["a", "b"], "token_logprobs": [-1.0, -2.0]}
    assert logprobs.generated(content) == [logprobs.Token("a", -1.0, 7), logprobs.Token("b", -2.0, 8)]
    assert [(t.text, t.logprob) for t in logprobs.generated(legacy)] == [("a", -1.0), ("b", -2.0)]


@pytest.mark.parametrize(
    ("answer", "missing"),
    [
        ({"probs": []}, "neither logprobs.top_logprobs (legacy completions) nor logprobs.content (a list) in logprobs with keys probs"),
        ({"content": [{"token": "a", "logprob": -1.0}]}, "no top_logprobs list in logprobs.content[0]"),
        ({"content": [{"top_logprobs": [{"text": "a"}]}]}, "an entry of logprobs.content[0].top_logprobs without a token"),
        ({"top_logprobs": ["a"]}, "no token -> log-probability map in logprobs.top_logprobs[0]"),
        ("text", "logprobs of type str"),
    ],
)
def test_an_unknown_form_names_what_was_missing(answer: Any, missing: str) -> None:
    with pytest.raises(logprobs.UnknownForm, match=re.escape(missing)):
        logprobs.next_tokens(answer)


# ---- label values from the top-k ------------------------------------------------------------


@pytest.mark.parametrize("reply", [llama_server_reply, legacy_reply], ids=["content", "legacy"])
def test_label_values_come_from_the_top_k_and_a_label_outside_is_bounded(reply: Any) -> None:
    with FakeServer(reply) as server:
        model = connect(server.url)
        values = model.score_labels("abc", ["d", " sure", " impossible"])
        sent = [path for path, _ in server.requests]
    # " impossible" is not among the likeliest: it is valued at the last one's log-probability ("z", -4.0)
    assert values == pytest.approx(normalise([-0.25, -2.5, -4.0]))
    assert sent == ["/v1/completions"] and model.meter.label_bounds == 1 and model.meter.calls == 1


def test_label_values_of_several_prompts_are_one_call() -> None:
    with FakeServer(llama_server_reply) as server:
        model = connect(server.url)
        values = model.score_labels_many(["a", "b", "c"], ["d", "q"])
        assert len(server.requests) == 3
    assert values == [pytest.approx(normalise([-0.25, -2.0]))] * 3 and model.meter.calls == 1


def test_solve_reports_the_bounds_in_its_usage() -> None:
    with FakeServer(llama_server_reply) as server:
        result = runner.invoke(app, ["solve", "game24", "4", "9", "10", "13", "--server", server.url, "--generator", "all",
                                     "--evaluator", "labels", "--max-calls", "2", "--json"])
    assert result.exit_code in (0, 1), result.output
    assert json.loads(result.output)["usage"]["label_bounds"] == 4  # " likely" and " impossible", two calls


# ---- teacher forcing ------------------------------------------------------------------------


def consistent(path: str, body: dict[str, Any]) -> Any:
    """`llama_server_reply` whose likeliest tokens everywhere are a..j, valued as `token_logprob` says."""
    answer = llama_server_reply(path, body)
    found = answer.get("choices", [{}])[0].get("logprobs") if isinstance(answer, dict) else None
    for item in (found or {}).get("content", []):
        item["top_logprobs"] = [{"id": i, "token": chr(i), "logprob": token_logprob(i)} for i in range(97, 107)]
    return answer


def test_a_server_without_prompt_logprobs_is_teacher_forced() -> None:
    with FakeServer(consistent) as server:
        model = connect(server.url)
        scores = model.score_continuations("abc", ["de", "f", "", "de"])
        asked = [body for path, body in server.requests if path == "/v1/completions"]
        tokenized = [body["content"] for path, body in server.requests if path == "/tokenize"]
    expected = token_logprob(ord("d")) + token_logprob(ord("e"))
    assert scores == pytest.approx([expected, token_logprob(ord("f")), 0.0, expected])
    assert model.scoring == "forced"
    assert sorted(tokenized) == ["de", "f"]  # each continuation tokenized once
    # "de" forced under a grammar finds out how the server scores (after echo and prompt_logprobs were ignored);
    # then one request per inner node of the trie of d-e and f: its root and "d"
    probe = next(i for i, body in enumerate(asked) if "grammar" in body)
    assert asked[probe]["grammar"] == "root ::= <[100]> <[101]>" and asked[probe]["max_tokens"] == 2
    assert [body["prompt"] for body in asked[probe + 1:]] == ["abc", ["abc", ord("d")]]
    assert all("grammar" not in body and body["max_tokens"] == 1 for body in asked[probe + 1:])
    assert model.meter.prompt_tokens_evaluated == model.meter.prompt_tokens - 2 * len(asked[probe:])  # 2 cached each


def scored_after_the_probe(steps: list[str]) -> list[dict[str, Any]]:
    """The completion requests that scored `steps` after "p" on the `consistent` server (once known to force),
    the scores checked against the scripted model's."""
    with FakeServer(consistent) as server:
        model = connect(server.url)
        model.score_continuations("p", ["x"])  # finds teacher forcing
        before = len(server.requests)
        scores = model.score_continuations("p", steps)
        asked = [body for path, body in server.requests[before:] if path == "/v1/completions"]
    assert scores == pytest.approx([sum(token_logprob(ord(c)) for c in step) for step in steps])
    return asked


def test_continuations_sharing_prefixes_are_read_off_their_trie_with_the_same_scores() -> None:
    asked = scored_after_the_probe(["ab", "ac", "adz", "b", "az", "ab"])
    # one request per inner node: the root, "a", "ad"; z is not among the likeliest after "a" or "ad": forced alone
    walked = [body["prompt"] for body in asked if "logit_bias" not in body]
    assert walked == ["p", ["p", 97], ["p", 97, 100]]
    forced = sorted((body["prompt"], body["logit_bias"]) for body in asked if "logit_bias" in body)
    assert forced == [(["p", 97], [[122, 100.0]]), (["p", 97, 100], [[122, 100.0]])]


def test_a_node_with_one_child_is_walked_through_in_the_same_request() -> None:
    asked = scored_after_the_probe(["abcd", "abce", "abf", "ag"])  # "" has one child (a); a, ab, abc two each
    # the root's one child "a" is forced, and the likeliest after it read from the same answer: then "ab", "abc"
    assert asked[0]["prompt"] == "p" and asked[0]["grammar"] == "root ::= <[97]> last\nlast ::= <[98]> | <[103]>\n"
    assert [body["prompt"] for body in asked[1:]] == [["p", 97, 98], ["p", 97, 98, 99]] and len(asked) == 3


def test_a_server_that_ignores_the_grammar_cannot_score_and_says_what_to_use() -> None:
    with FakeServer(top_k_only) as server:
        result = runner.invoke(app, ["solve", "game24", "4", "9", "10", "13", "--server", server.url])
    assert result.exit_code == 2 and result.output.startswith("error:") and result.output.count("\n") == 1
    assert "cannot score continuations" in result.output
    assert "use --preset paper (it only generates), or --generator propose --evaluator labels" in result.output


def test_a_generation_only_server_points_the_fast_preset_to_the_paper_preset() -> None:
    with FakeServer(generation_only) as server:
        fast = runner.invoke(app, ["solve", "game24", "4", "9", "10", "13", "--server", server.url])
        paper = runner.invoke(app, ["solve", "game24", "4", "9", "10", "13", "--server", server.url, "--preset", "paper",
                                    "--max-calls", "2"])
    assert fast.exit_code == 2 and "use --preset paper (it only generates), or a server that scores" in fast.output
    assert "--evaluator labels" not in fast.output  # it has no top-k either
    assert paper.exit_code in (0, 1), paper.output


def test_label_values_run_on_a_server_with_top_k_but_no_scoring() -> None:
    with FakeServer(top_k_only) as server:
        result = runner.invoke(app, ["solve", "game24", "4", "9", "10", "13", "--server", server.url, "--generator", "all",
                                     "--evaluator", "labels", "--max-calls", "3", "--json"])
    assert result.exit_code in (0, 1), result.output


def test_an_unknown_form_is_one_line_and_exit_2() -> None:
    def reply(path: str, body: dict[str, Any]) -> Any:
        return {"choices": [{"text": "d", "logprobs": {"probs": [{"tok": "d", "p": 0.5}]}}]}

    with FakeServer(reply) as server:
        solve = runner.invoke(app, ["solve", "game24", "4", "9", "10", "13", "--server", server.url, "--generator", "all",
                                    "--evaluator", "labels"])
        doctor = runner.invoke(app, ["doctor", "--server", server.url])
    for result in (solve, doctor):
        assert result.exit_code == 2 and result.output.count("\n") == 1, result.output
        assert "answered log-probabilities in a form tot does not read: neither logprobs.top_logprobs" in result.output


def test_a_forced_answer_without_its_log_probabilities_later_is_a_model_error() -> None:
    broken = []

    def reply(path: str, body: dict[str, Any]) -> Any:
        answer = llama_server_reply(path, body)
        if broken and path == "/v1/completions":
            answer["choices"][0]["logprobs"] = None
        return answer

    with FakeServer(reply) as server:
        model = connect(server.url)
        model.score_continuations("abc", ["d"])
        broken.append(True)
        with pytest.raises(ModelError, match="without the log-probabilities of its forced scoring"):
            model.score_continuations("abc", ["e"])


# ---- a whole word list ----------------------------------------------------------------------


def test_a_word_list_is_scored_from_the_likeliest_first_and_second_tokens() -> None:
    from tot.models import score_many

    with FakeServer(llama_server_reply) as server:
        model = connect(server.url)
        scores = score_many(model, "abc", ["d", "dq", "dqz", "xy", "", "qd"], expand=1)
        tokenize = [body for path, body in server.requests if path == "/tokenize"]
        completions = [body for path, body in server.requests if path == "/v1/completions"]
    # first tokens: d -0.25, q -2.0 (among the likeliest), x bounded by the last of them (z, -4.0); second tokens
    # only after d (expand=1: the likeliest head), q -2.0 and d -0.25; a later token, or one after q, counts -3.0
    assert scores == pytest.approx([-0.25, -2.25, -5.25, -7.0, 0.0, -5.0])
    assert len(tokenize) == 2 and tokenize[-1]["content"] == "dq\ndqz\nxy\nqd"  # a probe ("d"), then the rest at once
    assert [body["prompt"] for body in completions][-2:] == ["abc", ["abc", ord("d")]]
    assert model.meter.calls == 1


def test_a_word_list_on_a_server_without_tokenize_is_scored_one_by_one() -> None:
    from tests.test_server import echo_reply
    from tot.models import score_many

    with FakeServer(echo_reply) as server:
        model = connect(server.url)
        assert score_many(model, "abc", ["de", "f"]) == pytest.approx([-0.9, -0.4])
        assert model.scoring == "echo"


# ---- tot doctor --server --------------------------------------------------------------------


def test_doctor_lists_what_a_llama_server_can_do() -> None:
    with FakeServer(llama_server_reply) as server:
        text = runner.invoke(app, ["doctor", "--server", server.url])
        data = runner.invoke(app, ["doctor", "--server", server.url, "--json"])
    assert text.exit_code == 0, text.output
    report = json.loads(data.output)
    assert {name: c["available"] for name, c in report["capabilities"].items()} == {
        "generation": True, "top-k log-probabilities": True, "prompt log-probabilities": False,
        "teacher-forced scoring": True, "embeddings": False, "grammar": True,
    }
    assert {name: p["runs"] for name, p in report["presets"].items()} == {
        "fast": True, "paper": True, "crossword": True, "propose + labels": True
    }
    assert "teacher-forced scoring    yes" in text.output and "fast              runs" in text.output


def test_doctor_on_a_generation_only_server_says_which_preset_runs() -> None:
    with FakeServer(generation_only) as server:
        result = runner.invoke(app, ["doctor", "--server", server.url, "--json"])
    assert result.exit_code == 0, result.output
    presets = json.loads(result.output)["presets"]
    assert presets["paper"]["runs"] and not presets["fast"]["runs"] and "use --preset paper" in presets["fast"]["detail"]
