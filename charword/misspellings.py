"""Misspellings, real and synthetic: a lexicon reader, one-edit typos, and real
misspellings substituted into texts.

Lexicon files are TSV, one ``misspelling<TAB>correction`` pair a line, with an optional
``misspelling<TAB>correction`` header (as in ``shared/data/misspellings``). The Trainer's
noise (:mod:`trainer.noise`) draws real pairs from a training lexicon and synthetic
typos from :func:`typo`; the robustness view of the pipeline and the benchmark score
texts with real misspellings put in by :func:`substitute`.

A synthetic typo is a single edit (Damerau-Levenshtein distance 1) of a token with at
least two characters and an ASCII letter (:func:`is_eligible`): two adjacent characters
swapped, one dropped, a QWERTY neighbour of a letter inserted next to it, or a letter
replaced by a QWERTY neighbour (case kept).
"""
import random
import re
from typing import IO, Callable, Dict, List, Optional, Sequence, Tuple

KINDS = ("swap", "drop", "insert", "substitute")
HEADER = ("misspelling", "correction")

_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
# Row offsets of a physical keyboard (in key widths): a key's neighbours are the keys
# at most one width away on its own row and the rows above and below.
_OFFSETS = (0.0, 0.25, 0.75)
_LETTER = re.compile(r"[A-Za-z]")
# Words (runs of letters and digits) and single punctuation marks or symbols: close to
# how preprocessing/ splits text, without TensorFlow.
_TOKEN = re.compile(r"[^\W_]+|[^\w\s]|_")
_WORD = re.compile(r"[^\W\d_]+")


class LexiconError(ValueError):
    """A lexicon file that cannot be read; the message names the file and row."""


def _neighbours() -> Dict[str, str]:
    positions = {ch: (r, c + _OFFSETS[r]) for r, row in enumerate(_ROWS) for c, ch in enumerate(row)}
    result = {}
    for ch, (r, x) in positions.items():
        result[ch] = "".join(sorted(
            other for other, (r2, x2) in positions.items()
            if other != ch and ((r2 == r and abs(x2 - x) == 1) or (abs(r2 - r) == 1 and abs(x2 - x) <= 0.75))))
    return result


QWERTY_NEIGHBOURS = _neighbours()


def split_tokens(text: str) -> List[str]:
    """The words and single punctuation marks or symbols of ``text``, split as
    preprocessing/ splits it (without TensorFlow and its NFKC normalisation)."""
    return _TOKEN.findall(text)


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


def synthetic_typos(word: str, count: int, seed: int) -> List[str]:
    """Up to ``count`` distinct one-edit typos of ``word`` (fewer when short words have
    fewer), the same for the same ``(word, count, seed)``; ``[]`` for ineligible words."""
    if not is_eligible(word):
        return []
    found: List[str] = []
    for attempt in range(4 * count):
        new, _ = typo(word, random.Random(f"synthetic:{seed}:{word}:{attempt}"))
        if new != word and new not in found:
            found.append(new)
            if len(found) == count:
                break
    return found


def read_lexicon(path: str, opener: Callable[..., IO] = open) -> List[Tuple[str, str]]:
    """``(misspelling, correction)`` pairs of a TSV lexicon file. ``opener`` opens the
    path for text reading (``open``; ``tf.io.gfile.GFile`` or ``fileio.open`` for
    ``gs://``). Raises :class:`LexiconError` naming the file and row of a bad line."""
    try:
        with opener(path, "r") as handle:
            text = handle.read()
    except (OSError, ValueError) as error:
        raise LexiconError(f"{path}: cannot read the misspelling lexicon ({error})") from None
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    pairs = []
    for row, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = [field.strip() for field in line.split("\t")]
        if row == 1 and tuple(f.lower() for f in fields) == HEADER:
            continue
        if len(fields) != 2 or not all(fields):
            raise LexiconError(f"{path}, row {row}: expected 'misspelling<TAB>correction', got {line!r}")
        pairs.append((fields[0], fields[1]))
    if not pairs:
        raise LexiconError(f"{path}: the misspelling lexicon holds no pairs")
    return pairs


def by_correction(pairs: Sequence[Tuple[str, str]], lowercase: bool) -> Dict[str, Tuple[str, ...]]:
    """Correction -> its distinct misspellings (each different from the correction),
    lower-cased when ``lowercase``; corrections in first-seen order."""
    found: Dict[str, List[str]] = {}
    for misspelling, correction in pairs:
        if lowercase:
            misspelling, correction = misspelling.lower(), correction.lower()
        if misspelling != correction and misspelling not in found.setdefault(correction, []):
            found[correction].append(misspelling)
    return {word: tuple(variants) for word, variants in found.items() if variants}


def _with_case_of(original: str, new: str) -> str:
    if original.isupper() and len(original) > 1:
        return new.upper()
    if original[:1].isupper():
        return new[:1].upper() + new[1:]
    return new


def substitute(texts: Sequence[str], fraction: float, seed: int,
               lexicon: Optional[Dict[str, Tuple[str, ...]]] = None) -> Tuple[List[str], Dict[str, int]]:
    """Texts in which misspellings replace words so that ``fraction`` of all tokens
    (words and single punctuation marks) are misspelled, or as many as can be.

    With a ``lexicon`` (:func:`by_correction` output, lower-cased keys) a word is
    eligible when its lower-cased form is a key, and takes one of its real misspellings
    (case kept: ``Good`` -> ``Goood``); without one, every word :func:`is_eligible`
    allows takes a synthetic :func:`typo`. Positions are a seeded permutation of the
    eligible words and each word's misspelling is seeded by its position, so the sets are
    nested: the substitutions at 5% are also present, unchanged, at 10%. Returns the
    texts and counts: ``tokens``, ``eligible`` (the lexicon's coverage), ``wanted`` and
    ``substituted``.
    """
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"misspelled fraction must be in [0, 1], got {fraction}")
    spans = [[m.span() for m in _TOKEN.finditer(text)] for text in texts]

    def eligible_word(word: str) -> bool:
        return bool(_WORD.fullmatch(word)) and (word.lower() in lexicon if lexicon is not None else is_eligible(word))

    eligible = [(t, k) for t, text_spans in enumerate(spans) for k, (a, b) in enumerate(text_spans)
                if eligible_word(texts[t][a:b])]
    tokens = sum(len(s) for s in spans)
    wanted = int(fraction * tokens + 0.5)
    order = list(eligible)
    random.Random(f"misspelling-positions:{seed}").shuffle(order)
    edits: Dict[int, Dict[int, str]] = {}
    for t, k in order[:wanted]:
        a, b = spans[t][k]
        word = texts[t][a:b]
        rng = random.Random(f"misspelling-choice:{seed}:{t}:{k}")
        new = _with_case_of(word, rng.choice(lexicon[word.lower()])) if lexicon is not None else typo(word, rng)[0]
        edits.setdefault(t, {})[k] = new
    out = []
    for t, text in enumerate(texts):
        pieces, last = [], 0
        for k, new in sorted(edits.get(t, {}).items()):
            a, b = spans[t][k]
            pieces += [text[last:a], new]
            last = b
        out.append("".join(pieces) + text[last:])
    return out, {"tokens": tokens, "eligible": len(eligible), "wanted": wanted,
                 "substituted": min(wanted, len(eligible))}
