"""Training-time misspelling noise over transformed features, the same in both views.

:func:`build_table` runs once per training run. It gathers misspellings of every word in
the vocabulary: real pairs from a lexicon whose correction is that word, and
synthetic one-edit typos (:func:`charword.misspellings.synthetic_typos`). Each
misspelling and each correction goes through the transform graph's own
``TransformFeaturesLayer`` as a one-token text, so a misspelling's word id (usually an
OOV bucket) and char ids are exactly what serving computes for that string; nothing
re-implements tokenisation or hashing. A misspelling that tokenises into more than one
token, or that normalises to the correct word, is skipped.

:func:`add_noise` maps the training batches: each eligible token (an in-vocabulary
word with at least one misspelling in the table) is replaced with probability ``rate``
by one of its misspellings, a lexicon one with probability ``lexicon_share`` when the
word has both kinds. Draws are stateless random numbers keyed by the run's seed and the
batch index, so they differ every epoch and repeat with the seed. The batch keeps the
clean ids for the auxiliary loss (``contract.CLEAN_WORD_IDS``, ``contract.CLEAN_CHAR_IDS``)
and marks the noised tokens (``contract.NOISED``); only training batches carry them.
"""
import logging
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
from tfx import v1 as tfx

from charword import contract, misspellings
from charword.config import CharwordConfig, NoiseConfig, PreprocessingConfig
from trainer import data

logger = logging.getLogger(__name__)

_BATCH = 4096


class NoiseTable(NamedTuple):
    """Misspellings of the vocabulary words, as the transform graph encodes them.

    Rows ``[lexicon_start[w], lexicon_start[w] + lexicon_count[w])`` of ``word_ids`` and
    ``char_ids`` are the lexicon misspellings of word id ``w`` (1..V), then its
    ``synthetic_count[w]`` synthetic ones. Index 0 (padding) has none.
    """

    word_ids: np.ndarray         # int64 [N]: word id of each misspelling
    char_ids: np.ndarray         # int64 [N, max_chars]: its char ids
    strings: Tuple[bytes, ...]   # [N]: the misspelled strings (for logs and tests)
    lexicon_start: np.ndarray    # int64 [V + 1]
    lexicon_count: np.ndarray    # int64 [V + 1]
    synthetic_count: np.ndarray  # int64 [V + 1]; they follow the word's lexicon rows

    @property
    def vocab_size(self) -> int:
        return len(self.lexicon_start) - 1


