"""Dev sets with real human misspellings, and the paired test that compares two models on them.

:func:`real_sets` puts misspellings from a lexicon the models never trained or were
tuned on into the dev texts (:func:`charword.misspellings.substitute`) so that a given
share of all dev tokens is misspelled, the same texts for every model, nested across
shares. :func:`mcnemar` is the exact McNemar test on two models' per-example
correctness over the same examples.
"""
import math
from typing import Dict, List, Sequence, Tuple

from charword import misspellings


def set_name(rate: float) -> str:
    """Name of the dev set with ``rate`` of its tokens misspelled, e.g. ``real 0.1``."""
    return f"real {rate:g}"


def real_sets(texts: Sequence[str], lexicon_path: str, rates: Sequence[float], seed: int
              ) -> Tuple[Dict[str, List[str]], Dict[str, dict]]:
    """``({set name: texts}, {set name: counts})`` for each share in ``rates``; counts as
    :func:`charword.misspellings.substitute` gives them, plus ``corrections`` (words the
    lexicon knows) and ``pairs``."""
    pairs = misspellings.read_lexicon(lexicon_path)
    table = misspellings.by_correction(pairs, lowercase=True)
    sets, stats = {}, {}
    for rate in rates:
        name = set_name(rate)
        sets[name], stats[name] = misspellings.substitute(texts, rate, seed, table)
        stats[name].update(pairs=len(pairs), corrections=len(table))
    return sets, stats


def mcnemar(first: Sequence[bool], second: Sequence[bool]) -> Dict[str, float]:
    """Exact two-sided McNemar test of paired correctness: ``only_first`` (first right,
    second wrong), ``only_second`` and ``p_value`` (binomial on the discordant pairs)."""
    if len(first) != len(second):
        raise ValueError(f"paired results differ in length: {len(first)} vs {len(second)}")
    only_first = sum(1 for a, b in zip(first, second) if a and not b)
    only_second = sum(1 for a, b in zip(first, second) if b and not a)
    n, k = only_first + only_second, min(only_first, only_second)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n if n else 1.0
    return {"only_first": only_first, "only_second": only_second, "p_value": min(1.0, 2 * tail)}
