"""Builds the hybrid character+word classifier from the typed configuration.

    word_ids [B, T] ─ Embedding ───────────────────────────────────────────────────────────────┐
                                                                                                ├ TokenMerge ─
    char_ids [B, T, C] ─ DistinctTokens ─ Embedding ─ CharCNN | CharBiLSTM (or CharNgrams) ─ GatherTokens ┘
        ─ SentenceEncoder ─ (+ WordBigramBag) ─ Dense(softmax)

The char encoder sees each distinct token of a batch once (``DistinctTokens``: the
distinct char-id rows, cut to the longest token) and ``GatherTokens`` gives every token
slot its row's vector; the sentence encoder stops at the batch's longest text. The
outputs are those of computing every slot (tests/test_model.py compares them).

``word_only`` drops the char branch and ``char_only`` the word branch; the token mask
always comes from the word ids (id 0 = padding). With ``model.word_vectors`` the word
embedding starts from pretrained vectors (:mod:`trainer.pretrained`), frozen, trainable,
or frozen for the first steps (a :class:`trainer.layers.GradientGate` after it), with a
projection to ``word_dim`` when the file's dimension differs. In the hybrid,
``model.oov_routing`` can keep the word vector of an OOV token out of the merge
(:class:`trainer.layers.OOVRouting`). With ``model.sentence_path`` a pretrained sentence
encoder's vector is fused with the token path before the head (:mod:`trainer.fusion`).
With ``model.init_from`` the token layer (and, by ``init_from_layers``, the sentence BiLSTM)
start from a pretrained language model (:mod:`trainer.init_from`), frozen for the first
steps when a gradient gate follows them (``init_from_mode`` ``frozen_then_trainable``).
"""
from typing import NamedTuple, Optional

import tf_keras as keras

from charword import contract
from charword.config import ModelConfig, PreprocessingConfig
from trainer import fusion, layers, pretrained

# With model.init_from_mode frozen_then_trainable: the gate above the pretrained layers.
INIT_FROM_GATE = "pretrained_encoder_gate"


class Models(NamedTuple):
    """The classifier and, sharing its weights, the per-token encoder."""

    classifier: keras.Model   # {word_ids, char_ids} -> probabilities [B, classes]
    token_encoder: keras.Model  # {word_ids, char_ids} -> merged token vectors [B, T, D]
    # {word_ids, char_ids} -> {contract.WORD_EMBEDDINGS: [B, T, word_dim], contract.CHAR_EMBEDDINGS:
    # [B, T, char_output_dim]}: the vectors each branch gives the merge (branches of the variant only)
    branch_encoder: keras.Model
    # the sentence path's inputs -> sentence vector [B, dim] (trainer/fusion.py); None without one
    sentence_model: Optional[keras.Model] = None


def model_inputs() -> dict:
    """The model's symbolic Keras inputs by name, int64, any token and char length:
    ``word_ids`` [B, T] and ``char_ids`` [B, T, C]."""
    return {contract.WORD_IDS: keras.Input(shape=(None,), dtype="int64", name=contract.WORD_IDS),
            contract.CHAR_IDS: keras.Input(shape=(None, None), dtype="int64", name=contract.CHAR_IDS)}


def build_char_encoder(model_cfg: ModelConfig, char_ids):
    """The char branch on the symbolic ``char_ids`` [B, T, C]: byte embedding
    (``char_embedding``), then the configured ``char_cnn`` or ``char_bilstm`` encoder over
    each token's chars (padding chars masked), or the ``char_ngrams`` bag of hashed byte
    n-grams, once per distinct token of the batch. Returns char vectors
    [B, T, char_output_dim]."""
    rows, index = layers.DistinctTokens(name="distinct_tokens")(char_ids)
    if model_cfg.char_encoder == "ngrams":
        min_n, max_n = model_cfg.char_ngrams
        encoded = layers.CharNgramEncoder(min_n, max_n, model_cfg.char_ngram_buckets, model_cfg.char_output_dim,
                                          model_cfg.highway_layers, name="char_ngrams")(rows)
        return layers.GatherTokens(name="char_vectors")([encoded, index])
    char_vectors = keras.layers.Embedding(contract.CHAR_VOCAB_SIZE, model_cfg.char_dim,
                                          name="char_embedding")(rows)
    if model_cfg.char_encoder == "cnn":
        encoder = layers.CharCNNEncoder(model_cfg.char_filters, model_cfg.highway_layers,
                                        model_cfg.char_output_dim, name="char_cnn")
    else:
        encoder = layers.CharBiLSTMEncoder(model_cfg.char_lstm_units, model_cfg.highway_layers,
                                           model_cfg.char_output_dim, name="char_bilstm")
    encoded = encoder(char_vectors, mask=layers.char_mask(rows))
    return layers.GatherTokens(name="char_vectors")([encoded, index])


