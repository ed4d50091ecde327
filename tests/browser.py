"""Headless Chromium for the tests of tot's HTML page: the DOM after the page's script ran, and screenshots.

Debian's `chromium` package (`.ci/run` installs it); `TOT_CHROMIUM` names another binary. Each run gets a new,
empty profile and no network features, so nothing outside the page is loaded.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-extensions", "--mute-audio")


def find() -> str | None:
    """The Chromium binary to use, or None."""
    named = os.environ.get("TOT_CHROMIUM")
    if named:
        return shutil.which(named) or (named if Path(named).is_file() else None)
    return next((found for name in NAMES if (found := shutil.which(name))), None)


def _run(page: Path, fragment: str, *extra: str) -> str:
    binary = find()
    assert binary is not None, "no chromium"
    url = page.resolve().as_uri() + (f"#{fragment}" if fragment else "")
    with tempfile.TemporaryDirectory(prefix="tot-chromium-") as profile:
        done = subprocess.run([binary, *FLAGS, f"--user-data-dir={profile}", *extra, url],
                              capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def dump_dom(page: Path, fragment: str = "") -> str:
    """The page's DOM, serialised after its scripts ran (`--dump-dom`)."""
    return _run(page, fragment, "--dump-dom")


def screenshot(page: Path, out: Path, *, fragment: str = "", size: tuple[int, int] = (1280, 800)) -> Path:
    """A PNG of the page at `size` (width, height)."""
    _run(page, fragment, f"--screenshot={out}", f"--window-size={size[0]},{size[1]}", "--hide-scrollbars")
    assert out.is_file(), f"chromium wrote no screenshot at {out}"
    return out


def marks(dom: str) -> dict[str, str]:
    """The `data-tot-*` attributes the page's script sets on <html> (ready, nodes, rows, path, step, ms, error)."""
    opening = re.search(r"<html([^>]*)>", dom)
    assert opening is not None, dom[:500]
    return dict(re.findall(r'data-tot-([a-z-]+)="([^"]*)"', opening.group(1)))


def rows(dom: str, cls: str = "") -> list[str]:
    """The data-id of each node row in the tree (with class `cls` too, if given)."""
    found = []
    for match in re.finditer(r'<div class="(row[^"]*)"( data-id="(\d+)")?', dom):
        if not cls or cls in match.group(1).split():
            found.append(match.group(3) or "")
    return found
