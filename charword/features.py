"""Names and shapes of every feature, shared by Transform, Trainer, Evaluator and serving.

Raw features are what the data reader stages for ExampleGen (whatever the source
columns were called); transformed features are what ``preprocessing_fn`` emits.
"""
from charword.config import PreprocessingConfig

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

# tf.Transform vocabulary files (assets of the transform graph and of the exported model).
WORD_VOCAB = "words"
LABEL_VOCAB = "labels"

# Character ids, ELMo-style over UTF-8 bytes: byte b -> b + 1.
CHAR_PAD_ID = 0
BEGIN_OF_WORD_ID = 257
END_OF_WORD_ID = 258
CHAR_VOCAB_SIZE = 259

WORD_PAD_ID = 0


def word_vocab_input_dim(vocab_size: int, cfg: PreprocessingConfig) -> int:
    """Rows of the word embedding: padding, the vocabulary, then the OOV buckets."""
    return 1 + vocab_size + cfg.num_oov_buckets
