"""A BERT-family checkpoint directory in the Hugging Face layout, read and checked.

  config.json                     architecture (layers, sizes, heads, activation, positions)
  model.safetensors               weights with ``BertModel`` names (a ``bert.`` prefix is dropped)
  vocab.txt                       the WordPiece vocabulary, one piece per line, ``[PAD]`` first
  tokenizer_config.json           ``do_lower_case`` (default true); optional
  special_tokens_map.json         ``[CLS]``/``[SEP]``/``[UNK]``/``[PAD]`` names; optional
  modules.json, 1_Pooling/...     sentence-transformers pooling (``mean`` over the attention
                                  mask or ``cls``) and a ``Normalize`` module; without them
                                  the sentence vector is the ``[CLS]`` token's last hidden state

Every file is read through ``tf.io.gfile`` (local or ``gs://``). Anything the encoder cannot
run raises :class:`CheckpointError` naming the file and the field or tensor.
"""
import dataclasses
import functools
import json
from typing import Dict, Optional, Tuple

import numpy as np
import tensorflow as tf

from preprocessing.bert.safetensors import SafetensorsError, read_safetensors

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
VOCAB_FILE = "vocab.txt"
TOKENIZER_CONFIG_FILE = "tokenizer_config.json"
SPECIAL_TOKENS_FILE = "special_tokens_map.json"
MODULES_FILE = "modules.json"
DEFAULT_POOLING_DIR = "1_Pooling"
WORD_EMBEDDINGS = "embeddings.word_embeddings.weight"  # the word-piece table, [vocab_size, hidden_size]

ACTIVATIONS = ("gelu", "gelu_new", "gelu_pytorch_tanh", "relu")
POOLING_MODES = ("mean", "cls")
_POOLING_FLAGS = {"pooling_mode_mean_tokens": "mean", "pooling_mode_cls_token": "cls"}
_UNSUPPORTED_POOLING_FLAGS = ("pooling_mode_max_tokens", "pooling_mode_mean_sqrt_len_tokens",
                              "pooling_mode_weightedmean_tokens", "pooling_mode_lasttoken")
_SPECIAL_TOKENS = {"cls_token": "[CLS]", "sep_token": "[SEP]", "unk_token": "[UNK]", "pad_token": "[PAD]"}


class CheckpointError(ValueError):
    """A checkpoint the encoder cannot use; the message names the file and field or tensor."""


@dataclasses.dataclass(frozen=True)
class BertConfig:
    """The architecture, from ``config.json`` (Hugging Face field names in brackets)."""

    num_layers: int         # [num_hidden_layers]
    hidden_size: int        # [hidden_size]
    num_heads: int          # [num_attention_heads]
    intermediate_size: int  # [intermediate_size]
    activation: str         # [hidden_act]: one of ACTIVATIONS
    max_positions: int      # [max_position_embeddings]
    type_vocab_size: int    # [type_vocab_size]
    layer_norm_eps: float   # [layer_norm_eps]
    vocab_size: int         # [vocab_size]

    @classmethod
    def from_json(cls, values: dict, where: str) -> "BertConfig":
        """Checks and converts a parsed ``config.json``; ``where`` names it in errors."""
        def field(name, kind=int, default=None):
            value = values.get(name, default)
            if value is None:
                raise CheckpointError(f"{where}: missing field {name!r}")
            if kind is int and not (isinstance(value, int) and not isinstance(value, bool) and value > 0):
                raise CheckpointError(f"{where}: {name} must be an integer > 0, got {value!r}")
            if kind is float and not (isinstance(value, (int, float)) and value > 0):
                raise CheckpointError(f"{where}: {name} must be a number > 0, got {value!r}")
            return value

        model_type = values.get("model_type", "bert")
        if model_type != "bert":
            raise CheckpointError(f"{where}: model_type {model_type!r} is not supported (only 'bert')")
        position_type = values.get("position_embedding_type", "absolute")
        if position_type != "absolute":
            raise CheckpointError(f"{where}: position_embedding_type {position_type!r} is not supported "
                                  "(only 'absolute')")
        activation = values.get("hidden_act")
        if activation not in ACTIVATIONS:
            raise CheckpointError(f"{where}: hidden_act {activation!r} is not supported; supported: "
                                  f"{list(ACTIVATIONS)}")
        config = cls(num_layers=field("num_hidden_layers"), hidden_size=field("hidden_size"),
                     num_heads=field("num_attention_heads"), intermediate_size=field("intermediate_size"),
                     activation=activation, max_positions=field("max_position_embeddings"),
                     type_vocab_size=field("type_vocab_size", default=2),
                     layer_norm_eps=float(field("layer_norm_eps", float, 1e-12)), vocab_size=field("vocab_size"))
        if config.hidden_size % config.num_heads:
            raise CheckpointError(f"{where}: hidden_size {config.hidden_size} is not a multiple of "
                                  f"num_attention_heads {config.num_heads}")
        return config

    def tensor_shapes(self) -> Dict[str, Tuple[int, ...]]:
        """Every tensor the encoder needs, by ``BertModel`` name, with its stored shape
        (PyTorch ``Linear`` weights are ``[out, in]``)."""
        h, i = self.hidden_size, self.intermediate_size
        shapes = {WORD_EMBEDDINGS: (self.vocab_size, h),
                  "embeddings.position_embeddings.weight": (self.max_positions, h),
                  "embeddings.token_type_embeddings.weight": (self.type_vocab_size, h),
                  "embeddings.LayerNorm.weight": (h,), "embeddings.LayerNorm.bias": (h,)}
        for n in range(self.num_layers):
            prefix = f"encoder.layer.{n}."
            for name in ("attention.self.query", "attention.self.key", "attention.self.value",
                         "attention.output.dense"):
                shapes[prefix + name + ".weight"], shapes[prefix + name + ".bias"] = (h, h), (h,)
            shapes[prefix + "intermediate.dense.weight"], shapes[prefix + "intermediate.dense.bias"] = (i, h), (i,)
            shapes[prefix + "output.dense.weight"], shapes[prefix + "output.dense.bias"] = (h, i), (h,)
            for norm in ("attention.output.LayerNorm", "output.LayerNorm"):
                shapes[prefix + norm + ".weight"], shapes[prefix + norm + ".bias"] = (h,), (h,)
        return shapes


