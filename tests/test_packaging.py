"""tot installs under its own name: a user's `strategies` or `benchmarks` package cannot shadow its parts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = """
import json, tot
from tot.bench import harness, report
result = tot.solve("game24", "4 9 10 13", strategy="dfs", generator="all", valuer="uniform")
print(json.dumps({"solved": result.solved, "bench": harness.__name__}))
"""


def test_solve_runs_from_a_folder_with_its_own_strategies_and_benchmarks_packages(tmp_path: Path) -> None:
    for name in ("strategies", "benchmarks"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text(f"raise ImportError('the user\\'s own {name} package')\n")
    # `python -c` puts the working folder first on sys.path, as a user's script in their project does.
    done = subprocess.run([sys.executable, "-c", SCRIPT], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert '"solved": true' in done.stdout and '"bench": "tot.bench.harness"' in done.stdout
