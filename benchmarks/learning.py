"""The per-generation table and plot of `tot learn` (benchmarks/RESULTS.md, "Learned values").

Reads a learn work folder (its genK.tot files) and result lines of `tot auc` and `tot bench`
that used those files (told apart by each file's checksum), beside the model-free and the
prompted baselines of the same lines:

    python -m tot.bench.learning value.tot.d results/auc-learn.jsonl results/bench-learn.jsonl --plot figures/learning
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tot.bench.auc import roc_auc
from tot.bench.harness import Record, read_records


def generations(work: Path) -> dict[str, int]:
    """Each generation's value-file checksum -> its number."""
    found = {}
    for path in sorted(work.glob("gen*.tot")):
        number = int(path.stem.removeprefix("gen"))
        found[str(json.loads(path.read_text())["checksum"])] = number
    return found


def _name(config: dict[str, Any], gens: dict[str, int]) -> str:
    value = config.get("value")
    valuer = str(config["valuer"])
    if value:
        return f"{valuer} gen {gens[value]}" if value in gens else f"{valuer} ({str(value)[:8]})"
    return valuer


def auc_rows(records: Sequence[Record], gens: dict[str, int]) -> dict[str, dict[str, Any]]:
    """Per valuer (and generation): states, AUC overall and at depths 1 and 2."""
    states: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        if record.get("kind") == "values":
            states.setdefault(_name(record["config"], gens), []).extend(record["states"])
    rows = {}
    for name, items in states.items():
        def auc_of(chosen: list[dict[str, Any]]) -> float | None:
            return roc_auc([float(s["value"]) for s in chosen], [bool(s["solvable"]) for s in chosen])

        rows[name] = {
            "states": len(items),
            "auc": auc_of(items),
            "depth1": auc_of([s for s in items if s["depth"] == 1]),
            "depth2": auc_of([s for s in items if s["depth"] == 2]),
        }
    return rows


def search_rows(records: Sequence[Record], gens: dict[str, int]) -> dict[tuple[str, str], dict[str, Any]]:
    """Per (protocol, evaluator and generation): puzzles, solved, median nodes and seconds of the solved."""
    groups: dict[tuple[str, str], list[Record]] = {}
    for record in records:
        if record.get("kind") != "search":
            continue
        config = record["config"]
        options = config.get("options") or {}
        protocol = f"{config['strategy']} {config['generator']}" + (f" b={options['breadth']}" if "breadth" in options else "")
        groups.setdefault((protocol, _name(config, gens)), []).append(record)
    rows = {}
    for key, lines in groups.items():
        solved = [line for line in lines if line["solved"]]
        rows[key] = {
            "puzzles": len(lines),
            "solved": len(solved),
            "median_nodes": statistics.median(line["usage"]["nodes_expanded"] for line in solved) if solved else None,
            "median_seconds": statistics.median(float(line["seconds"]) for line in solved) if solved else None,
        }
    return rows


