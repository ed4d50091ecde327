"""One self-contained HTML page of a search: the saved result inside, its own script and styles, nothing fetched.

The page (template `tot/data/view.html`) draws a collapsible tree, lazily: only the children of open nodes are in
the document, so a tree of 10,000 nodes opens at once. Each node shows its thought, value, visits, prior and
status; transpositions link to the node they share; the chosen path is highlighted; a slider replays the search
in expansion order; the side panel has the selected node's state (a crossword's board as a grid), the usage and
the config. The result's text only ever reaches the page as text (`textContent`), and its JSON is escaped so that
no string in it can end the script: a result from someone else cannot run code in the page. A Content-Security-
Policy forbids any network access. Address fragments select a view: `#step=K`, `#node=ID`, `#depth=D`, `#states=1`.
"""

from __future__ import annotations

import html
import json
import re
from importlib.resources import files
from typing import Any

_SLOTS = re.compile(r"__TOT_(TITLE|DATA)__")


def page(data: dict[str, Any]) -> str:
    """The HTML page of a saved result (`tot.export.result_data`, or a file `tot solve --json` wrote)."""
    template = files("tot.data").joinpath("view.html").read_text(encoding="utf-8")
    config = data.get("config") or {}
    title = " · ".join(str(part) for part in ("tot", config.get("task"), config.get("puzzle")) if part)
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    # Inside <script>, "</script" or "<!--" would end or bend it: no "<", ">" or "&" is left to form them.
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    slots = {"TITLE": html.escape(title[:200]), "DATA": text}
    return _SLOTS.sub(lambda match: slots[match.group(1)], template)
