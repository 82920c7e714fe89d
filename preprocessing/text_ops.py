"""TensorFlow string ops that turn raw text into tokens and character ids.

These functions are pure TensorFlow graph code: tf.Transform traces them into the
transform graph, so training (Beam) and serving (``TransformFeaturesLayer``) run the
very same ops.

Tokenisation rules, in order:
  1. Unicode NFKC normalisation (full-width letters, ligatures and compatibility
     characters become their plain forms; ``ﬁ`` -> ``fi``, ``Ａ`` -> ``A``);
  2. optional lower-casing (Unicode-aware);
  3. every punctuation mark (``\\p{P}``), symbol (``\\p{S}``, which includes emoji) and
     CJK ideograph becomes a token of its own, so ``great!`` gives ``great`` and ``!``;
  4. split on any Unicode white space; empty strings give no tokens.

Character ids follow ELMo: each UTF-8 byte ``b`` of a token is id ``b + 1``, wrapped
in a begin-of-word and an end-of-word marker; id 0 is char padding. A token longer
than ``max_chars - 2`` bytes keeps its first ``max_chars - 2`` bytes (byte-level
truncation, which can cut a multi-byte character) and both markers.
"""
import tensorflow as tf
import tensorflow_text as tf_text

from charword import contract

_SPLIT_OFF = r"([\p{P}\p{S}\p{Han}\p{Hiragana}\p{Katakana}])"
_WHITESPACE = r"[\p{Z}\s]+"


def normalize(text: tf.Tensor, lowercase: bool) -> tf.Tensor:
    """NFKC-normalises (and optionally lower-cases) a string tensor of any shape."""
    text = tf_text.normalize_utf8(text, "NFKC")
    if lowercase:
        text = tf.strings.lower(text, encoding="utf-8")
    return text


def tokenize(text: tf.Tensor, lowercase: bool) -> tf.RaggedTensor:
    """Splits a ``[batch]`` string tensor into ``[batch, (tokens)]`` non-empty tokens."""
    text = normalize(text, lowercase)
    text = tf.strings.regex_replace(text, _SPLIT_OFF, r" \1 ")
    text = tf.strings.regex_replace(text, _WHITESPACE, " ")
    tokens = tf.strings.split(tf.strings.strip(text), sep=" ")
    return tf.ragged.boolean_mask(tokens, tf.strings.length(tokens) > 0)


def char_ids(tokens: tf.RaggedTensor, max_chars: int) -> tf.RaggedTensor:
    """ELMo-style byte ids of each token, ``[batch, (tokens), max_chars]`` int64.

    Row ``[b, i]`` is ``[BOW, byte_1 + 1, ..., byte_k + 1, EOW, 0, ...]`` with
    ``k = min(len(token), max_chars - 2)``.
    """
    flat_tokens = tokens.flat_values
    byte_strings = tf.strings.bytes_split(flat_tokens)  # [n, (bytes)] of 1-byte strings
    byte_values = tf.reshape(tf.io.decode_raw(byte_strings.flat_values, tf.uint8), [-1])
    ids = byte_strings.with_flat_values(tf.cast(byte_values, tf.int64) + 1)
    ids = ids[:, : max_chars - 2]
    num_tokens = tf.shape(flat_tokens, out_type=tf.int64)[0]
    bow = tf.fill([num_tokens, 1], tf.constant(contract.BEGIN_OF_WORD_ID, tf.int64))
    eow = tf.fill([num_tokens, 1], tf.constant(contract.END_OF_WORD_ID, tf.int64))
    wrapped = tf.concat([tf.RaggedTensor.from_tensor(bow), ids, tf.RaggedTensor.from_tensor(eow)], axis=1)
    padded = wrapped.to_tensor(default_value=contract.CHAR_PAD_ID, shape=[None, max_chars])
    return tokens.with_flat_values(padded)


def truncated_token_count(tokens: tf.RaggedTensor, max_chars: int) -> tf.Tensor:
    """Per text, how many tokens have more bytes than fit between the markers."""
    too_long = tf.strings.length(tokens) > max_chars - 2
    return tf.reduce_sum(tf.cast(too_long, tf.int64), axis=1)


def decode_char_ids(ids) -> bytes:
    """Inverse of :func:`char_ids` for one token row (a list/array of ints): the bytes
    between the markers. Used by tests and debugging tools."""
    ids = [int(i) for i in ids]
    if not ids or ids[0] != contract.BEGIN_OF_WORD_ID or contract.END_OF_WORD_ID not in ids:
        raise ValueError(f"not a char-id row with begin/end-of-word markers: {ids}")
    end = ids.index(contract.END_OF_WORD_ID)
    return bytes(i - 1 for i in ids[1:end])
