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


def encoder_features(embed, texts: Sequence[str]) -> Dict[str, object]:
    """Per text, through the ``embed_tokens`` signature ``embed``: the mean contextual and
    token-layer vectors [N, D] and the text's tokens."""
    parts: Dict[str, list] = {"contextual vectors": [], "token layer": [], "tokens": []}
    for batch in (np.array(texts[start:start + 128], dtype=object) for start in range(0, len(texts), 128)):
        out = {name: value.numpy() for name, value in embed(text=batch).items()}
        parts["contextual vectors"].append(mean_over_tokens(out["embeddings"], out["mask"]))
        branches = np.concatenate([out["word_embeddings"], out["char_embeddings"]], axis=-1)  # [B, T, word + char]
        parts["token layer"].append(mean_over_tokens(branches, out["mask"]))
        parts["tokens"] += [[token.decode("utf-8") for token, real in zip(row, keep) if real]
                            for row, keep in zip(out["tokens"], out["mask"])]
    return {name: value if name == "tokens" else np.concatenate(value) for name, value in parts.items()}


def mean_word_vectors(path: str, tokens: Dict[str, Sequence[Sequence[str]]]) -> Dict[str, np.ndarray]:
    """Per part, each text's mean vector from the file over its tokens found there: [N, D]."""
    from charword.word_vectors import read_word_vectors  # pylint: disable=import-outside-toplevel
    vectors = read_word_vectors(path, {token for texts in tokens.values() for text in texts for token in text})
    return {part: np.stack([np.mean([vectors.get(t) for t in text if t in vectors.index] or [np.zeros(vectors.dim)],
                                    axis=0) for text in texts]) for part, texts in tokens.items()}


def probe(features: Dict[str, np.ndarray], labels: Dict[str, Sequence]) -> Dict[str, float]:
    """Logistic regression on the standardised ``features["train"]`` [N, D], ``C`` chosen on
    ``features["held_out"]``: ``{"C", "held_out", "dev"}`` (accuracies on those parts)."""
    from sklearn import linear_model, preprocessing  # pylint: disable=import-outside-toplevel
    scale = preprocessing.StandardScaler(with_mean=not hasattr(features["train"], "tocsr")).fit(features["train"])
    score = {part: (scale.transform(features[part]), labels[part]) for part in ("train", "held_out", "dev")}
    fits = [(linear_model.LogisticRegression(C=c, max_iter=5000).fit(*score["train"]), c) for c in C_GRID]
    best, c = max(fits, key=lambda fit: fit[0].score(*score["held_out"]))
    return {"C": c, "held_out": best.score(*score["held_out"]), "dev": best.score(*score["dev"])}


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
    rows = {"train": splits.train, "held_out": splits.validation, "dev": splits.dev}
    parts = {name: [text for text, _ in part] for name, part in rows.items()}
    labels = {name: [str(label) for _, label in part] for name, part in rows.items()}
    embed = load_model(args.model_dir).signatures[contract.EMBED_TOKENS]
    encoded = {name: encoder_features(embed, texts) for name, texts in parts.items()}
    features = {name: {part: encoded[part][name] for part in parts} for name in ("contextual vectors", "token layer")}
    words = CountVectorizer(analyzer=lambda tokens: tokens + [" ".join(p) for p in zip(tokens, tokens[1:])]).fit(
        encoded["train"]["tokens"])
    features["bag of words and bigrams"] = {part: words.transform(encoded[part]["tokens"]) for part in parts}
    if args.word_vectors:
        features[f"mean {os.path.basename(args.word_vectors)}"] = mean_word_vectors(
            args.word_vectors, {part: encoded[part]["tokens"] for part in parts})
    print(f"Linear probe of {args.model_dir}: " + ", ".join(f"{len(t)} {name} rows" for name, t in parts.items()))
    print("| features | C | held-out accuracy | dev accuracy |\n|---|---|---|---|")
    for name, by_part in features.items():
        result = probe(by_part, labels)
        print(f"| {name} | {result['C']:g} | {100 * result['held_out']:.1f} | {100 * result['dev']:.1f} |")
    return 0
