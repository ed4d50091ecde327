"""`embed` and `tot learn` on the real default model (a few puzzles: about a minute)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from tot.cli import app
from tot.errors import InputError, ModelError
from tot.models import Model
from tot.models.llama import LlamaModel
from tot.tasks.game24 import Game24

pytestmark = pytest.mark.model
runner = CliRunner()
game = Game24()
PUZZLES = ["4 9 10 13", "1 1 4 6", "2 3 5 12", "3 3 8 8"]


def llama(model: Model) -> LlamaModel:
    assert isinstance(model, LlamaModel)
    return model


def texts() -> tuple[str, list[str]]:
    pairs = [game.prompts.feature_prompt(game.initial(p)) for p in PUZZLES]
    pairs += [game.prompts.feature_prompt(s) for s in (game.initial("4 6 1 1")[:2], game.initial("1 2 3 5")[1:])]
    return pairs[0][0], [text for _, text in pairs]


def test_embed_batched_equals_one_by_one_and_cached_equals_cold(model: Model) -> None:
    m = llama(model)
    prefix, items = texts()
    batched = m.embed(prefix, items, layers=(3, 6), pooling="mean+last")
    assert batched.shape == (len(items), 4 * 640) and batched.dtype == np.float32 and np.all(np.isfinite(batched))
    alone = np.stack([m.embed(prefix, [text], layers=(3, 6), pooling="mean+last")[0] for text in items])
    m.forget()
    cold = m.embed(prefix, items[::-1], layers=(3, 6), pooling="mean+last")[::-1]
    assert np.array_equal(batched, alone) and np.array_equal(batched, cold)
    shallow = m.embed(prefix, items, layers=(3,), pooling="mean")  # computed only up to layer 3
    assert np.array_equal(shallow, batched[:, :640])
    assert len({row.tobytes() for row in batched}) == len(items)  # different states, different features


def test_embed_reads_the_last_layer_and_refuses_a_layer_the_model_lacks(model: Model) -> None:
    m = llama(model)
    prefix, items = texts()
    last = m.embed(prefix, items[:3], layers=(-1,), pooling="last")
    assert last.shape == (3, 640) and np.all(np.isfinite(last))
    with pytest.raises(InputError, match="layers 1..18"):
        m.embed(prefix, items[:1], layers=(19,))
    with pytest.raises(InputError, match="unknown pooling"):
        m.embed(prefix, items[:1], layers=(3,), pooling="max")


def test_a_real_server_without_embeddings_says_so(llama_server: str) -> None:
    from tot import api

    served = api.connect(llama_server)
    with pytest.raises(ModelError, match="embeddings"):
        served.embed("Numbers:", [" 4 9 10"], layers=(-1,), pooling="server")  # type: ignore[attr-defined]


def test_tot_learn_on_four_puzzles_resumes_and_its_value_guides_solve(tmp_path: Path) -> None:
    out = tmp_path / "v.tot"
    args = ["learn", "game24", *(x for p in PUZZLES for x in ("--puzzle", p)), "--out", str(out), "--layers", "3",
            "--generations", "2", "--json"]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    summary = json.loads(first.output)
    assert [g["generation"] for g in summary["generations"]] in ([1], [1, 2])
    work = tmp_path / "v.tot.d"
    searches = (work / "searches.jsonl").read_text()
    features = (work / "features.jsonl").read_text()
    assert out.read_bytes() == (work / f"gen{summary['best']}.tot").read_bytes()
    # A run killed while writing its last line: that line is redone, nothing else.
    lines = features.splitlines(keepends=True)
    (work / "features.jsonl").write_text("".join(lines[:-1]) + lines[-1][: len(lines[-1]) // 2])
    again = runner.invoke(app, args)
    assert again.exit_code == 0, again.output
    assert (work / "searches.jsonl").read_text() == searches
    assert len((work / "features.jsonl").read_text().splitlines()) == len(lines)
    solved = runner.invoke(app, ["solve", "game24", "4", "9", "10", "13", "--value", str(out), "--json"])
    assert solved.exit_code == 0, solved.output
    assert json.loads(solved.output)["config"]["evaluator"] == "learned"
    foreign = json.loads(out.read_text())
    foreign["task"] = "crossword"
    (tmp_path / "foreign.tot").write_text(json.dumps(foreign))
    refused = runner.invoke(app, ["solve", "game24", "4", "9", "10", "13", "--value", str(tmp_path / "foreign.tot")])
    assert refused.exit_code == 2 and "corrupt" in refused.output and len(refused.output.strip().splitlines()) == 1
    from dataclasses import replace

    from tot.learn import valuefile

    other = valuefile.load(out)
    replace(other, model={**other.model, "sha256": "0" * 64, "file": "other.gguf"}).save(tmp_path / "other.tot")
    wrong = runner.invoke(app, ["solve", "game24", "4", "9", "10", "13", "--value", str(tmp_path / "other.tot")])
    assert wrong.exit_code == 2 and "learned with model other.gguf" in wrong.output
    assert len(wrong.output.strip().splitlines()) == 1