@dataclasses.dataclass(frozen=True)
class BertCheckpoint:
    """What the TF encoder and tokenizer are built from.

    Attributes:
      path: the checkpoint directory.
      config: the architecture.
      weights: ``BertModel`` tensor name -> float32 array in its stored layout (see
        :meth:`BertConfig.tensor_shapes`); nothing else (no pooler, no heads).
      vocab: WordPiece vocabulary, in id order.
      lowercase: lower-case and strip accents before WordPiece (uncased models).
      pooling: ``mean`` (over the attention mask) or ``cls``.
      normalize: L2-normalise the pooled vector (a sentence-transformers ``Normalize`` module).
      cls_token, sep_token, unk_token, pad_token: special pieces (``pad_token`` has id 0).
    """

    path: str
    config: BertConfig
    weights: Dict[str, np.ndarray] = dataclasses.field(repr=False)
    vocab: Tuple[str, ...] = dataclasses.field(repr=False)
    lowercase: bool
    pooling: str
    normalize: bool
    cls_token: str
    sep_token: str
    unk_token: str
    pad_token: str

    @property
    def dim(self) -> int:
        """Size of the sentence vector."""
        return self.config.hidden_size

    def piece_id(self, piece: str) -> int:
        """Id of a vocabulary piece (special tokens are checked to exist when loading)."""
        return self.vocab.index(piece)


def _join(directory: str, *names: str) -> str:
    return tf.io.gfile.join(directory, *names)


def _read_text(path: str) -> str:
    try:
        with tf.io.gfile.GFile(path, "r") as handle:
            return handle.read()
    except tf.errors.NotFoundError:
        raise CheckpointError(f"{path}: no such file") from None


def _read_json(path: str, required: bool = True) -> Optional[object]:
    if not required and not tf.io.gfile.exists(path):
        return None
    text = _read_text(path)
    try:
        return json.loads(text)
    except ValueError as error:
        raise CheckpointError(f"{path}: not valid JSON: {error}") from None


def _pooling(directory: str) -> Tuple[str, bool]:
    """(pooling mode, normalize) from sentence-transformers files; ``cls`` without them."""
    modules_path = _join(directory, MODULES_FILE)
    modules = _read_json(modules_path, required=False)
    pooling_dir, normalize = None, False
    if modules is not None:
        if not isinstance(modules, list):
            raise CheckpointError(f"{modules_path}: must be a JSON list of modules")
        for module in modules:
            kind = str(module.get("type", "")) if isinstance(module, dict) else ""
            if kind.endswith("Pooling"):
                pooling_dir = module.get("path") or DEFAULT_POOLING_DIR
            elif kind.endswith("Normalize"):
                normalize = True
    elif tf.io.gfile.exists(_join(directory, DEFAULT_POOLING_DIR, CONFIG_FILE)):
        pooling_dir = DEFAULT_POOLING_DIR
    if pooling_dir is None:
        return "cls", normalize
    config_path = _join(directory, pooling_dir, CONFIG_FILE)
    config = _read_json(config_path)
    for flag in _UNSUPPORTED_POOLING_FLAGS:
        if config.get(flag):
            raise CheckpointError(f"{config_path}: {flag} is not supported (pooling modes: {list(POOLING_MODES)})")
    modes = [mode for flag, mode in _POOLING_FLAGS.items() if config.get(flag)]
    if len(modes) != 1:
        raise CheckpointError(f"{config_path}: exactly one of {sorted(_POOLING_FLAGS)} must be true, got {modes}")
    return modes[0], normalize


