"""The contract every part of charword shares: feature names and shapes, vocabulary
files, character ids, and the exported model's signatures with their inputs and outputs.

Transform writes these features, the Trainer reads them, the exporter names its
signatures and outputs with these constants, and the Evaluator, ServableCheck, the
model server and the CLI call them by the same names. Nothing else spells them.

Raw features are what the data reader stages for ExampleGen (whatever the source
columns were called); transformed features are what ``preprocessing_fn`` emits.
"""
from typing import Any, Dict, Mapping

# Raw features (columns of the staged CSV).
RAW_TEXT = "text"
RAW_LABEL = "label"

# Transformed features.
WORD_IDS = "word_ids"                  # int64 [max_tokens]; 0 = padding
CHAR_IDS = "char_ids"                  # int64 [max_tokens, max_chars]; 0 = padding
LABEL_ID = "label_id"                  # int64 []; index into the label vocabulary
TOKEN_COUNT = "token_count"            # int64 []; tokens in the text before truncation
DROPPED_TOKEN_COUNT = "dropped_token_count"      # int64 []; tokens beyond max_tokens
TRUNCATED_TOKEN_COUNT = "truncated_token_count"  # int64 []; kept tokens cut to max_chars
OOV_COUNT = "oov_count"                # int64 []; kept tokens outside the word vocabulary
HAS_OOV = "has_oov"                    # int64 []; 1 if oov_count > 0 (evaluation slice)

MODEL_INPUTS = (WORD_IDS, CHAR_IDS)

# Sentence-path features (model.sentence_path != none): Transform writes one of them, and
# the model reads whichever it wrote (see model_features).
SENTENCE_VECTOR = "sentence_vector"    # float32 [dim]; the pretrained encoder's pooled vector (placement transform)
PIECE_IDS = "piece_ids"                # int64 [max_pieces]; WordPiece ids [CLS] ... [SEP], 0 = padding
                                       # (placement model: the encoder runs in the model)
SENTENCE_INPUTS = (SENTENCE_VECTOR, PIECE_IDS)

# Training-only batch features, added by the Trainer's misspelling noise (trainer/noise.py);
# evaluation and serving inputs never carry them.
CLEAN_WORD_IDS = "clean_word_ids"      # int64 [B, T]: word ids before noise
CLEAN_CHAR_IDS = "clean_char_ids"      # int64 [B, T, C]: char ids before noise
NOISED = "noised"                      # bool [B, T]: True where a misspelling replaced the token
NOISE_FEATURES = (CLEAN_WORD_IDS, CLEAN_CHAR_IDS, NOISED)

# The teacher's class probabilities, written into the raw training examples by the
# distilled preset's BulkInferrer (float32 [classes], in the order of the label vocabulary)
# and carried in the student's training batches (trainer/soft_targets.py).
TEACHER_PROBABILITIES = "teacher_probabilities"

# tf.Transform vocabulary files (assets of the transform graph and of the exported model).
WORD_VOCAB = "words"
LABEL_VOCAB = "labels"
LABEL_COUNTS = "label_counts"  # the labels with their training examples: "<count> <label>" a line

# Character ids, ELMo-style over UTF-8 bytes: byte b -> b + 1.
CHAR_PAD_ID = 0
BEGIN_OF_WORD_ID = 257
END_OF_WORD_ID = 258
CHAR_VOCAB_SIZE = 259

WORD_PAD_ID = 0

# Signatures of the exported SavedModel, their single input and their outputs.
SERVING_DEFAULT = "serving_default"        # examples [B] -> probabilities [B, classes]
PREDICT_TEXT = "predict_text"              # text [B] -> probabilities, label [B], classes [B, classes]
EMBED_TOKENS = "embed_tokens"              # text [B] -> tokens [B, T], embeddings [B, T, D], mask [B, T],
                                           # word_embeddings, char_embeddings (per branch)
