"""The one typed configuration of charword.

Every knob of the data reader, the preprocessing, the model, the training loop, the
evaluation gates and the pipeline lives here. Transform and Trainer receive the same
configuration (serialised with :meth:`CharwordConfig.to_dict`) through TFX's
``custom_config``, so they can never disagree on shapes or names.

Invalid values fail when the configuration is built, with a message that names the
field (``ConfigError: model.char_dim must be > 0, got 0``).
"""
from __future__ import annotations

import dataclasses
import json
import typing
from dataclasses import dataclass, field
from typing import Any, Dict, Mapping, Optional, Tuple

from charword.config_types import WrongType, check


class ConfigError(ValueError):
    """A configuration value that cannot work; the message names the field."""


def _require(condition: bool, field_name: str, message: str, value: Any) -> None:
    if not condition:
        raise ConfigError(f"{field_name} {message}, got {value!r}")


def _positive(section: str, obj: Any, *names: str) -> None:
    for name in names:
        value = getattr(obj, name)
        _require(isinstance(value, int) and value > 0, f"{section}.{name}", "must be an integer > 0", value)


class _Section:
    """A config section checks its values as soon as it is built: first each field's type
    (its annotation, strictly: see :mod:`charword.config_types`), then :meth:`validate`."""

    def __post_init__(self) -> None:
        section = _SECTION_NAMES[type(self)]
        hints = typing.get_type_hints(type(self))
        for item in dataclasses.fields(self):
            try:
                value = check(getattr(self, item.name), hints[item.name], f"{section}.{item.name}")
            except WrongType as error:
                raise ConfigError(str(error)) from None
            object.__setattr__(self, item.name, value)  # lists as tuples, ints as floats
        self.validate()

    def validate(self) -> None:  # pragma: no cover - every section overrides it
        raise NotImplementedError


def _one_of(section: str, name: str, value: str, choices: Tuple[str, ...]) -> None:
    _require(value in choices, f"{section}.{name}", f"must be one of {list(choices)}", value)


@dataclass(frozen=True)
class DataConfig(_Section):
    """How raw CSV/TSV files are read.

    Attributes:
      text_column: column holding the text.
      label_column: column holding the class label (string or integer).
      delimiter: field separator; ``None`` picks ``\\t`` for ``.tsv`` files, else ``,``.
      max_dropped_fraction: rows with empty text or a missing label are dropped and
        counted; when more than this fraction of the rows read is dropped, staging stops.
      max_field_bytes: largest cell accepted, in UTF-8 bytes (default 4 MiB); a larger
        cell stops staging with a message naming its file, row and column.
      max_text_chars: longer texts are cut to this many characters when staged (and
        counted); it must stay under CsvExampleGen's 131,072-character cell limit.
      train_buckets: staging hashes each text into one of ``train_buckets +
        eval_buckets`` buckets when no ``eval_data`` is given; the rows of the first
        ``train_buckets`` train, and a class none of whose rows hashed into train stays
        wholly in train (see charword/staging.py).
      eval_buckets: the buckets whose rows are the eval split (the last ``eval_buckets``).
      min_class_rows: every class needs at least this many rows of the (training) data;
        staging stops and lists the rarer classes otherwise.
      eval_data: a CSV/TSV file or directory the user holds out (e.g. a dev set): when
        given, ExampleGen takes it as the eval split (same columns and staging checks)
        and all of the main data trains; ``None`` splits the main data by hash buckets.
    """

    text_column: str = "text"
    label_column: str = "label"
    delimiter: Optional[str] = None
    max_dropped_fraction: float = 0.1
    max_field_bytes: int = 4 * 1024 * 1024
    max_text_chars: int = 100_000
    train_buckets: int = 4
    eval_buckets: int = 1
    min_class_rows: int = 10
    eval_data: Optional[str] = None

    def validate(self) -> None:
        _require(bool(self.text_column), "data.text_column", "must be a non-empty column name", self.text_column)
        _require(bool(self.label_column), "data.label_column", "must be a non-empty column name", self.label_column)
        _require(self.text_column != self.label_column, "data.label_column", "must differ from data.text_column",
                 self.label_column)
        _require(self.delimiter is None or (len(self.delimiter) == 1 and self.delimiter not in '"\r\n'),
                 "data.delimiter", "must be one character other than a quote or a line break", self.delimiter)
        _require(0.0 <= self.max_dropped_fraction < 1.0, "data.max_dropped_fraction", "must be in [0, 1)",
                 self.max_dropped_fraction)
        _positive("data", self, "max_field_bytes", "train_buckets", "eval_buckets", "min_class_rows")
        _require(self.eval_data is None or bool(self.eval_data), "data.eval_data",
                 "must be a path or null (hash split)", self.eval_data)
        _require(isinstance(self.max_text_chars, int) and 0 < self.max_text_chars <= 131_072,
                 "data.max_text_chars", "must be an integer in [1, 131072] (CsvExampleGen's cell limit)",
                 self.max_text_chars)


@dataclass(frozen=True)
class PreprocessingConfig(_Section):
    """Tokenisation, vocabulary and character-id settings (see preprocessing/).

    Attributes:
      max_tokens: tokens kept per text; longer texts are truncated at the end.
      max_chars: character ids per token, including the begin- and end-of-word markers.
      vocab_size: the ``top_k`` most frequent words get their own id.
      frequency_threshold: words seen fewer times than this fall into OOV buckets.
      num_oov_buckets: hash buckets shared by out-of-vocabulary words.
      lowercase: lower-case text (after NFKC normalisation) before tokenising.

    Character ids follow ELMo: every UTF-8 byte is a character, so any script or
    emoji works without a character vocabulary (see :mod:`charword.contract`).
    """

    max_tokens: int = 48
    max_chars: int = 20
    vocab_size: int = 20000
    frequency_threshold: int = 2
    num_oov_buckets: int = 16
    lowercase: bool = True

    def validate(self) -> None:
        _positive("preprocessing", self, "max_tokens", "vocab_size", "frequency_threshold", "num_oov_buckets")
        _require(isinstance(self.max_chars, int) and self.max_chars >= 3, "preprocessing.max_chars",
                 "must be >= 3 (begin-of-word and end-of-word markers plus at least one character)", self.max_chars)