def markdown(work: Path, records: Sequence[Record]) -> str:
    gens = generations(work)
    aucs = auc_rows(records, gens)
    searches = search_rows(records, gens)
    protocols = sorted({protocol for protocol, _ in searches})
    names = sorted(set(aucs) | {name for _, name in searches}, key=_order)
    header = ["value", "held-out AUC (train rows)", "AUC all", "AUC depth 1", "AUC depth 2"]
    for protocol in protocols:
        header += [f"{protocol}: solved", f"{protocol}: median nodes (s)"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    held = {number: _held_out(work / f"gen{number}.tot") for number in gens.values()}
    for name in names:
        row = aucs.get(name, {})
        number = int(name.rsplit(" ", 1)[1]) if " gen " in name else None
        cells = [name, held.get(number, "") if number is not None else "",
                 *(_f(row.get(k)) for k in ("auc", "depth1", "depth2"))]
        for protocol in protocols:
            found = searches.get((protocol, name))
            if found is None:
                cells += ["", ""]
                continue
            nodes = found["median_nodes"]
            seconds = found["median_seconds"]
            cells += [f"{found['solved']}/{found['puzzles']}",
                      "-" if nodes is None else f"{nodes:g} ({seconds:.2f})"]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"


def _held_out(path: Path) -> str:
    if not path.exists():
        return ""
    validation = json.loads(path.read_text())["metrics"]["validation"]
    depths = ", ".join(f"d{d} {v:.3f}" for d, v in validation["auc_by_depth"].items())
    return f"{validation['auc']:.3f} ({depths})"


def _order(name: str) -> tuple[int, str]:
    rank = {"uniform": 0, "oracle": 9, "labels": 1, "sample": 2}.get(name.split(" ")[0], 5)
    return rank, name


def _f(value: Any) -> str:
    return "" if value is None else f"{value:.3f}"


def plot(work: Path, records: Sequence[Record], prefix: str) -> list[Path]:
    """AUC by depth and success per generation, beside the baselines (horizontal lines)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matplotlib.rcParams["svg.hashsalt"] = "tot"
    gens = generations(work)
    aucs = auc_rows(records, gens)
    searches = search_rows(records, gens)
    numbers = sorted(gens.values())
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for depth, style in (("depth1", "o-"), ("depth2", "s-")):
        values = [aucs.get(f"learned gen {n}", {}).get(depth) for n in numbers]
        left.plot(numbers, values, style, label=f"learned, {depth.replace('depth', 'depth ')}")
        for baseline, colour in (("labels", "tab:red"), ("uniform", "tab:gray")):
            value = aucs.get(baseline, {}).get(depth)
            if value is not None:
                left.axhline(value, color=colour, linestyle="--" if depth == "depth1" else ":", linewidth=1,
                             label=f"{baseline}, {depth.replace('depth', 'depth ')}")
    left.set_xlabel("generation")
    left.set_ylabel("ROC AUC, rows 900-999")
    left.set_ylim(0.4, 1.0)
    left.grid(True, alpha=0.3)
    left.legend(fontsize=7)
    for protocol in sorted({p for p, _ in searches}):
        values = [searches.get((protocol, f"learned gen {n}"), {}).get("solved") for n in numbers]
        puzzles = max((searches[(protocol, n)]["puzzles"] for p, n in searches if p == protocol), default=1)
        right.plot(numbers, [None if v is None else 100 * v / puzzles for v in values], "o-", label=f"{protocol}, learned")
        for baseline, colour in (("labels", "tab:red"), ("uniform", "tab:gray")):
            found = searches.get((protocol, baseline))
            if found:
                right.axhline(100 * found["solved"] / found["puzzles"], color=colour, linestyle="--", linewidth=1,
                              label=f"{protocol}, {baseline}")
    for axis in (left, right):  # whole generations only, with room either side of a single one
        axis.set_xticks(numbers)
        axis.set_xlim(min(numbers, default=1) - 0.5, max(numbers, default=1) + 0.5)
    right.set_xlabel("generation")
    right.set_ylabel("% of rows 900-999 solved")
    right.set_ylim(-2, 102)
    right.grid(True, alpha=0.3)
    right.legend(fontsize=7)
    figure.suptitle("tot learn: value learned from the engine's own searches (Gemma 3 270M)")
    written = []
    for suffix, metadata in ((".png", {"Software": None}), (".svg", {"Date": None})):
        path = Path(prefix + suffix)
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, dpi=120, metadata=metadata, bbox_inches="tight")
        written.append(path)
    plt.close(figure)
    return written


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("work", help="the learn work folder (holds gen1.tot, gen2.tot, ...)")
    parser.add_argument("files", nargs="+", help="tot auc / tot bench result lines")
    parser.add_argument("--plot", help="plot file prefix (PNG and SVG)")
    args = parser.parse_args(argv)
    records = read_records(args.files)
    print(markdown(Path(args.work), records), end="")
    if args.plot:
        for path in plot(Path(args.work), records, args.plot):
            print(f"plot: {path}")


if __name__ == "__main__":
    main()
