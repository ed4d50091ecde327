"""Write tot/data/wordfreq5.csv: the five-letter words of wordfreq's large English list with Zipf frequencies.

The crossword task reads that file as its word-frequency prior (and unions it with the
`english-words` list), so wordfreq is needed only to regenerate it, not at run time:

    pip install --target /tmp/wf wordfreq==3.1.1
    PYTHONPATH=/tmp/wf python tools/make_wordfreq5.py

The data is wordfreq's, under CC BY-SA 4.0 (see tot/data/LICENSE-wordfreq).
"""

from __future__ import annotations

import math
from pathlib import Path

from wordfreq import get_frequency_dict  # type: ignore[import-not-found]

OUT = Path(__file__).resolve().parent.parent / "tot" / "data" / "wordfreq5.csv"


def main() -> None:
    frequencies = get_frequency_dict("en", wordlist="large")
    words = {w.upper(): f for w, f in frequencies.items() if len(w) == 5 and w.isascii() and w.isalpha()}
    lines = ["word,zipf"] + [f"{w},{math.log10(f) + 9:.2f}" for w, f in sorted(words.items())]
    OUT.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"{len(words)} words -> {OUT}")


if __name__ == "__main__":
    main()
