"""The peer every arm is measured against: fastText supervised (Joulin et al. 2017), a
word + character n-gram hybrid, trained on exactly the rows the charword arms train on.

Texts reach fastText normalised as charword's preprocessing normalises them (NFKC,
lower-cased, punctuation and symbols split off as tokens), so both read the same words.
Its settings are chosen like every other arm's: each setting of :data:`GRID` trains once
(seed 1) and the one with the best mean accuracy over the selection set's clean and
misspelled texts wins (the first on ties). Training is single-threaded, so a seed (which
shuffles the training rows) gives the same model every time.
"""
import hashlib
import itertools
import json
import os
import random
import unicodedata
from typing import Dict, List, Sequence, Tuple

from charword.misspellings import split_tokens

LABEL_PREFIX = "__label__"
# What a new user would start from (char n-grams 3-6, word bigrams, dim 50, 5 epochs, lr 0.5),
# and the settings around it that the selection set chooses among.
DEFAULTS = {"dim": 50, "minn": 3, "maxn": 6, "wordNgrams": 2, "epoch": 5, "lr": 0.5}
GRID = {"epoch": (5, 10, 25), "lr": (0.1, 0.5, 1.0), "wordNgrams": (1, 2), "minn": (0, 3)}


def normalise(text: str) -> str:
    """``text`` as charword's preprocessing reads it: NFKC, lower-cased, tokens joined by spaces."""
    return " ".join(split_tokens(unicodedata.normalize("NFKC", text).lower()))


def grid() -> List[dict]:
    """Every setting of :data:`GRID` over :data:`DEFAULTS` (``minn`` 0 turns char n-grams off)."""
    names = list(GRID)
    settings = []
    for values in itertools.product(*(GRID[name] for name in names)):
        setting = {**DEFAULTS, **dict(zip(names, values))}
        if not setting["minn"]:
            setting["maxn"] = 0
        settings.append(setting)
    return settings


def write_training_file(rows: Sequence[Tuple[str, object]], path: str, seed: int) -> None:
    """``rows`` of ``(text, label)`` in fastText's format, shuffled by ``seed``."""
    order = list(range(len(rows)))
    random.Random(f"fasttext-order:{seed}").shuffle(order)
    with open(path, "w", encoding="utf-8") as handle:
        for i in order:
            text, label = rows[i]
            handle.write(f"{LABEL_PREFIX}{label} {normalise(text)}\n")


def train(rows: Sequence[Tuple[str, object]], setting: dict, seed: int, work_dir: str):
    """A fastText model of ``rows`` with ``setting``, the rows shuffled by ``seed``."""
    import fasttext  # pylint: disable=import-outside-toplevel  (a benchmark dependency only)
    os.makedirs(work_dir, exist_ok=True)
    path = os.path.join(work_dir, f"train_seed{seed}.txt")
    write_training_file(rows, path, seed)
    return fasttext.train_supervised(path, thread=1, verbose=0, seed=seed, **setting)


def predict(model, texts: Sequence[str]) -> List[str]:
    """The most probable label of each text."""
    labels, _ = model.predict([normalise(text) for text in texts])
    return [label[0][len(LABEL_PREFIX):] for label in labels]


def accuracy(model, texts: Sequence[str], labels: Sequence[str]) -> float:
    return sum(p == str(g) for p, g in zip(predict(model, texts), labels)) / len(texts)


def select(rows: Sequence[Tuple[str, object]], selection: Dict[str, list], work_dir: str) -> Tuple[dict, list]:
    """The setting of :func:`grid` with the best mean selection accuracy (clean and
    misspelled), and every setting's scores. Kept in ``work_dir`` and reused for the same
    rows, selection set and grid (the search trains every setting: minutes on a large file)."""
    key = hashlib.sha256(json.dumps([list(map(list, rows)), selection, grid()], sort_keys=True, default=str)
                         .encode("utf-8")).hexdigest()[:16]
    kept = os.path.join(work_dir, f"selection-{key}.json")
    if os.path.exists(kept):
        with open(kept, encoding="utf-8") as handle:
            found = json.load(handle)
        return found["setting"], found["scores"]
    scores = []
    for setting in grid():
        model = train(rows, setting, 1, work_dir)
        clean = accuracy(model, selection["clean"], selection["labels"])
        misspelled = accuracy(model, selection["misspelled"], selection["labels"])
        scores.append({"setting": setting, "clean": clean, "misspelled": misspelled})
    best = max(scores, key=lambda s: (s["clean"] + s["misspelled"]) / 2)  # max keeps the first of equals
    with open(kept, "w", encoding="utf-8") as handle:
        json.dump({"setting": best["setting"], "scores": scores}, handle)
    return best["setting"], scores