class TokenLayer(NamedTuple):
    """The symbolic token layer: inputs, token mask, merged token vectors, and the vectors
    each branch gives the merge."""

    inputs: dict                # contract.WORD_IDS [B, T], contract.CHAR_IDS [B, T, C]
    mask: object                # [B, T] bool: real tokens
    tokens: object              # [B, T, D] merged token vectors
    branches: dict              # contract.WORD_EMBEDDINGS / CHAR_EMBEDDINGS -> [B, T, dim]


def build_token_layer(model_cfg: ModelConfig, prep_cfg: PreprocessingConfig, word_vocab_size: int,
                      word_init: Optional[pretrained.InitialRows] = None) -> TokenLayer:
    """The word and char branches merged per token, on fresh symbolic inputs (the part of
    the classifier that pretraining trains too, :mod:`trainer.language_model`)."""
    if bool(model_cfg.word_vectors) != (word_init is not None):
        raise ValueError("model.word_vectors and word_init go together: pass the rows trainer.pretrained.prepare "
                         "reads for model.word_vectors, and only then")
    inputs = model_inputs()
    word_ids, char_ids = inputs[contract.WORD_IDS], inputs[contract.CHAR_IDS]
    mask = layers.token_mask(word_ids)
    branches = {}
    char_vectors = build_char_encoder(model_cfg, char_ids) if model_cfg.variant in ("hybrid", "char_only") else None
    if model_cfg.variant in ("hybrid", "word_only"):
        vocab_rows = contract.word_vocab_input_dim(word_vocab_size, prep_cfg.num_oov_buckets)
        word_vectors = pretrained.word_embedding(model_cfg, vocab_rows, word_ids, word_init)
        if char_vectors is not None and model_cfg.oov_routing != "none":
            word_vectors = layers.OOVRouting(model_cfg.oov_routing, word_vocab_size, name="oov_routing")(
                [word_vectors, word_ids, char_vectors])
        branches[contract.WORD_EMBEDDINGS] = word_vectors
    if char_vectors is not None:
        branches[contract.CHAR_EMBEDDINGS] = char_vectors
    tokens = layers.TokenMerge(model_cfg.merge, model_cfg.token_dim, name="token_merge")(list(branches.values()))
    return TokenLayer(inputs, mask, tokens, branches)


def build_models(model_cfg: ModelConfig, prep_cfg: PreprocessingConfig, word_vocab_size: int,
                 num_classes: int, word_init: Optional[pretrained.InitialRows] = None) -> Models:
    """Builds the classifier for ``word_vocab_size`` words (OOV buckets and padding are
    added here) and ``num_classes`` classes. Inputs accept any token and char length.
    ``word_init`` (:func:`trainer.pretrained.prepare`) is required when
    ``model.word_vectors`` is set, and holds the word embedding's initial rows."""
    if num_classes < 2:
        raise ValueError(f"the label vocabulary has {num_classes} class(es); a classifier needs at least 2")
    token_layer = build_token_layer(model_cfg, prep_cfg, word_vocab_size, word_init)
    inputs, mask, tokens = token_layer.inputs, token_layer.mask, token_layer.tokens
    word_ids = inputs[contract.WORD_IDS]
    branch_encoder = keras.Model(inputs, token_layer.branches, name="branch_encoder")
    token_encoder = keras.Model(inputs, tokens, name="token_encoder")

    # with init_from_mode frozen_then_trainable the pretrained layers below the gate learn once it opens
    gated = model_cfg.init_from is not None and model_cfg.init_from_mode == "frozen_then_trainable"
    if gated and model_cfg.init_from_layers == "token_layer":
        tokens = layers.GradientGate(name=INIT_FROM_GATE)(tokens)
    x = keras.layers.Dropout(model_cfg.dropout, name="token_dropout")(tokens)
    x = layers.SentenceEncoder(model_cfg.sentence_encoder, model_cfg.sentence_units,
                               trim_padding=True, name="sentence_encoder")(x, mask=mask)
    if gated and model_cfg.init_from_layers == "token_layer_and_bilstm":
        x = layers.GradientGate(name=INIT_FROM_GATE)(x)
    if model_cfg.word_bigram_buckets and model_cfg.variant != "char_only":
        bigrams = layers.WordBigramBag(word_vocab_size, model_cfg.word_bigram_buckets, model_cfg.word_bigram_dim,
                                       name="word_bigrams")(word_ids)
        x = keras.layers.Concatenate(name="with_word_bigrams")([x, bigrams])
    sentence_path = fusion.build_sentence_path(model_cfg)
    x = fusion.fuse(model_cfg, x, sentence_path)
    x = keras.layers.Dropout(model_cfg.dropout, name="head_dropout")(x)
    probabilities = keras.layers.Dense(num_classes, activation="softmax", name=contract.PROBABILITIES)(x)
    classifier = keras.Model({**inputs, **(sentence_path.inputs if sentence_path else {})}, probabilities,
                             name=f"charword_{model_cfg.variant}")
    return Models(classifier, token_encoder, branch_encoder,
                  sentence_model=sentence_path.model if sentence_path else None)