VARIANTS = ("hybrid", "word_only", "char_only")
CHAR_ENCODERS = ("cnn", "bilstm", "ngrams")
MERGE_MODES = ("concat_project", "concat", "sum")
SENTENCE_ENCODERS = ("bilstm", "bilstm_max", "cnn")
OOV_ROUTINGS = ("none", "zero", "gate")
AUX_TARGETS = ("token", "word")
WORD_VECTORS_MODES = ("frozen", "trainable", "frozen_then_trainable")
SENTENCE_PATHS = ("none", "concat", "gated")
SENTENCE_TUNINGS = ("frozen", "trainable")
SENTENCE_PLACEMENTS = ("transform", "model")
CHECK_METRICS = ("loss", "accuracy")
LR_SCHEDULES = ("constant", "warmup_linear_decay")
CLASS_WEIGHTS = ("none", "balanced")
INIT_FROM_LAYERS = ("token_layer_and_bilstm", "token_layer")
PRESETS = ("default", "accurate", "distilled")
# The model fields Transform reads (see CharwordConfig.transform_config).
TRANSFORM_MODEL_FIELDS = ("sentence_path", "sentence_checkpoint", "sentence_placement", "sentence_max_pieces",
                          "init_from")


@dataclass(frozen=True)
class ModelConfig(_Section):
    """Architecture of the hybrid character+word model (see trainer/layers.py).

    Attributes:
      variant: ``hybrid`` (word and char branches), ``word_only`` or ``char_only``.
      word_dim: word embedding size.
      char_dim: character (byte) embedding size.
      char_encoder: ``cnn`` (Kim et al. 2016 / ELMo char-CNN), ``bilstm``, or ``ngrams``
        (fastText's subwords: the mean of hashed byte n-gram embeddings).
      char_filters: ``(width, filters)`` pairs of the char-CNN.
      char_lstm_units: units per direction of the char BiLSTM.
      char_ngrams: ``(min_n, max_n)``: the n-gram lengths of the ``ngrams`` encoder, in
        bytes, begin- and end-of-word markers included.
      char_ngram_buckets: hash buckets (embedding rows) of the ``ngrams`` encoder.
      highway_layers: highway layers after the char encoder (0 disables).
      char_output_dim: size of the per-token char vector after projection.
      merge: how word and char vectors of a token are merged.
      token_dim: merged token vector size for ``concat_project`` and ``sum``.
      sentence_encoder: ``bilstm`` (final states), ``bilstm_max`` (its states max-pooled
        over the tokens) or ``cnn`` (conv + masked max-pool) over tokens.
      sentence_units: units of the sentence encoder.
      word_bigram_buckets: > 0: hash buckets of a bag of word bigrams (fastText's
        ``wordNgrams 2``; pairs of in-vocabulary words) whose mean embedding
        (``word_bigram_dim``) joins the sentence encoding before the head (variants with
        a word branch: ``char_only`` has none); 0: none.
      word_bigram_dim: size of the word-bigram embedding.
      dropout: dropout rate on token vectors and before the head.
      oov_routing: what the word vector of an out-of-vocabulary id (an OOV bucket) does
        in the ``hybrid`` merge: ``none`` (kept), ``zero`` (replaced by zeros, so the
        char vector alone describes unknown words) or ``gate`` (scaled by a learned
        sigmoid gate of the token's char vector, applied to OOV tokens only).
      word_vectors: pretrained word vectors that initialise the word embedding: a GloVe,
        word2vec or fastText text file, plain or ``.gz``, any ``tf.io.gfile`` path
        (``gs://`` too); ``None``: random initialisation (with ``init_from``, the
        encoder's rows: pretrain it with word vectors instead). Vocabulary words found in the
        file get its vectors (file words normalised like the text: NFKC, lower-cased
        when ``preprocessing.lowercase``; first occurrence wins); padding gets zeros;
        words not found and the OOV buckets get normal noise with the found vectors'
        per-dimension mean and standard deviation. The embedding keeps the file's
        dimension; when that differs from ``word_dim``, a linear projection (trained in
        every mode) maps it to ``word_dim`` (see trainer/pretrained.py).
      word_vectors_mode: ``frozen`` (the vectors never change), ``trainable`` (they are
        fine-tuned from the first step) or ``frozen_then_trainable`` (fine-tuned from
        step ``word_vectors_unfreeze_step`` on).
      word_vectors_unfreeze_step: training step at which ``frozen_then_trainable``
        unfreezes the vectors (at or past the last step: they stay frozen).
      sentence_path: a pretrained BERT-family sentence encoder beside the token path:
        ``none`` (no sentence path), ``concat`` (its sentence vector and the token path's
        sentence encoding concatenated and projected) or ``gated`` (both projected, then
        mixed by a learned per-dimension gate); see trainer/fusion.py.
      sentence_checkpoint: the encoder's Hugging Face checkpoint directory (config.json,
        model.safetensors, vocab.txt; any ``tf.io.gfile`` path, ``gs://`` too).
      sentence_tuning: ``frozen`` or ``trainable`` (fine-tuned; needs placement ``model``).
      sentence_lr_scale: a trainable encoder learns at this fraction of
        ``training.learning_rate`` (0.01: 2e-5 at the default 2e-3, a usual BERT
        fine-tuning rate).
      sentence_placement: ``transform`` (the frozen encoder runs once per example in
        tf.Transform and the vector is a feature) or ``model`` (Transform writes WordPiece
        ids and the encoder runs in the model at every step).
      sentence_max_pieces: WordPiece ids per text, ``[CLS]`` and ``[SEP]`` included.
      sentence_fusion_dim: size of the fused vector before the head.
      init_from: a pretrained encoder (a version folder ``charword pretrain`` pushed; see
        trainer/init_from.py) that initialises the token layer and, as ``init_from_layers``
        says, the sentence BiLSTM; Transform then uses the encoder's word vocabulary;
        ``None``: random initialisation. The preprocessing section and the token layer's
        fields must be the encoder's; with the BiLSTM, ``sentence_units`` too, and
        ``sentence_encoder`` a BiLSTM.
      init_from_layers: what starts from the encoder: ``token_layer_and_bilstm`` (its two
        LSTMs become the sentence BiLSTM's directions) or ``token_layer`` (the sentence
        encoder starts fresh, of any kind and width: ELMo's use of a pretrained token layer).
      init_from_mode: how the pretrained weights train: ``frozen``, ``trainable`` or
        ``frozen_then_trainable`` (trainable from step ``init_from_unfreeze_step`` on).
      init_from_unfreeze_step: training step at which ``frozen_then_trainable`` unfreezes
        the pretrained weights.
    """

    variant: str = "hybrid"
    word_dim: int = 64
    char_dim: int = 16
    char_encoder: str = "ngrams"
    char_filters: Tuple[Tuple[int, int], ...] = ((1, 32), (2, 32), (3, 64), (4, 64), (5, 64))
    char_lstm_units: int = 64
    char_ngrams: Tuple[int, int] = (3, 6)
    char_ngram_buckets: int = 100_000
    highway_layers: int = 2
    char_output_dim: int = 64
    merge: str = "concat_project"
    token_dim: int = 128
    sentence_encoder: str = "bilstm"
    sentence_units: int = 64
    word_bigram_buckets: int = 100_000
    word_bigram_dim: int = 64
    dropout: float = 0.2
    oov_routing: str = "zero"
    word_vectors: Optional[str] = None
    word_vectors_mode: str = "frozen_then_trainable"
    word_vectors_unfreeze_step: int = 500
    sentence_path: str = "none"
    sentence_checkpoint: Optional[str] = None
    sentence_tuning: str = "frozen"
    sentence_lr_scale: float = 0.01
    sentence_placement: str = "transform"
    sentence_max_pieces: int = 64
    sentence_fusion_dim: int = 128
    init_from: Optional[str] = None
    init_from_layers: str = "token_layer_and_bilstm"
    init_from_mode: str = "trainable"
    init_from_unfreeze_step: int = 500

    def validate(self) -> None:
        _one_of("model", "variant", self.variant, VARIANTS)
        _require(self.init_from is None or (isinstance(self.init_from, str) and bool(self.init_from.strip())),
                 "model.init_from", "must be a path or null", self.init_from)
        _one_of("model", "init_from_layers", self.init_from_layers, INIT_FROM_LAYERS)
        _require(self.init_from is None or self.init_from_layers == "token_layer"
                 or self.sentence_encoder in ("bilstm", "bilstm_max"), "model.sentence_encoder",
                 "must be a BiLSTM (bilstm or bilstm_max) with model.init_from and init_from_layers "
                 "'token_layer_and_bilstm': the pretrained encoder's LSTMs become its two directions",
                 self.sentence_encoder)
        _one_of("model", "init_from_mode", self.init_from_mode, WORD_VECTORS_MODES)
        _require(isinstance(self.init_from_unfreeze_step, int) and self.init_from_unfreeze_step >= 0,
                 "model.init_from_unfreeze_step", "must be an integer >= 0", self.init_from_unfreeze_step)
        _one_of("model", "word_vectors_mode", self.word_vectors_mode, WORD_VECTORS_MODES)
        _require(self.word_vectors is None or (isinstance(self.word_vectors, str) and bool(self.word_vectors.strip())),
                 "model.word_vectors", "must be a path or null", self.word_vectors)
        _require(self.word_vectors is None or self.init_from is None, "model.word_vectors",
                 "must be null with model.init_from: the pretrained encoder's word rows are the start (pretrain "
                 "it with model.word_vectors to start its words from the file)", self.word_vectors)
        _require(self.word_vectors is None or self.variant != "char_only", "model.word_vectors",
                 "needs a word branch (variant hybrid or word_only), the variant is char_only", self.word_vectors)
        _require(isinstance(self.word_vectors_unfreeze_step, int) and self.word_vectors_unfreeze_step >= 0,
                 "model.word_vectors_unfreeze_step", "must be an integer >= 0", self.word_vectors_unfreeze_step)
        _one_of("model", "oov_routing", self.oov_routing, OOV_ROUTINGS)
        _one_of("model", "char_encoder", self.char_encoder, CHAR_ENCODERS)
        _one_of("model", "merge", self.merge, MERGE_MODES)
        _one_of("model", "sentence_encoder", self.sentence_encoder, SENTENCE_ENCODERS)
        _positive("model", self, "word_dim", "char_dim", "char_lstm_units", "char_output_dim", "token_dim",
                  "sentence_units", "char_ngram_buckets", "word_bigram_dim")
        _require(len(self.char_ngrams) == 2 and 1 <= self.char_ngrams[0] <= self.char_ngrams[1],
                 "model.char_ngrams", "must be (min_n, max_n) with 1 <= min_n <= max_n", self.char_ngrams)
        _require(isinstance(self.word_bigram_buckets, int) and self.word_bigram_buckets >= 0,
                 "model.word_bigram_buckets", "must be an integer >= 0 (0: no word bigrams)", self.word_bigram_buckets)
        _require(isinstance(self.highway_layers, int) and self.highway_layers >= 0, "model.highway_layers",
                 "must be an integer >= 0", self.highway_layers)
        _require(len(self.char_filters) > 0, "model.char_filters", "must list at least one (width, filters) pair",
                 self.char_filters)
        for width, filters in self.char_filters:
            _require(width > 0 and filters > 0, "model.char_filters", "widths and filter counts must be > 0",
                     self.char_filters)
        _require(0.0 <= self.dropout < 1.0, "model.dropout", "must be in [0, 1)", self.dropout)
        _validate_sentence_path(self)