TRANSFORM_FEATURES = "transform_features"  # examples [B] -> transformed features
SIGNATURES = (SERVING_DEFAULT, PREDICT_TEXT, EMBED_TOKENS, TRANSFORM_FEATURES)
EMBED_SENTENCE = "embed_sentence"          # text [B] -> sentence_vector [B, dim] (models with a sentence path)
OPTIONAL_SIGNATURES = (EMBED_SENTENCE,)    # checked when present

EXAMPLES_INPUT = "examples"  # serialized tf.Example [B] holding the raw features
TEXT_INPUT = "text"          # raw text [B]
SIGNATURE_INPUTS = {SERVING_DEFAULT: EXAMPLES_INPUT, PREDICT_TEXT: TEXT_INPUT, EMBED_TOKENS: TEXT_INPUT,
                    TRANSFORM_FEATURES: EXAMPLES_INPUT, EMBED_SENTENCE: TEXT_INPUT}

PROBABILITIES = "probabilities"  # float32 [B, classes]
LABEL = "label"                  # string [B]: the most probable class name
CLASSES = "classes"              # string [B, classes]: every class name, in class-id order
TOKENS = "tokens"                # string [B, max_tokens]: "" is padding
EMBEDDINGS = "embeddings"        # float32 [B, max_tokens, token_dim]: merged token vectors
WORD_EMBEDDINGS = "word_embeddings"  # float32 [B, max_tokens, word_dim]: word-branch vectors ([B, T, 0] char_only)
CHAR_EMBEDDINGS = "char_embeddings"  # float32 [B, max_tokens, char_output_dim]: char-branch vectors ([B, T, 0]
                                     # word_only)
MASK = "mask"                    # bool [B, max_tokens]: True for real tokens
EMPTY = "empty"                  # bool [B]: the text is empty or white space; not a model output: the
                                 # server and the CLI add it to predict_text answers
SIGNATURE_OUTPUTS = {SERVING_DEFAULT: (PROBABILITIES,), PREDICT_TEXT: (PROBABILITIES, LABEL, CLASSES),
                     EMBED_SENTENCE: (SENTENCE_VECTOR,),
                     EMBED_TOKENS: (TOKENS, EMBEDDINGS, MASK, WORD_EMBEDDINGS, CHAR_EMBEDDINGS)}

SAVED_MODEL_FILE = "saved_model.pb"

# Written by the Trainer to its model run directory when it starts from pretrained word
# vectors: their coverage of the vocabulary and of the training tokens (JSON).
WORD_VECTORS_REPORT = "word_vectors.json"
INIT_FROM_REPORT = "init_from.json"  # what a classifier loaded from a pretrained encoder
LANGUAGE_MODEL_REPORT = "language_model.json"  # pretraining: perplexity, tokens per second
# Written by the Trainer to its model run directory: how long it trained and why it
# stopped (trainer.training.TrainingResult as JSON).
TRAINING_REPORT = "training.json"


def model_features(features: Mapping[str, Any]) -> Dict[str, Any]:
    """The transformed features the model reads: word and char ids, and the sentence
    path's input when Transform wrote one."""
    return {name: features[name] for name in MODEL_INPUTS + SENTENCE_INPUTS if name in features}


def word_vocab_input_dim(vocab_size: int, num_oov_buckets: int) -> int:
    """Rows of the word embedding: padding, the vocabulary, then the OOV buckets."""
    return 1 + vocab_size + num_oov_buckets


def raw_feature_spec(labels_are_integers: bool, with_label: bool = True) -> Dict[str, object]:
    """Raw features as ExampleGen + SchemaGen type the staged data (``tf.io`` specs)."""
    import tensorflow as tf  # pylint: disable=import-outside-toplevel  (the contract itself needs no TF)
    spec = {RAW_TEXT: tf.io.FixedLenFeature([], tf.string)}
    if with_label:
        spec[RAW_LABEL] = tf.io.FixedLenFeature([], tf.int64 if labels_are_integers else tf.string)
    return spec
