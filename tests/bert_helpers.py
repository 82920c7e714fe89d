"""A tiny BERT checkpoint in the Hugging Face layout, and reference implementations
written independently of ``preprocessing/bert``: a numpy forward pass and a Python
WordPiece tokenizer (the Hugging Face ``BertTokenizer`` rules)."""
import json
import math
import os
import struct
import unicodedata

import numpy as np

TINY_VOCAB = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "film", "was", "good", "bad", "cafe", "naive",
              "resume", "un", "##believ", "##able", "##s", "great", "plot", "!", ",", ".", "a", "b", "c", "##a",
              "##b", "##c", "act", "##ing", "dull", "fun", "日", "本", "movie", "wonderful", "terrible", "?")
TINY_SIZES = dict(num_hidden_layers=2, hidden_size=8, num_attention_heads=2, intermediate_size=16,
                  max_position_embeddings=16, type_vocab_size=2)


def tensor_shapes(sizes, vocab_size):
    """``BertModel`` tensor names and shapes for the sizes of a ``config.json``."""
    h, i = sizes["hidden_size"], sizes["intermediate_size"]
    shapes = {"embeddings.word_embeddings.weight": (vocab_size, h),
              "embeddings.position_embeddings.weight": (sizes["max_position_embeddings"], h),
              "embeddings.token_type_embeddings.weight": (sizes["type_vocab_size"], h),
              "embeddings.LayerNorm.weight": (h,), "embeddings.LayerNorm.bias": (h,),
              "pooler.dense.weight": (h, h), "pooler.dense.bias": (h,)}
    for n in range(sizes["num_hidden_layers"]):
        p = f"encoder.layer.{n}."
        for name in ("attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"):
            shapes[p + name + ".weight"], shapes[p + name + ".bias"] = (h, h), (h,)
        shapes[p + "intermediate.dense.weight"], shapes[p + "intermediate.dense.bias"] = (i, h), (i,)
        shapes[p + "output.dense.weight"], shapes[p + "output.dense.bias"] = (h, i), (h,)
        for norm in ("attention.output.LayerNorm", "output.LayerNorm"):
            shapes[p + norm + ".weight"], shapes[p + norm + ".bias"] = (h,), (h,)
    return shapes


def random_weights(sizes, vocab_size, seed=0):
    rng = np.random.default_rng(seed)
    weights = {name: rng.normal(0.0, 0.5, size=shape).astype(np.float32)
               for name, shape in tensor_shapes(sizes, vocab_size).items()}
    for name in weights:
        if name.endswith("LayerNorm.weight"):
            weights[name] = (1.0 + 0.1 * rng.normal(size=weights[name].shape)).astype(np.float32)
    return weights


def safetensors_bytes(tensors):
    """The safetensors encoding of float32/int64 numpy arrays, written by hand."""
    codes = {np.dtype("float32"): "F32", np.dtype("int64"): "I64"}
    header, chunks, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for name, array in tensors.items():
        raw = np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": codes[array.dtype], "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    encoded = json.dumps(header).encode("utf-8")
    return struct.pack("<Q", len(encoded)) + encoded + b"".join(chunks)


def write_checkpoint(directory, weights=None, vocab=TINY_VOCAB, sentence_transformers=True, seed=0, **config):
    """Writes config.json, model.safetensors, vocab.txt, tokenizer files and (when
    ``sentence_transformers``) mean pooling + Normalize modules; returns the weights."""
    os.makedirs(directory, exist_ok=True)
    values = dict(TINY_SIZES, architectures=["BertModel"], model_type="bert", hidden_act="gelu",
                  layer_norm_eps=1e-12, vocab_size=len(vocab), pad_token_id=0)
    values.update(config)
    if weights is None:
        weights = random_weights(values, len(vocab), seed)
    files = {"config.json": json.dumps(values), "vocab.txt": "\n".join(vocab) + "\n",
             "tokenizer_config.json": json.dumps({"do_lower_case": True}),
             "special_tokens_map.json": json.dumps({"unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]",
                                                    "cls_token": "[CLS]", "mask_token": "[MASK]"})}
    if sentence_transformers:
        os.makedirs(os.path.join(directory, "1_Pooling"), exist_ok=True)
        files["modules.json"] = json.dumps([
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}])
        files["1_Pooling/config.json"] = json.dumps({
            "word_embedding_dimension": values["hidden_size"], "pooling_mode_cls_token": False,
            "pooling_mode_mean_tokens": True, "pooling_mode_max_tokens": False,
            "pooling_mode_mean_sqrt_len_tokens": False})
    for name, text in files.items():
        with open(os.path.join(directory, name), "w", encoding="utf-8") as handle:
            handle.write(text)
    stored = dict(weights, **{"embeddings.position_ids": np.arange(values["max_position_embeddings"])[None]})
    with open(os.path.join(directory, "model.safetensors"), "wb") as handle:
        handle.write(safetensors_bytes(stored))
    return weights