def _validate_sentence_path(model: "ModelConfig") -> None:
    _one_of("model", "sentence_path", model.sentence_path, SENTENCE_PATHS)
    _one_of("model", "sentence_tuning", model.sentence_tuning, SENTENCE_TUNINGS)
    _one_of("model", "sentence_placement", model.sentence_placement, SENTENCE_PLACEMENTS)
    checkpoint = model.sentence_checkpoint
    _require(checkpoint is None or (isinstance(checkpoint, str) and bool(checkpoint.strip())),
             "model.sentence_checkpoint", "must be a checkpoint directory or null", checkpoint)
    _require(model.sentence_path == "none" or checkpoint is not None, "model.sentence_checkpoint",
             f"must name a checkpoint directory when model.sentence_path is {model.sentence_path!r}", checkpoint)
    _require(model.sentence_tuning == "frozen" or model.sentence_placement == "model", "model.sentence_tuning",
             "can be 'trainable' only with model.sentence_placement 'model' (a vector computed in Transform "
             "cannot be fine-tuned)", model.sentence_tuning)
    _require(isinstance(model.sentence_max_pieces, int) and 3 <= model.sentence_max_pieces <= 512,
             "model.sentence_max_pieces", "must be an integer in [3, 512] ([CLS], [SEP] and at least one piece)",
             model.sentence_max_pieces)
    _positive("model", model, "sentence_fusion_dim")
    _require(isinstance(model.sentence_lr_scale, (int, float)) and 0.0 < model.sentence_lr_scale <= 1.0,
             "model.sentence_lr_scale", "must be in (0, 1]", model.sentence_lr_scale)


