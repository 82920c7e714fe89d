"""The misspelled texts every model is scored on, the same for every model.

:func:`misspelled_sets` replaces words of the dev texts so that a given share of all
tokens is misspelled (:func:`charword.misspellings.substitute`): with a lexicon, by real
human misspellings from it (one never used to train or tune), else by synthetic one-edit
typos; nested across shares. :func:`selection_set` is what settings are chosen on: the
held-out training rows, clean and misspelled from the *training* lexicon (or synthetic
typos), so the dev set stays unseen until the end.
"""
from typing import Dict, List, Optional, Sequence, Tuple

from charword import misspellings


def set_name(rate: float, real: bool) -> str:
    """Name of the set with ``rate`` of its tokens misspelled, e.g. ``real 0.1`` or ``typos 0.1``."""
    return f"{'real' if real else 'typos'} {rate:g}"


def misspelled_sets(texts: Sequence[str], rates: Sequence[float], seed: int, lexicon: Optional[str] = None
                    ) -> Tuple[Dict[str, List[str]], Dict[str, dict]]:
    """``({set name: texts}, {set name: counts})`` for each share in ``rates``; counts as
    :func:`charword.misspellings.substitute` gives them (plus the lexicon's ``pairs``)."""
    table, pairs = None, 0
    if lexicon:
        read = misspellings.read_lexicon(lexicon)
        table, pairs = misspellings.by_correction(read, lowercase=True), len(read)
    sets, stats = {}, {}
    for rate in rates:
        name = set_name(rate, real=table is not None)
        sets[name], stats[name] = misspellings.substitute(texts, rate, seed, table)
        stats[name]["pairs"] = pairs
    return sets, stats


def selection_set(rows: Sequence[tuple], rate: float, seed: int, train_lexicon: Optional[str]) -> dict:
    """``labels``, ``clean`` and ``misspelled`` texts of ``rows`` (``(text, label)``), and
    a ``source`` line saying how they were misspelled."""
    texts = [text for text, _ in rows]
    sets, _ = misspelled_sets(texts, (rate,), seed, train_lexicon)
    source = (f"{rate:.0%} of tokens misspelled from the training lexicon" if train_lexicon
              else f"{rate:.0%} of tokens given a one-edit typo")
    return {"labels": [str(label) for _, label in rows], "clean": texts, "misspelled": next(iter(sets.values())),
            "source": source}