# ---- numpy forward pass -------------------------------------------------------------------

def _gelu(x, approximate):
    if approximate:
        return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))
    return 0.5 * x * (1.0 + np.vectorize(math.erf)(x / math.sqrt(2.0)))


def _norm(x, w, b, eps):
    mu = x.mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(((x - mu) ** 2).mean(-1, keepdims=True) + eps) * w + b


def numpy_sentence_vector(weights, ids, heads, activation="gelu", pooling="mean", normalize=True, eps=1e-12):
    """One sentence (a list of piece ids, no padding) through BERT, in float64."""
    w = {k: v.astype(np.float64) for k, v in weights.items()}
    n = len(ids)
    x = (w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:n]
         + w["embeddings.token_type_embeddings.weight"][0])
    x = _norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], eps)
    layer = 0
    while f"encoder.layer.{layer}.output.dense.weight" in w:
        p = f"encoder.layer.{layer}."

        def lin(v, name, p=p):
            return v @ w[p + name + ".weight"].T + w[p + name + ".bias"]

        q, k, v = (lin(x, f"attention.self.{m}") for m in ("query", "key", "value"))
        size = x.shape[1] // heads
        context = []
        for head in range(heads):
            cols = slice(head * size, (head + 1) * size)
            scores = q[:, cols] @ k[:, cols].T / math.sqrt(size)
            probs = np.exp(scores - scores.max(1, keepdims=True))
            context.append((probs / probs.sum(1, keepdims=True)) @ v[:, cols])
        attended = lin(np.concatenate(context, 1), "attention.output.dense")
        x = _norm(x + attended, w[p + "attention.output.LayerNorm.weight"], w[p + "attention.output.LayerNorm.bias"],
                  eps)
        inner = lin(x, "intermediate.dense")
        inner = np.maximum(inner, 0) if activation == "relu" else _gelu(inner, activation != "gelu")
        x = _norm(x + lin(inner, "output.dense"), w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"], eps)
        layer += 1
    vector = x.mean(0) if pooling == "mean" else x[0]
    return vector / np.linalg.norm(vector) if normalize else vector


# ---- Python WordPiece ---------------------------------------------------------------------

def _is_punctuation(ch):
    cp = ord(ch)
    return 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126 or \
        unicodedata.category(ch).startswith("P")


def _is_cjk(ch):
    cp = ord(ch)
    return 0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0xF900 <= cp <= 0xFAFF


def basic_words(text, lowercase=True):
    if lowercase:
        text = unicodedata.normalize("NFD", text.lower())
        text = "".join(ch for ch in text if unicodedata.category(ch) != "Mn")
    words, word = [], ""
    for ch in text:
        if ch.isspace() or _is_punctuation(ch) or _is_cjk(ch):
            if word:
                words.append(word)
            word = ""
            if not ch.isspace():
                words.append(ch)
        else:
            word += ch
    return words + ([word] if word else [])


def wordpiece_ids(text, vocab=TINY_VOCAB, max_pieces=16, lowercase=True):
    """``[CLS] pieces [SEP]`` ids, truncated to ``max_pieces`` (no padding)."""
    index = {piece: i for i, piece in enumerate(vocab)}
    pieces = []
    for word in basic_words(text, lowercase):
        start, word_pieces = 0, []
        while start < len(word):
            end = len(word)
            while end > start and ("##" if start else "") + word[start:end] not in index:
                end -= 1
            if end == start:
                word_pieces = ["[UNK]"]
                break
            word_pieces.append(("##" if start else "") + word[start:end])
            start = end
        pieces.extend(word_pieces)
    return [index["[CLS]"]] + [index[p] for p in pieces[: max_pieces - 2]] + [index["[SEP]"]]
