"""Make the README's picture of the HTML view: solve a puzzle on the default model, write its page, and screenshot it
in headless Chromium (Debian's `chromium`, as the browser tests use).

    .venv/bin/python tools/view_screenshot.py                      # docs/view.png: game24 4 9 10 13
    .venv/bin/python tools/view_screenshot.py --out /tmp/v.png --task crossword --puzzle 5
    .venv/bin/python tools/view_screenshot.py --result run.json   # a result saved by `tot solve --json`

With pngquant installed, the PNG is then quantised (same picture, about a quarter of the bytes).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests import browser  # noqa: E402  (the repository's own helper, shared with the browser tests)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", default="game24")
    parser.add_argument("--puzzle", default="4 9 10 13")
    parser.add_argument("--out", default=str(ROOT / "docs" / "view.png"))
    parser.add_argument("--size", default="1280x760", help="WIDTHxHEIGHT of the window")
    parser.add_argument("--fragment", default="", help="a view of the page, e.g. node=12 or step=5")
    parser.add_argument("--result", help="a result saved by `tot solve --json` to draw, instead of solving again")
    args = parser.parse_args()
    if browser.find() is None:
        sys.exit("no chromium: apt-get install chromium")
    width, height = (int(part) for part in args.size.split("x"))
    with tempfile.TemporaryDirectory() as folder:
        page = Path(folder) / "view.html"
        if args.result:
            command = [sys.executable, "-m", "tot", "view", args.result, "--html", str(page)]
        else:
            command = [sys.executable, "-m", "tot", "solve", args.task, *args.puzzle.split(), "--html", str(page), "--json"]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode not in (0, 1):
            sys.exit(done.stderr)
        data = json.loads(Path(args.result).read_text() if args.result else done.stdout)
        marks = browser.marks(browser.dump_dom(page, args.fragment))
        if marks.get("ready") != "1" or "error" in marks:
            sys.exit(f"the page did not load cleanly: {marks}")
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        browser.screenshot(page, Path(args.out), fragment=args.fragment, size=(width, height))
    if shutil.which("pngquant"):  # the same picture in a quarter of the bytes (apt-get install pngquant)
        subprocess.run(["pngquant", "--quality", "70-90", "--speed", "1", "--strip", "--force", "--output", args.out, args.out],
                       check=True)
    print(f"{args.out}: {args.task} {args.puzzle}, solved={data['solved']}, {len(data['tree']['nodes'])} nodes, "
          f"{data['usage']['calls']} model calls")


if __name__ == "__main__":
    main()
