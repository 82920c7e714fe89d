"""Linear probe: how much of a labelled set's classes a pretrained encoder's features hold.

  python -m bench probe --data ../shared/data/sst2 --model-dir ENCODER [--train-limit 1000]
      [--word-vectors ../shared/data/glove/glove.6B.50d.100k.txt.gz]

Averages the ``embed_tokens`` outputs of a SavedModel (``charword pretrain``'s encoder or a
classifier) over each text's real tokens, the contextual vectors and the token layer's
branches apart, and fits a logistic regression (scikit-learn) on the quality benchmark's
training rows (the same seeded sample), its regularisation chosen on the held-out rows.
References: a bag of words and word bigrams, and the mean vectors of ``--word-vectors``.
"""
import argparse
import os
import sys
from typing import Dict, List, Optional, Sequence

import numpy as np

from bench import data
from bench.quality import SPLIT_SEED
from charword import contract, load_model

C_GRID = (0.01, 0.1, 1.0, 10.0)


def mean_over_tokens(vectors: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``vectors`` [B, T, D] averaged over the real tokens (``mask`` [B, T] bool): [B, D]
    (zeros for a text without tokens)."""
    weights = mask[..., None].astype(np.float32)
    return (vectors * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1.0)


def encoder_features(model_dir: str, texts: Sequence[str]) -> Dict[str, object]:
    """Per text: mean contextual vector, mean token-layer vector [N, D] and its tokens."""
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    embed = load_model(model_dir).signatures[contract.EMBED_TOKENS]
    parts: Dict[str, list] = {"contextual vectors": [], "token layer": [], "tokens": []}
    for start in range(0, len(texts), 128):
        out = {name: value.numpy() for name, value in embed(text=tf.constant(list(texts[start:start + 128]))).items()}
        parts["contextual vectors"].append(mean_over_tokens(out["embeddings"], out["mask"]))
        branches = np.concatenate([out["word_embeddings"], out["char_embeddings"]], axis=-1)  # [B, T, word + char]
        parts["token layer"].append(mean_over_tokens(branches, out["mask"]))
        parts["tokens"] += [[token.decode("utf-8") for token, real in zip(row, keep) if real]
                            for row, keep in zip(out["tokens"], out["mask"])]
    return {name: value if name == "tokens" else np.concatenate(value) for name, value in parts.items()}


def mean_word_vectors(path: str, tokens: Sequence[Sequence[str]]) -> np.ndarray:
    """Each text's mean vector from the file over its tokens found there: [N, D]."""
    from charword.word_vectors import read_word_vectors  # pylint: disable=import-outside-toplevel
    vectors = read_word_vectors(path, {token for text in tokens for token in text})
    return np.stack([np.mean([vectors.get(t) for t in text if t in vectors.index] or [np.zeros(vectors.dim)], axis=0)
                     for text in tokens])


def probe(train: np.ndarray, train_y: Sequence, held: np.ndarray, held_y: Sequence, dev: np.ndarray,
          dev_y: Sequence) -> Dict[str, float]:
    """Logistic regression on standardised features, ``C`` chosen on the held-out rows:
    ``{"C", "held_out", "dev"}`` (accuracies)."""
    from sklearn import linear_model, preprocessing  # pylint: disable=import-outside-toplevel
    scale = preprocessing.StandardScaler(with_mean=not hasattr(train, "tocsr")).fit(train).transform
    fits = [(linear_model.LogisticRegression(C=c, max_iter=5000).fit(scale(train), train_y), c) for c in C_GRID]
    best, c = max(fits, key=lambda fit: fit[0].score(scale(held), held_y))
    return {"C": c, "held_out": best.score(scale(held), held_y), "dev": best.score(scale(dev), dev_y)}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench probe", description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, help="as for python -m bench quality")
    parser.add_argument("--model-dir", required=True, help="a SavedModel with embed_tokens (a pushed version folder)")
    parser.add_argument("--train-limit", type=int, help="at most N training rows (the quality report's sample)")
    parser.add_argument("--word-vectors", help="a word-vectors file to probe beside the encoder")
    parser.add_argument("--out", default=os.path.join("outputs", "bench", "probe"), help="its staged data")
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    from sklearn.feature_extraction.text import CountVectorizer  # pylint: disable=import-outside-toplevel

    splits = data.load_splits(args.data, None, None, None, os.path.join(args.out, "work"), SPLIT_SEED,
                              train_limit=args.train_limit)
    rows = {"train": splits.train, "held": splits.validation, "dev": splits.dev}
    parts = {name: [text for text, _ in part] for name, part in rows.items()}
    labels = {name: [str(label) for _, label in part] for name, part in rows.items()}
    encoded = {name: encoder_features(args.model_dir, texts) for name, texts in parts.items()}
    features = {name: {part: encoded[part][name] for part in parts} for name in ("contextual vectors", "token layer")}
    words = CountVectorizer(analyzer=lambda tokens: tokens + [" ".join(p) for p in zip(tokens, tokens[1:])]).fit(
        encoded["train"]["tokens"])
    features["bag of words and bigrams"] = {part: words.transform(encoded[part]["tokens"]) for part in parts}
    if args.word_vectors:
        features[f"mean {os.path.basename(args.word_vectors)}"] = {
            part: mean_word_vectors(args.word_vectors, encoded[part]["tokens"]) for part in parts}
    print(f"Linear probe of {args.model_dir}: " + ", ".join(f"{len(t)} {name} rows" for name, t in parts.items()))
    print("| features | C | held-out accuracy | dev accuracy |\n|---|---|---|---|")
    for name, by_part in features.items():
        result = probe(*(values for part in parts for values in (by_part[part], labels[part])))
        print(f"| {name} | {result['C']:g} | {100 * result['held_out']:.1f} | {100 * result['dev']:.1f} |")
    return 0