@dataclass(frozen=True)
class TrainingConfig(_Section):
    """Training loop settings.

    The budget is sized to the data: training makes up to ``max_epochs`` passes over the
    train split and checks the eval split ``checks_per_pass`` times a pass; it stops when the checked
    metric (``check_metric``) has not improved for ``early_stopping_patience`` checks and
    keeps the weights of the best check. ``train_steps`` replaces the passes by a fixed number of steps (still
    checked once per pass, or once at the end when shorter than a pass).

    ``batch_size`` is per replica: the global batch is ``batch_size`` times the number
    of replicas of the ``MirroredStrategy``.

    Attributes:
      batch_size: examples per training step on each replica.
      learning_rate: Adam's learning rate.
      max_epochs: passes over the train split, at most.
      checks_per_pass: checks of the eval split in each pass (the pass split in as many even
        shares of steps); ``early_stopping_patience`` counts checks.
      train_steps: a fixed step budget instead of passes (what TFX's ``TrainArgs.num_steps``
        carries); ``None``: up to ``max_epochs`` passes.
      eval_steps: batches of the eval split each check reads; ``None``: the whole eval
        split, up to ``max_eval_examples`` examples (the same examples at every check).
      max_eval_examples: the eval examples a check reads at most when ``eval_steps`` is
        ``None``.
      check_metric: what a check compares: ``loss`` (the eval split's cross-entropy, lower
        is better) or ``accuracy`` (higher is better).
      early_stopping_patience: checks without improvement before training stops.
      seed: seeds the weights' initialisation, the order of the training examples, the
        training noise and the pretrained-vector rows of words the file lacks.
      deterministic: TensorFlow op determinism: the same seed, data and configuration give
        the same model (a few ops are slower).
      projector_words: > 0: after export, the Trainer writes TensorBoard projector files
        of the token vectors (word branch, char branch, merged; the ``projector_words``
        most frequent vocabulary words) and ``map.png`` (see embeddings/) into the model
        run directory, next to the TensorBoard logs; 0 writes none.
      lr_schedule: ``constant`` (``learning_rate`` throughout) or ``warmup_linear_decay``
        (BERT fine-tuning's: the rate rises linearly from 0 to ``learning_rate`` over the
        first ``warmup_share`` of the planned steps, then falls linearly to 0 at the last
        planned step).
      warmup_share: the share of the planned steps that ``warmup_linear_decay`` warms up over.
      weight_decay: AdamW's decoupled weight decay of a fine-tuned sentence encoder's weight
        matrices (its biases and layer norms, and every other layer, are exempt): each step
        shrinks them by ``weight_decay`` times the encoder's learning rate; 0 turns it off.
      weight_average_span: > 0: training keeps an exponential moving average of the
        weights over about this share of a pass's steps (Polyak averaging, sampled:
        :mod:`trainer.weight_average`) and puts it in place of the weights at every check,
        so checks, early stopping and the exported model see the averaged weights; 0 turns
        it off. At most 0.25: the average starts from the initial weights.
      class_weights: ``none`` (every example weighs 1 in the label loss) or ``balanced``
        (an example of class ``c`` weighs ``N / (K * n_c)``: ``N`` training examples, ``K``
        classes, ``n_c`` of them in class ``c``, as Transform counted them), so every class
        weighs as much in the loss, the eval loss that checks read included; for
        unbalanced classes judged by macro-F1.
    """

    batch_size: int = 32
    learning_rate: float = 2e-3
    max_epochs: int = 10
    checks_per_pass: int = 1
    train_steps: Optional[int] = None
    eval_steps: Optional[int] = None
    max_eval_examples: int = 10_000
    check_metric: str = "loss"
    early_stopping_patience: int = 2
    seed: int = 42
    deterministic: bool = True
    projector_words: int = 0
    lr_schedule: str = "constant"
    warmup_share: float = 0.1
    weight_decay: float = 0.0
    weight_average_span: float = 0.25
    class_weights: str = "none"

    def validate(self) -> None:
        _positive("training", self, "batch_size", "max_epochs", "checks_per_pass", "max_eval_examples",
                  "early_stopping_patience")
        for name in ("train_steps", "eval_steps"):
            value = getattr(self, name)
            _require(value is None or (isinstance(value, int) and value > 0), f"training.{name}",
                     "must be an integer > 0 or null", value)
        _require(self.learning_rate > 0, "training.learning_rate", "must be > 0", self.learning_rate)
        _one_of("training", "check_metric", self.check_metric, CHECK_METRICS)
        _require(isinstance(self.projector_words, int) and self.projector_words >= 0, "training.projector_words",
                 "must be an integer >= 0", self.projector_words)
        _one_of("training", "lr_schedule", self.lr_schedule, LR_SCHEDULES)
        _require(0.0 <= self.warmup_share < 1.0, "training.warmup_share", "must be in [0, 1)", self.warmup_share)
        _require(self.weight_decay >= 0.0, "training.weight_decay", "must be >= 0", self.weight_decay)
        _require(0.0 <= self.weight_average_span <= 0.25, "training.weight_average_span", "must be in [0, 0.25]",
                 self.weight_average_span)
        _one_of("training", "class_weights", self.class_weights, CLASS_WEIGHTS)


