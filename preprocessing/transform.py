"""The tf.Transform ``preprocessing_fn``: raw text and label to fixed-shape model inputs.

Outputs (names and meaning in :mod:`charword.contract`):
  word_ids   int64 [max_tokens]: 0 = padding, 1..V = vocabulary, V+1.. = OOV buckets;
  char_ids   int64 [max_tokens, max_chars]: ELMo byte ids of the same tokens, so row i
             of ``char_ids`` always describes token i of ``word_ids``;
  label_id   int64 []: index in the ``labels`` vocabulary (string or integer labels;
             ``label_counts`` holds each label's count of training examples);
  token_count, dropped_token_count, truncated_token_count, oov_count, has_oov:
             per-example monitoring counts (``has_oov`` drives the evaluation slice);
  sentence_vector or piece_ids: the sentence path's feature, when ``model.sentence_path``
             is not ``none`` (see :mod:`preprocessing.sentence`).

The word vocabulary is the training data's ``vocab_size`` most frequent words, or, with
``model.init_from``, the pretrained encoder's (its ``words`` file).

Texts with more than ``max_tokens`` tokens keep their first ``max_tokens``; an empty or
white-space-only text becomes all padding (``token_count`` 0). The same rules apply
at serving time because the exported model runs this very graph.
"""
import os
from typing import Any, Dict, Optional

import tensorflow as tf
import tensorflow_transform as tft

from charword import contract
from charword.config import CharwordConfig
from preprocessing import sentence, text_ops


def _dense_column(value: Any, default) -> tf.Tensor:
    """A ``[batch]`` tensor from a dense ``[batch]`` / ``[batch, 1]`` or sparse column."""
    if isinstance(value, tf.SparseTensor):
        value = tf.sparse.to_dense(tf.sparse.reset_shape(value, [tf.shape(value, out_type=tf.int64)[0], 1]),
                                   default_value=default)
    if value.shape.rank == 2:
        value = tf.squeeze(value, axis=1)
    return value


def _label_strings(label: Any) -> tf.Tensor:
    label = _dense_column(label, "" if getattr(label, "dtype", tf.string) == tf.string else 0)
    if label.dtype != tf.string:
        label = tf.strings.as_string(label)
    return label


def _word_vocabulary(tokens: tf.RaggedTensor, full_cfg: CharwordConfig):
    """The word vocabulary (its file, deferred): analysed over ``tokens``, or with
    ``model.init_from`` the pretrained encoder's file as it is, so that word ids are its rows."""
    cfg = full_cfg.preprocessing
    if full_cfg.model.init_from:
        tft.annotate_asset(contract.WORD_VOCAB, contract.WORD_VOCAB)  # found by name, as an analysed vocabulary
        return tf.constant(os.path.join(full_cfg.model.init_from, contract.WORD_VOCAB))
    return tft.vocabulary(tokens, top_k=cfg.vocab_size, frequency_threshold=cfg.frequency_threshold,
                          vocab_filename=contract.WORD_VOCAB)


def preprocessing_fn(inputs: Dict[str, Any], custom_config: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """tf.Transform entry point; ``custom_config`` is :meth:`CharwordConfig.transform_config`
    (or all of :meth:`CharwordConfig.to_dict`)."""
    full_cfg = CharwordConfig.from_dict(custom_config or {})
    cfg = full_cfg.preprocessing
    text = _dense_column(inputs[contract.RAW_TEXT], "")
    tokens = text_ops.tokenize(text, cfg.lowercase)
    kept = tokens[:, : cfg.max_tokens]

    vocab = _word_vocabulary(tokens, full_cfg)
    bucket_ids = tft.apply_vocabulary(kept, vocab, num_oov_buckets=cfg.num_oov_buckets)
    in_vocab_ids = tft.apply_vocabulary(kept, vocab, default_value=-1)
    oov_count = tf.reduce_sum(tf.cast(in_vocab_ids < 0, tf.int64), axis=1)

    outputs = {
        contract.WORD_IDS: (bucket_ids + 1).to_tensor(default_value=contract.WORD_PAD_ID,
                                                      shape=[None, cfg.max_tokens]),
        contract.CHAR_IDS: text_ops.char_ids(kept, cfg.max_chars).to_tensor(
            default_value=contract.CHAR_PAD_ID, shape=[None, cfg.max_tokens, cfg.max_chars]),
        contract.TOKEN_COUNT: tokens.row_lengths(),
        contract.DROPPED_TOKEN_COUNT: tokens.row_lengths() - kept.row_lengths(),
        contract.TRUNCATED_TOKEN_COUNT: text_ops.truncated_token_count(kept, cfg.max_chars),
        contract.OOV_COUNT: oov_count,
        contract.HAS_OOV: tf.cast(oov_count > 0, tf.int64),
    }
    outputs.update(sentence.sentence_features(text, full_cfg.model))
    if contract.RAW_LABEL in inputs:
        labels = _label_strings(inputs[contract.RAW_LABEL])
        outputs[contract.LABEL_ID] = tft.compute_and_apply_vocabulary(labels, vocab_filename=contract.LABEL_VOCAB)
        tft.vocabulary(labels, vocab_filename=contract.LABEL_COUNTS, store_frequency=True)
    return outputs
