"""llama.cpp's `llama-server` against the local backend, side by side, on the same machine (not at the same time).

    flock /tmp/tot-cpu.lock .venv/bin/python -m tot.bench.llama_server --rows 900:910

1. Starts `llama-server` on the default model (`-c 4096 -t THREADS` and `--flags`).
2. For each row in turn, runs the fast preset on it through the server (`tot bench ... --server URL`),
   then on the local backend (`--threads THREADS`): never at the same time (the server idles while the
   local backend runs), and interleaved, so that a machine whose load changes during the run weighs on
   both alike.
3. Values `--states` Game of 24 states with label values from the server's likeliest next tokens, stops
   it, and values them on the local backend.
   No row starts that would end (if it took as long as the last) after `--minutes` (the CPU is shared:
   a locked run stays short); the summary says which rows ran, and the row a failed bench stopped at.
4. Prints (and writes as JSON to `--summary`) whether the answers are the same, the median wall time
   per puzzle on each and their ratio, and the largest difference between the label values.

The bench lines go to `--out-dir` (resumable: a rerun skips the puzzles already there). The binary
is `--binary`, else the one `tools/build-llama-server.sh` built, else `llama-server` on the PATH.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from tot.bench import harness
from tot.models.server import LLAMA_SERVER_FLAGS

ROOT = Path(__file__).resolve().parent.parent
FLAGS = shlex.join(LLAMA_SERVER_FLAGS)


def binary(given: str | None) -> str:
    """The llama-server binary to run: `given`, the cached build, or the PATH's."""
    import shutil

    if given:
        return given
    where = subprocess.run([str(ROOT / "tools" / "build-llama-server.sh"), "--where"], capture_output=True, text=True)
    if where.returncode == 0:
        return where.stdout.strip()
    found = shutil.which("llama-server")
    if found is None:
        sys.exit("no llama-server binary: build one with tools/build-llama-server.sh, or pass --binary")
    return found


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_until_ready(url: str, process: subprocess.Popen[bytes], seconds: float = 120.0) -> None:
    deadline = time.monotonic() + seconds
    while process.poll() is None and time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/v1/models", timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    sys.exit(f"llama-server did not start at {url}")


def rows(spec: str) -> list[str]:
    """`START:STOP` as one `ROW:ROW+1` per row."""
    start, stop = (int(part) for part in spec.split(":"))
    return [f"{row}:{row + 1}" for row in range(start, stop)]


def bench(out: Path, row: str, extra: list[str]) -> list[dict[str, Any]]:
    """`tot bench game24 --preset fast` on `row` into `out` (resumable); the row's line."""
    command = [sys.executable, "-m", "tot", "bench", "game24", "--rows", row, "--preset", "fast", "--out", str(out),
               "--json", *extra]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    number = int(row.split(":")[0])
    return [r for r in harness.read_records([out]) if r.get("kind") == "search" and r["row"] == number]


def states(count: int) -> list[Any]:
    """`count` Game of 24 states: each row's start (from 900 on) and the state after its first legal step, in turn."""
    from tot import tasks

    from tot.tasks.game24 import load_puzzles

    task, puzzles = tasks.get("game24"), load_puzzles()
    found: list[Any] = []
    for row in range(900, 1000):
        start = task.initial(puzzles[row])
        found += [start, task.result(start, next(iter(task.actions(start))))]
        if len(found) >= count:
            break
    return found[:count]


def label_values(model: Any, chosen: list[Any]) -> list[float]:
    from tot import tasks
    from tot.evaluators import LabelValuer

    valuer = LabelValuer(tasks.get("game24").prompts, model)
    return [valuer(state) for state in chosen]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--binary")
    parser.add_argument("--rows", default="900:910")
    parser.add_argument("--states", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--minutes", type=float, default=15.0,
                        help="start no row that would end (taking as long as the last) after this many minutes")
    parser.add_argument("--flags", default=FLAGS, help=f"more llama-server flags (default: {FLAGS!r})")
    parser.add_argument("--out-dir", default=str(ROOT / "benchmarks" / "results" / "llama-server"))
    parser.add_argument("--summary")
    args = parser.parse_args()

    from tot import api
    from tot.models import default_model_path

    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    chosen = states(args.states)
    started = time.monotonic()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [binary(args.binary), "-m", str(default_model_path()), "--host", "127.0.0.1", "--port", str(port),
               "-c", "4096", "-t", str(args.threads), *shlex.split(args.flags)]
    print("server:", shlex.join(command), flush=True)
    log = out_dir / "llama-server.log"
    with open(log, "ab") as sink:
        server = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT)
    try:
        wait_until_ready(url, server)
        remote, local, last, failed = [], [], 0.0, None
        for row in rows(args.rows):
            if time.monotonic() - started + last > 60 * args.minutes:
                print(f"another row would pass --minutes {args.minutes:g}: no more rows", flush=True)
                break
            before = time.monotonic()
            try:
                served_line = bench(out_dir / "server.jsonl", row, ["--server", url])
                local_line = bench(out_dir / "local.jsonl", row, ["--threads", str(args.threads)])
            except subprocess.CalledProcessError as error:
                failed = {"row": row, "exit": error.returncode, "server_alive": server.poll() is None}
                print(f"row {row}: the bench failed ({failed}); llama-server's log: {log}", flush=True)
                break
            remote += served_line
            local += local_line
            print(f"row {row}: server {remote[-1]['seconds']:.1f} s, local {local[-1]['seconds']:.1f} s", flush=True)
            last = time.monotonic() - before
        remote_values: list[float] = []
        bounds = None
        if server.poll() is None:
            served = api.connect(url)
            remote_values = label_values(served, chosen)
            bounds = served.meter.label_bounds
    finally:
        server.terminate()
        server.wait(timeout=30)
    local_values = label_values(api.load_model(threads=args.threads), chosen)

    pairs = list(zip(remote, local))
    same = [r["row"] for r, l in pairs if r["answer"] == l["answer"]]
    if not pairs:
        sys.exit(f"no row ran (failed: {failed})")
    median_server = statistics.median(r["seconds"] for r in remote)
    median_local = statistics.median(r["seconds"] for r in local)
    differences = [abs(a - b) for a, b in zip(remote_values, local_values)]
    summary = {
        "server_flags": args.flags,
        "rows": args.rows,
        "rows_run": [r["row"] for r in remote],
        "failed": failed,
        "solved": {"server": sum(r["solved"] for r in remote), "local": sum(r["solved"] for r in local)},
        "same_answers": len(same),
        "puzzles": len(pairs),
        "different": [{"row": r["row"], "server": r["answer"], "local": l["answer"]} for r, l in pairs if r["row"] not in same],
        "median_seconds": {"server": median_server, "local": median_local, "ratio": median_server / median_local},
        "median_calls": {"server": statistics.median(r["usage"]["calls"] for r in remote),
                         "local": statistics.median(r["usage"]["calls"] for r in local)},
        "label_values": {"states": len(differences), "max_difference": max(differences, default=None),
                         "mean_difference": statistics.fmean(differences) if differences else None, "bounds": bounds},
        "machine": harness.machine(),
        "load_average": os.getloadavg(),
        "minutes": round((time.monotonic() - started) / 60, 1),
    }
    text = json.dumps(summary, indent=2)
    print(text)
    if args.summary:
        Path(args.summary).write_text(text + "\n")


if __name__ == "__main__":
    main()