@dataclass(frozen=True)
class NoiseConfig(_Section):
    """Training-time misspellings and the loss that teaches the char branch to read them
    (:mod:`trainer.noise`, :mod:`trainer.misspelling_losses`). Evaluation and serving never see noise.

    Attributes:
      rate: probability that an eligible training token (an in-vocabulary word with at
        least one misspelling prepared) is replaced by a misspelling, drawn anew every
        epoch (seeded by ``training.seed``); 0 turns noise off. Word and char ids of a replaced token are what the
        transform graph gives for the misspelled string.
      lexicon: TSV file of real human misspellings (``misspelling<TAB>correction``);
        ``None``: synthetic typos only.
      lexicon_share: of the noised tokens whose word has lexicon misspellings, the share
        that takes one; the others take a synthetic typo.
      synthetic_per_word: one-edit typos prepared per vocabulary word (swap, drop,
        keyboard insert or substitute); 0: lexicon misspellings only.
      aux_weight: weight of the auxiliary loss on noised in-vocabulary tokens (MIMICK,
        Pinter et al. 2017, adapted to noise); 0 turns it off. It is computed on
        noised tokens and reads the char branch, so it applies only with ``rate`` > 0
        and ``hybrid`` or ``char_only``; otherwise the Trainer logs why it is off.
      consistency_weight: weight of the consistency loss (Namysl et al. 2020): the KL
        divergence from the model's prediction on the clean text (a teacher: no dropout,
        no gradient) to its prediction on the noised text, over examples with a noised
        token; 0 turns it off. Applies to every variant when ``rate`` > 0; one more
        forward pass per training step.
      aux_target: the vectors the loss matches (contrastively, against the other noised
        tokens of the batch): ``token``: the merged token vector of the misspelling and
        the (stop-gradient) merged vector of the clean token; ``word``: a linear map of
        the char vector of the misspelling and the (stop-gradient) word vector of the
        clean token.
    """

    rate: float = 0.15
    lexicon: Optional[str] = None
    lexicon_share: float = 0.5
    synthetic_per_word: int = 8
    aux_weight: float = 0.0
    consistency_weight: float = 0.0
    aux_target: str = "token"

    def validate(self) -> None:
        _require(0.0 <= self.rate <= 1.0, "noise.rate", "must be in [0, 1]", self.rate)
        _require(self.lexicon is None or bool(self.lexicon), "noise.lexicon", "must be a path or null", self.lexicon)
        _require(0.0 <= self.lexicon_share <= 1.0, "noise.lexicon_share", "must be in [0, 1]", self.lexicon_share)
        _require(isinstance(self.synthetic_per_word, int) and self.synthetic_per_word >= 0,
                 "noise.synthetic_per_word", "must be an integer >= 0", self.synthetic_per_word)
        _require(self.lexicon is not None or self.synthetic_per_word > 0 or self.rate == 0, "noise.synthetic_per_word",
                 "must be > 0 when noise.rate > 0 and no noise.lexicon is given", self.synthetic_per_word)
        _require(self.aux_weight >= 0.0, "noise.aux_weight", "must be >= 0", self.aux_weight)
        _require(self.consistency_weight >= 0.0, "noise.consistency_weight", "must be >= 0", self.consistency_weight)
        _one_of("noise", "aux_target", self.aux_target, AUX_TARGETS)


