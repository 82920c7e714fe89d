"""Deterministic character-level typos for robustness tests (the edits themselves are
:func:`charword.misspellings.typo`, which the Trainer's noise uses too).

A token is *eligible* when it has at least two characters and at least one ASCII
letter (so ``,`` and ``a`` are never touched: deleting a one-letter word is not a
typo). :func:`perturb_texts` gives exactly ``round(p * eligible)`` eligible tokens of
the whole corpus (rounded half up) one typo each; every typo is a single edit (Damerau-Levenshtein
distance 1) of one of four kinds:

  swap        two adjacent, different characters change places;
  drop        one character is deleted;
  insert      a QWERTY neighbour of a letter is typed next to it;
  substitute  a letter becomes one of its QWERTY neighbours (case kept).

Positions are a seeded permutation of the eligible tokens and each token's edit is
seeded by its position, so the perturbations are nested: the typos at ``p = 0.1`` are
also present, unchanged, at ``p = 0.2``. White space is kept exactly.
"""
import random
import re
from typing import Dict, List, Sequence, Tuple

from charword.misspellings import KINDS, QWERTY_NEIGHBOURS, is_eligible, typo  # noqa: F401  (re-exported)

_TOKEN = re.compile(r"\S+")


def typo_count(p: float, eligible: int) -> int:
    """How many of ``eligible`` tokens rate ``p`` perturbs: ``p * eligible`` rounded half up."""
    return int(p * eligible + 0.5)


def perturb_texts(texts: Sequence[str], p: float, seed: int) -> Tuple[List[str], Dict[str, int]]:
    """Texts with a fraction ``p`` of all eligible tokens given one typo each.

    Returns the new texts and counts: ``eligible`` tokens, ``perturbed`` tokens and
    one count per typo kind.
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"typo rate must be in [0, 1], got {p}")
    spans = [[m.span() for m in _TOKEN.finditer(text)] for text in texts]
    eligible = [(t, k) for t, text_spans in enumerate(spans) for k, (a, b) in enumerate(text_spans)
                if is_eligible(texts[t][a:b])]
    order = list(eligible)
    random.Random(f"typo-positions:{seed}").shuffle(order)
    chosen = order[: typo_count(p, len(eligible))]
    stats = {"eligible": len(eligible), "perturbed": len(chosen), **{kind: 0 for kind in KINDS}}
    edits: Dict[int, Dict[int, str]] = {}
    for t, k in chosen:
        a, b = spans[t][k]
        new, kind = typo(texts[t][a:b], random.Random(f"typo-edit:{seed}:{t}:{k}"))
        edits.setdefault(t, {})[k] = new
        stats[kind] += 1
    out = []
    for t, text in enumerate(texts):
        if t not in edits:
            out.append(text)
            continue
        pieces, last = [], 0
        for k, (a, b) in enumerate(spans[t]):
            pieces.append(text[last:a])
            pieces.append(edits[t].get(k, text[a:b]))
            last = b
        pieces.append(text[last:])
        out.append("".join(pieces))
    return out, stats