def _tokenizer_settings(directory: str, vocab: Tuple[str, ...]) -> dict:
    """``lowercase`` and the special tokens, each checked against the vocabulary."""
    config_path = _join(directory, TOKENIZER_CONFIG_FILE)
    config = _read_json(config_path, required=False) or {}
    lowercase = config.get("do_lower_case", True)
    strip_accents = config.get("strip_accents")
    if strip_accents is not None and bool(strip_accents) != bool(lowercase):
        raise CheckpointError(f"{config_path}: strip_accents={strip_accents} with do_lower_case={lowercase} is "
                              "not supported (accents are stripped exactly when lower-casing)")
    specials = dict(_SPECIAL_TOKENS)
    special_path = _join(directory, SPECIAL_TOKENS_FILE)
    for key, value in (_read_json(special_path, required=False) or {}).items():
        if key in specials:
            specials[key] = value["content"] if isinstance(value, dict) else value
    present = set(vocab)
    vocab_path = _join(directory, VOCAB_FILE)
    for key, token in specials.items():
        if token not in present:
            raise CheckpointError(f"{vocab_path}: the {key} {token!r} is not in the vocabulary")
    if vocab[0] != specials["pad_token"]:
        raise CheckpointError(f"{vocab_path}: the pad_token {specials['pad_token']!r} must have id 0, "
                              f"found {vocab[0]!r} first")
    return {"lowercase": bool(lowercase), **specials}


def _checked_weights(path: str, tensors: Dict[str, np.ndarray], config: BertConfig) -> Dict[str, np.ndarray]:
    renamed = {}
    for name, array in tensors.items():
        name = name[len("bert."):] if name.startswith("bert.") else name
        if name.endswith("LayerNorm.gamma") or name.endswith("LayerNorm.beta"):
            name = name.rsplit(".", 1)[0] + (".weight" if name.endswith("gamma") else ".bias")
        renamed[name] = array
    weights = {}
    for name, shape in config.tensor_shapes().items():
        if name not in renamed:
            raise CheckpointError(f"{path}: missing tensor {name!r}")
        array = renamed[name]
        if tuple(array.shape) != shape:
            raise CheckpointError(f"{path}: tensor {name!r} has shape {list(array.shape)}, config.json implies "
                                  f"{list(shape)}")
        if not np.issubdtype(array.dtype, np.floating):
            raise CheckpointError(f"{path}: tensor {name!r} has dtype {array.dtype}, expected floating point")
        weights[name] = array.astype(np.float32)
    return weights


def read_config(directory: str) -> BertConfig:
    """The checked architecture of the checkpoint in ``directory`` (``config.json`` only)."""
    config_path = _join(directory, CONFIG_FILE)
    values = _read_json(config_path)
    if not isinstance(values, dict):
        raise CheckpointError(f"{config_path}: must hold a JSON object")
    return BertConfig.from_json(values, config_path)


@functools.lru_cache(maxsize=2)
def load_checkpoint(directory: str) -> BertCheckpoint:
    """Reads and checks the checkpoint in ``directory`` (cached per path: Transform traces
    its function more than once)."""
    config_path = _join(directory, CONFIG_FILE)
    config = read_config(directory)
    vocab_path = _join(directory, VOCAB_FILE)
    vocab = tuple(line.rstrip("\r") for line in _read_text(vocab_path).split("\n"))
    vocab = vocab[:-1] if vocab and vocab[-1] == "" else vocab
    seen = {}
    for line, piece in enumerate(vocab, start=1):
        if seen.setdefault(piece, line) != line:
            raise CheckpointError(f"{vocab_path}: line {line} repeats the piece {piece!r} of line {seen[piece]}")
    if len(vocab) != config.vocab_size:
        raise CheckpointError(f"{vocab_path}: {len(vocab)} pieces, but {config_path} has vocab_size "
                              f"{config.vocab_size}")
    weights_path = _join(directory, WEIGHTS_FILE)
    try:
        tensors = read_safetensors(weights_path)
    except SafetensorsError as error:
        raise CheckpointError(str(error)) from None
    weights = _checked_weights(weights_path, tensors, config)
    pooling, normalize = _pooling(directory)
    return BertCheckpoint(path=directory, config=config, weights=weights, vocab=vocab, pooling=pooling,
                          normalize=normalize, **_tokenizer_settings(directory, vocab))