@dataclass(frozen=True)
class EvaluationConfig(_Section):
    """Gates a model must pass to be blessed.

    Attributes:
      min_accuracy: absolute lower bound on eval accuracy.
      max_accuracy_drop: the candidate may be at most this much less accurate than the
        last blessed model (0.0: must not be worse).
      min_oov_accuracy: lower bound on accuracy over examples with at least one
        out-of-vocabulary word; 0 reports that slice without gating on it.
      misspelled_fraction: the robustness view scores every candidate model on the eval
        split with this fraction of all tokens misspelled (0 turns the view off).
      misspelling_lexicon: TSV file of real misspellings the view substitutes (keep it
        apart from ``noise.lexicon``); ``None``: synthetic one-edit typos.
      min_misspelled_accuracy: lower bound on that accuracy for blessing; 0 reports it
        without gating.
    """

    min_accuracy: float = 0.6
    max_accuracy_drop: float = 0.01
    min_oov_accuracy: float = 0.0
    misspelled_fraction: float = 0.1
    misspelling_lexicon: Optional[str] = None
    min_misspelled_accuracy: float = 0.0

    def validate(self) -> None:
        _require(0.0 <= self.min_accuracy <= 1.0, "evaluation.min_accuracy", "must be in [0, 1]", self.min_accuracy)
        _require(0.0 <= self.max_accuracy_drop <= 1.0, "evaluation.max_accuracy_drop", "must be in [0, 1]",
                 self.max_accuracy_drop)
        _require(0.0 <= self.min_oov_accuracy <= 1.0, "evaluation.min_oov_accuracy", "must be in [0, 1]",
                 self.min_oov_accuracy)
        _require(0.0 <= self.misspelled_fraction <= 1.0, "evaluation.misspelled_fraction", "must be in [0, 1]",
                 self.misspelled_fraction)
        _require(self.misspelling_lexicon is None or bool(self.misspelling_lexicon), "evaluation.misspelling_lexicon",
                 "must be a path or null", self.misspelling_lexicon)
        _require(0.0 <= self.min_misspelled_accuracy <= 1.0, "evaluation.min_misspelled_accuracy",
                 "must be in [0, 1]", self.min_misspelled_accuracy)
        _require(self.min_misspelled_accuracy == 0.0 or self.misspelled_fraction > 0.0,
                 "evaluation.min_misspelled_accuracy", "needs evaluation.misspelled_fraction > 0",
                 self.min_misspelled_accuracy)


@dataclass(frozen=True)
class PipelineConfig(_Section):
    """Where and how the pipeline runs.

    Attributes:
      name: pipeline name (ML Metadata context and directory name).
      model_name: name of the served model: pushes go to
        ``<serving_dir>/<model_name>/<version>/``.
      output_dir: every artefact of a local run lives under this one directory
        (layout in :mod:`pipeline.layout`).
      serving_dir: push destination; default ``<output_dir>/serving``.
      beam_args: extra Beam pipeline arguments, passed through unchanged (Dataflow,
        Flink, Spark, ...). When empty, the local DirectRunner settings below apply
        (policy in :mod:`pipeline.beam_args`).
      direct_running_mode: ``in_memory``, ``multi_threading``, ``multi_processing``, or
        ``auto``: ``in_memory`` for staged data under ``multi_processing_min_mb``
        (every extra worker process re-imports TensorFlow, which small data never
        repays), ``multi_processing`` above it.
      multi_processing_min_mb: the ``auto`` threshold, in MB of staged CSV.
      direct_num_workers: DirectRunner workers; 0 means one per CPU core.
      enable_cache: reuse outputs of components whose inputs did not change.
      preset: what the pipeline trains and pushes: ``default`` (the char + word model of
        ``model``), ``accurate`` (the model of the ``teacher`` section: a BERT-family
        encoder fine-tuned in the model) or ``distilled`` (trains that model as a teacher,
        labels the training examples with it, then trains and pushes the default model
        on its soft targets; see docs/distillation.md).
    """

    name: str = "charword"
    model_name: str = "charword"
    output_dir: str = "outputs"
    serving_dir: Optional[str] = None
    beam_args: Tuple[str, ...] = ()
    direct_running_mode: str = "auto"
    multi_processing_min_mb: int = 50
    direct_num_workers: int = 0
    enable_cache: bool = True
    preset: str = "default"

    def validate(self) -> None:
        _require(bool(self.name) and "/" not in self.name, "pipeline.name", "must be a non-empty name without '/'",
                 self.name)
        _require(bool(self.model_name) and "/" not in self.model_name and self.model_name not in (".", ".."),
                 "pipeline.model_name", "must be a non-empty name without '/'", self.model_name)
        _one_of("pipeline", "direct_running_mode", self.direct_running_mode,
                ("auto", "in_memory", "multi_threading", "multi_processing"))
        _require(isinstance(self.multi_processing_min_mb, int) and self.multi_processing_min_mb >= 0,
                 "pipeline.multi_processing_min_mb", "must be an integer >= 0", self.multi_processing_min_mb)
        _require(isinstance(self.direct_num_workers, int) and self.direct_num_workers >= 0,
                 "pipeline.direct_num_workers", "must be an integer >= 0", self.direct_num_workers)
        _one_of("pipeline", "preset", self.preset, PRESETS)