def _encode(layer, raw_spec, texts: Sequence[bytes]) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(word_ids [n], char_ids [n, C], token_count [n])`` of one-token texts, through
    the transform graph."""
    word_ids, char_ids, counts = [], [], []
    for start in range(0, len(texts), _BATCH):
        text = tf.constant(list(texts[start:start + _BATCH]), tf.string)
        out = layer({contract.RAW_TEXT: data.raw_text_input(text, raw_spec[contract.RAW_TEXT])})
        word_ids.append(out[contract.WORD_IDS][:, 0].numpy())
        char_ids.append(out[contract.CHAR_IDS][:, 0].numpy())
        counts.append(out[contract.TOKEN_COUNT].numpy().reshape(-1))
    if not texts:
        return np.zeros([0], np.int64), np.zeros([0, 0], np.int64), np.zeros([0], np.int64)
    return np.concatenate(word_ids), np.concatenate(char_ids), np.concatenate(counts)


def _candidates(vocab: List[str], pairs: Sequence[Tuple[str, str]], cfg: NoiseConfig, prep: PreprocessingConfig,
                seed: int) -> Tuple[Dict[str, List[str]], Dict[str, List[str]]]:
    """Misspelled strings per correction string: lexicon ones and synthetic ones (a
    synthetic typo equal to a lexicon misspelling of the same word is left out)."""
    lexicon = {word: list(variants) for word, variants in misspellings.by_correction(pairs, prep.lowercase).items()}
    synthetic = {}
    if cfg.synthetic_per_word:
        for word in vocab:
            taken = set(lexicon.get(word, ()))
            typos = [t for t in misspellings.synthetic_typos(word, cfg.synthetic_per_word, seed) if t not in taken]
            if typos:
                synthetic[word] = typos
    return lexicon, synthetic


def build_table(tf_transform_output: tft.TFTransformOutput, cfg: NoiseConfig, prep: PreprocessingConfig,
                seed: int, lexicon_pairs: Optional[Sequence[Tuple[str, str]]] = None) -> NoiseTable:
    """The run's :class:`NoiseTable`. ``lexicon_pairs`` default to ``cfg.lexicon``'s
    pairs (none without a lexicon); ``seed`` seeds the synthetic typos."""
    if lexicon_pairs is None:
        lexicon_pairs = misspellings.read_lexicon(cfg.lexicon, tf.io.gfile.GFile) if cfg.lexicon else []
    vocab = [w.decode("utf-8", "replace") for w in tf_transform_output.vocabulary_by_name(contract.WORD_VOCAB)]
    vocab_size = len(vocab)
    lexicon, synthetic = _candidates(vocab, lexicon_pairs, cfg, prep, seed)
    layer = tf_transform_output.transform_features_layer()
    raw_spec = tf_transform_output.raw_feature_spec()

    # Clean word ids of the corrections, through the graph (a correction outside the
    # vocabulary, or of several tokens, has no clean id to noise).
    corrections = sorted(set(lexicon) | set(synthetic))
    clean_ids, clean_chars, clean_counts = _encode(layer, raw_spec, [c.encode("utf-8") for c in corrections])
    strings: List[bytes] = []
    kinds: List[int] = []   # 0 = lexicon, 1 = synthetic
    owners: List[int] = []
    for correction, word_id, count in zip(corrections, clean_ids, clean_counts):
        if count != 1 or not 1 <= word_id <= vocab_size:
            continue
        for kind, source in enumerate((lexicon, synthetic)):
            for variant in source.get(correction, ()):
                strings.append(variant.encode("utf-8"))
                kinds.append(kind)
                owners.append(int(word_id))
    miss_ids, miss_chars, miss_counts = _encode(layer, raw_spec, strings)
    clean_chars_by_id = {int(w): chars for w, chars, n in zip(clean_ids, clean_chars, clean_counts) if n == 1}
    keep = [i for i in range(len(strings))
            if miss_counts[i] == 1 and not np.array_equal(miss_chars[i], clean_chars_by_id[owners[i]])]
    keep.sort(key=lambda i: (owners[i], kinds[i]))
    max_chars = prep.max_chars
    word_ids = np.array([miss_ids[i] for i in keep], np.int64)
    char_ids = np.array([miss_chars[i] for i in keep], np.int64).reshape(len(keep), max_chars)
    lexicon_start = np.zeros(vocab_size + 1, np.int64)
    lexicon_count = np.zeros(vocab_size + 1, np.int64)
    synthetic_count = np.zeros(vocab_size + 1, np.int64)
    for row, i in enumerate(keep):
        owner = owners[i]
        if lexicon_count[owner] == 0 and synthetic_count[owner] == 0:
            lexicon_start[owner] = row
        (lexicon_count if kinds[i] == 0 else synthetic_count)[owner] += 1
    table = NoiseTable(word_ids, char_ids, tuple(strings[i] for i in keep), lexicon_start, lexicon_count,
                       synthetic_count)
    logger.info("Noise table: %d misspellings (%d from the lexicon, %d synthetic) of %d of %d vocabulary words; "
                "%d skipped (several tokens, or the correct word after normalisation)", len(keep),
                int(lexicon_count.sum()), int(synthetic_count.sum()),
                int(np.count_nonzero(lexicon_count + synthetic_count)), vocab_size, len(strings) - len(keep))
    return table


def noise_batch(features: Dict[str, tf.Tensor], table: NoiseTable, rate: float, lexicon_share: float,
                seed: tf.Tensor) -> Dict[str, tf.Tensor]:
    """One batch of ``word_ids`` [B, T] and ``char_ids`` [B, T, C] with misspellings put
    in (see the module docstring); ``seed`` is a stateless-random seed, int64 [2].
    Adds ``CLEAN_WORD_IDS`` [B, T], ``CLEAN_CHAR_IDS`` [B, T, C] and ``NOISED`` [B, T] (bool)."""
    word_ids, char_ids = features[contract.WORD_IDS], features[contract.CHAR_IDS]
    vocab_size = table.vocab_size
    in_vocab = (word_ids >= 1) & (word_ids <= vocab_size)
    index = tf.where(in_vocab, word_ids, tf.zeros_like(word_ids))
    lexicon_count = tf.gather(tf.constant(table.lexicon_count), index)
    synthetic_count = tf.gather(tf.constant(table.synthetic_count), index)
    shape = tf.shape(word_ids)
    draws = tf.random.stateless_uniform(tf.concat([[3], shape], 0), seed, dtype=tf.float32)
    noised = in_vocab & (lexicon_count + synthetic_count > 0) & (draws[0] < rate)
    use_lexicon = (lexicon_count > 0) & ((synthetic_count == 0) | (draws[1] < lexicon_share))
    count = tf.where(use_lexicon, lexicon_count, synthetic_count)
    offset = tf.minimum(tf.cast(draws[2] * tf.cast(count, tf.float32), tf.int64), tf.maximum(count - 1, 0))
    skip_lexicon = tf.where(use_lexicon, tf.zeros_like(lexicon_count), lexicon_count)
    start = tf.gather(tf.constant(table.lexicon_start), index) + skip_lexicon
    rows = tf.clip_by_value(start + offset, 0, max(len(table.word_ids) - 1, 0))
    if len(table.word_ids):
        new_words = tf.gather(tf.constant(table.word_ids), rows)
        new_chars = tf.gather(tf.constant(table.char_ids), rows)
    else:
        new_words, new_chars, noised = word_ids, char_ids, tf.zeros_like(noised)
    out = dict(features)
    out[contract.WORD_IDS] = tf.where(noised, new_words, word_ids)
    out[contract.CHAR_IDS] = tf.where(noised[..., tf.newaxis], new_chars, char_ids)
    out[contract.CLEAN_WORD_IDS] = word_ids
    out[contract.CLEAN_CHAR_IDS] = char_ids
    out[contract.NOISED] = noised
    return out


def add_noise(dataset: tf.data.Dataset, table: NoiseTable, rate: float, lexicon_share: float, seed: int,
              keep_clean: bool = True) -> tf.data.Dataset:
    """Maps a dataset of ``(features, label)`` batches through :func:`noise_batch`, with
    a seed of ``(seed, batch index)``: different every epoch, the same for the same seed.
    Without ``keep_clean`` the batches hold the model's features only."""
    def apply(index, batch):
        features, label = batch
        noised = noise_batch(features, table, rate, lexicon_share, tf.stack([tf.constant(seed, tf.int64), index]))
        if not keep_clean:
            noised = {name: value for name, value in noised.items() if name not in contract.NOISE_FEATURES}
        return noised, label
    return dataset.enumerate().map(apply, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def trainer_datasets(fn_args: tfx.components.FnArgs, cfg: CharwordConfig, tf_transform_output: tft.TFTransformOutput,
                     batch_size: int, eval_batches: int, keep_clean: bool) -> Tuple[tf.data.Dataset, tf.data.Dataset]:
    """``(train, eval)`` datasets of ``run_fn``: the training batches
    (:func:`trainer.data.make_dataset`) with ``cfg.noise`` applied (unless ``noise.rate``
    is 0), seeded by ``training.seed``, ``keep_clean`` as in :func:`add_noise`; the first
    ``eval_batches`` eval batches, clean, repeated (:func:`trainer.data.make_check_dataset`)."""
    seed = cfg.training.seed
    train = data.make_dataset(fn_args.train_files, fn_args.data_accessor, tf_transform_output, batch_size, seed)
    evaluation = data.make_check_dataset(fn_args.eval_files, fn_args.data_accessor, tf_transform_output, batch_size,
                                         eval_batches)
    if cfg.noise.rate > 0:
        table = build_table(tf_transform_output, cfg.noise, cfg.preprocessing, seed)
        train = add_noise(train, table, cfg.noise.rate, cfg.noise.lexicon_share, seed, keep_clean)
    return train, evaluation
