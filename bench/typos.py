"""Deterministic character-level typos for robustness tests.

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

KINDS = ("swap", "drop", "insert", "substitute")

_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
# Row offsets of a physical keyboard (in key widths): a key's neighbours are the keys
# at most one width away on its own row and the rows above and below.
_OFFSETS = (0.0, 0.25, 0.75)


def _neighbours() -> Dict[str, str]:
    positions = {ch: (r, c + _OFFSETS[r]) for r, row in enumerate(_ROWS) for c, ch in enumerate(row)}
    result = {}
    for ch, (r, x) in positions.items():
        result[ch] = "".join(sorted(
            other for other, (r2, x2) in positions.items()
            if other != ch and ((r2 == r and abs(x2 - x) == 1) or (abs(r2 - r) == 1 and abs(x2 - x) <= 0.75))))
    return result


QWERTY_NEIGHBOURS = _neighbours()
_TOKEN = re.compile(r"\S+")
_LETTER = re.compile(r"[A-Za-z]")


def is_eligible(token: str) -> bool:
    """Whether :func:`typo` may change this token."""
    return len(token) >= 2 and _LETTER.search(token) is not None


def _keyboard_neighbour(ch: str, rng: random.Random) -> str:
    choice = rng.choice(QWERTY_NEIGHBOURS[ch.lower()])
    return choice.upper() if ch.isupper() else choice


def typo(token: str, rng: random.Random) -> Tuple[str, str]:
    """``(new_token, kind)``: one edit of an eligible token; the result always differs."""
    if not is_eligible(token):
        raise ValueError(f"token {token!r} is not eligible for a typo")
    letters = [i for i, ch in enumerate(token) if ch.lower() in QWERTY_NEIGHBOURS]
    swaps = [i for i in range(len(token) - 1) if token[i] != token[i + 1]]
    kinds = [k for k in KINDS if k != "swap" or swaps]
    kind = rng.choice(kinds)
    if kind == "swap":
        i = rng.choice(swaps)
        return token[:i] + token[i + 1] + token[i] + token[i + 2:], kind
    if kind == "drop":
        i = rng.randrange(len(token))
        return token[:i] + token[i + 1:], kind
    i = rng.choice(letters)
    key = _keyboard_neighbour(token[i], rng)
    if kind == "substitute":
        return token[:i] + key + token[i + 1:], kind
    at = i + rng.randrange(2)  # before or after the letter whose neighbour was hit
    return token[:at] + key + token[at:], kind


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