@dataclass(frozen=True)
class TeacherConfig(_Section):
    """The accurate model (``pipeline.preset`` ``accurate``), and the teacher of the
    ``distilled`` preset: the char + word model with a BERT-family sentence encoder
    fine-tuned inside it (``model.sentence_placement`` ``model``, ``sentence_tuning``
    ``trainable``), trained as BERT is fine-tuned: warm-up then linear decay of the
    learning rate, AdamW's weight decay on the encoder, a few passes, early stopping on
    the eval split. Its token path is the default model's (``model`` configures the
    student only), and it trains without misspelling noise. The teacher reads this
    section and ``preprocessing`` alone (:meth:`CharwordConfig.teacher_config`).

    Attributes:
      checkpoint: the encoder's Hugging Face checkpoint directory (config.json,
        model.safetensors, vocab.txt; any ``tf.io.gfile`` path); required by the
        ``accurate`` and ``distilled`` presets, which check it before anything runs.
      fusion: how the encoder's sentence vector joins the token path: ``gated`` or
        ``concat`` (see ``model.sentence_path``).
      max_pieces: WordPiece ids per text, ``[CLS]`` and ``[SEP]`` included.
      learning_rate: the peak learning rate of the head, the fusion and the token path.
      encoder_learning_rate: the peak learning rate of the encoder (at most
        ``learning_rate``).
      warmup_share: the share of the planned steps the learning rates warm up over
        before they fall linearly to 0.
      weight_decay: AdamW's decoupled weight decay of the encoder's weight matrices.
      batch_size: examples per training step on each replica.
      max_epochs: passes over the train split, at most (early stopping may end sooner).
      train_steps: a fixed step budget instead of passes; ``None``: up to ``max_epochs``
        passes.
      early_stopping_patience: checks of the eval loss without improvement before
        training stops (the best check's weights are kept).
    """

    checkpoint: Optional[str] = None
    fusion: str = "gated"
    max_pieces: int = 64
    learning_rate: float = 1e-3
    encoder_learning_rate: float = 5e-5
    warmup_share: float = 0.1
    weight_decay: float = 0.01
    batch_size: int = 32
    max_epochs: int = 2
    train_steps: Optional[int] = None
    early_stopping_patience: int = 1

    def validate(self) -> None:
        _require(self.checkpoint is None or (isinstance(self.checkpoint, str) and bool(self.checkpoint.strip())),
                 "teacher.checkpoint", "must be a checkpoint directory or null", self.checkpoint)
        _one_of("teacher", "fusion", self.fusion, ("concat", "gated"))
        _require(isinstance(self.max_pieces, int) and 3 <= self.max_pieces <= 512, "teacher.max_pieces",
                 "must be an integer in [3, 512] ([CLS], [SEP] and at least one piece)", self.max_pieces)
        _require(self.learning_rate > 0, "teacher.learning_rate", "must be > 0", self.learning_rate)
        _require(0 < self.encoder_learning_rate <= self.learning_rate, "teacher.encoder_learning_rate",
                 f"must be in (0, teacher.learning_rate = {self.learning_rate}]", self.encoder_learning_rate)
        _require(0.0 <= self.warmup_share < 1.0, "teacher.warmup_share", "must be in [0, 1)", self.warmup_share)
        _require(self.weight_decay >= 0.0, "teacher.weight_decay", "must be >= 0", self.weight_decay)
        _positive("teacher", self, "batch_size", "max_epochs", "early_stopping_patience")
        _require(self.train_steps is None or (isinstance(self.train_steps, int) and self.train_steps > 0),
                 "teacher.train_steps", "must be an integer > 0 or null", self.train_steps)


@dataclass(frozen=True)
class DistillationConfig(_Section):
    """How the ``distilled`` preset's student learns from the teacher (Hinton et al. 2015;
    :mod:`trainer.distillation`). The student's loss on a training batch is
    ``(1 - soft_weight) * cross-entropy(labels) + soft_weight * temperature² *
    KL(teacher_T || student_T)``, where ``x_T`` is the distribution ``x`` softened by the
    temperature (``softmax(log x / temperature)``). A misspelled copy of a training text
    (``noise``) keeps the teacher's probabilities for the clean text.

    Attributes:
      temperature: softens both distributions before they are compared (1: as they are).
      soft_weight: the weight of the teacher's probabilities in the loss, against
        ``1 - soft_weight`` for the true labels (1: the teacher alone).
    """

    temperature: float = 2.0
    soft_weight: float = 0.9

    def validate(self) -> None:
        _require(self.temperature > 0, "distillation.temperature", "must be > 0", self.temperature)
        _require(0.0 <= self.soft_weight <= 1.0, "distillation.soft_weight", "must be in [0, 1]", self.soft_weight)


@dataclass(frozen=True)
class PretrainingConfig(_Section):
    """``charword pretrain``: the bidirectional language model that pretrains the token
    layer and the sentence BiLSTM on unlabeled text (trainer/language_model.py). Its
    batch size, learning rate and early stopping are the ``training`` section's.

    Attributes:
      num_sampled: word classes each training step's sampled softmax draws
        (``tf.nn.sampled_softmax_loss``); evaluation scores the full vocabulary.
      max_epochs: passes over the texts at most (early stopping on the held-out
        texts' cross-entropy may end sooner).
      encoder_name: pushed encoders go to ``<serving_dir>/<encoder_name>/<version>/``;
        the pretraining pipeline is named ``<pipeline.name>-pretrain``.
    """

    num_sampled: int = 1024
    max_epochs: int = 3
    encoder_name: str = "charword-encoder"

    def validate(self) -> None:
        _positive("pretraining", self, "num_sampled", "max_epochs")
        _require(bool(self.encoder_name) and "/" not in self.encoder_name and self.encoder_name not in (".", ".."),
                 "pretraining.encoder_name", "must be a non-empty name without '/'", self.encoder_name)


_SECTIONS = {
    "data": DataConfig,
    "preprocessing": PreprocessingConfig,
    "model": ModelConfig,
    "training": TrainingConfig,
    "noise": NoiseConfig,
    "evaluation": EvaluationConfig,
    "pipeline": PipelineConfig,
    "teacher": TeacherConfig,
    "distillation": DistillationConfig,
    "pretraining": PretrainingConfig,
}
_SECTION_NAMES = {section_cls: name for name, section_cls in _SECTIONS.items()}


@dataclass(frozen=True)
class CharwordConfig:
    """All of charword's settings, one section per concern."""

    data: DataConfig = field(default_factory=DataConfig)
    preprocessing: PreprocessingConfig = field(default_factory=PreprocessingConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    noise: NoiseConfig = field(default_factory=NoiseConfig)
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)
    pipeline: PipelineConfig = field(default_factory=PipelineConfig)
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    distillation: DistillationConfig = field(default_factory=DistillationConfig)
    pretraining: PretrainingConfig = field(default_factory=PretrainingConfig)

    def __post_init__(self) -> None:
        preset = self.pipeline.preset
        _require(preset == "default" or self.teacher.checkpoint is not None, "teacher.checkpoint",
                 f"must name the encoder's checkpoint directory with pipeline.preset {preset!r}", None)
        _require(preset != "distilled" or self.model.sentence_path == "none", "model.sentence_path",
                 "must be 'none' with pipeline.preset 'distilled': the student is the char + word model "
                 "(the teacher has the encoder)", self.model.sentence_path)

    def to_dict(self) -> Dict[str, Dict[str, Any]]:
        """A JSON-serialisable dict (TFX ``custom_config`` carries it to components)."""
        return dataclasses.asdict(self)

    def transform_config(self) -> Dict[str, Dict[str, Any]]:
        """What Transform reads (its ``custom_config``): the preprocessing section, the
        sentence path's model fields and ``model.init_from`` (whose vocabulary it uses), so
        that other changes keep Transform cached."""
        values = self.to_dict()
        return {"preprocessing": values["preprocessing"],
                "model": {name: values["model"][name] for name in TRANSFORM_MODEL_FIELDS}}

    def teacher_config(self) -> "CharwordConfig":
        """The configuration of the teacher (the ``accurate`` preset's model), what its
        Transform and Trainer read: derived from the ``preprocessing`` and ``teacher``
        sections alone, so that changing the student (``model``, ``training``, ``noise``,
        ``distillation``) keeps the teacher's steps cached. See :class:`TeacherConfig`."""
        teacher = self.teacher
        _require(teacher.checkpoint is not None, "teacher.checkpoint", "must name the encoder's checkpoint "
                 "directory to build the teacher", teacher.checkpoint)
        return CharwordConfig(
            preprocessing=self.preprocessing,
            model=ModelConfig(sentence_path=teacher.fusion, sentence_checkpoint=teacher.checkpoint,
                              sentence_placement="model", sentence_tuning="trainable",
                              sentence_lr_scale=teacher.encoder_learning_rate / teacher.learning_rate,
                              sentence_max_pieces=teacher.max_pieces),
            training=TrainingConfig(batch_size=teacher.batch_size, learning_rate=teacher.learning_rate,
                                    max_epochs=teacher.max_epochs, train_steps=teacher.train_steps,
                                    early_stopping_patience=teacher.early_stopping_patience,
                                    lr_schedule="warmup_linear_decay", warmup_share=teacher.warmup_share,
                                    weight_decay=teacher.weight_decay),
            noise=NoiseConfig(rate=0.0),
            teacher=teacher)

    def pushed_model_config(self) -> "CharwordConfig":
        """The configuration of the model the pipeline trains and pushes: the teacher's
        with ``pipeline.preset`` ``accurate``, else this one (the student's, when
        ``distilled``)."""
        return self.teacher_config() if self.pipeline.preset == "accurate" else self

    @classmethod
    def from_dict(cls, values: Dict[str, Dict[str, Any]]) -> "CharwordConfig":
        """Builds a config from :meth:`to_dict` output; unknown keys are errors."""
        if not isinstance(values, dict):
            raise ConfigError(f"the configuration must be an object of sections, got {values!r}")
        sections = {}
        for name, section_cls in _SECTIONS.items():
            sections[name] = _section_from_dict(name, section_cls, values.get(name, {}))
        unknown = set(values) - set(_SECTIONS)
        if unknown:
            raise ConfigError(f"unknown configuration section(s): {sorted(unknown)}")
        return cls(**sections)

    def replace(self, **overrides: Dict[str, Any]) -> "CharwordConfig":
        """A copy with some fields changed: ``cfg.replace(model={"variant": "word_only"})``."""
        values = self.to_dict()
        for section, changes in overrides.items():
            if section not in _SECTIONS:
                raise ConfigError(f"unknown configuration section: {section!r}")
            values[section].update(changes)
        return CharwordConfig.from_dict(values)


def _section_from_dict(name: str, section_cls: type, values: Dict[str, Any]) -> Any:
    if not isinstance(values, dict):
        raise ConfigError(f"{name} must be an object of {name} fields, got {values!r}")
    unknown = set(values) - {f.name for f in dataclasses.fields(section_cls)}
    if unknown:
        raise ConfigError(f"unknown field(s) in {name}: {sorted(unknown)}")
    return section_cls(**values)


def load_config(path: Optional[str] = None,
                overrides: Optional[Mapping[str, Mapping[str, Any]]] = None) -> CharwordConfig:
    """The configuration: defaults, then the JSON file at ``path`` (sections of
    :meth:`CharwordConfig.to_dict`, any subset), then ``overrides`` per section, where a
    ``None`` value means "not given" and keeps what was there."""
    cfg = CharwordConfig()
    if path:
        try:
            with open(path, encoding="utf-8") as handle:
                values = json.load(handle)
        except (OSError, ValueError) as error:
            raise ConfigError(f"cannot read the configuration file {path}: {error}") from None
        if not isinstance(values, dict):
            raise ConfigError(f"the configuration file {path} must hold a JSON object of sections")
        try:
            cfg = CharwordConfig.from_dict(values)
        except ConfigError as error:
            raise ConfigError(f"{path}: {error}") from None
    given = {section: {key: value for key, value in fields.items() if value is not None}
             for section, fields in (overrides or {}).items()}
    return cfg.replace(**{section: fields for section, fields in given.items() if fields})
