"""WordPiece ids from raw text inside the TensorFlow graph (``tensorflow_text.BertTokenizer``
over the checkpoint's vocabulary), so Transform, training and serving run the same ops.

Rules (those of the Hugging Face ``BertTokenizer`` for the same checkpoint): with
``lowercase`` (uncased models) the text is case-folded and accents are stripped (NFD,
combining marks dropped); punctuation marks and CJK characters become words of their own;
each word is split greedily into the longest vocabulary pieces (``##`` marks a
continuation), a word that cannot be split is ``[UNK]``. The ids are
``[CLS] piece_1 ... piece_k [SEP]`` with ``k <= max_pieces - 2`` (later pieces are
dropped), padded with 0 (``[PAD]``) to ``max_pieces``; an empty text is ``[CLS] [SEP]``.
"""
import tensorflow as tf
import tensorflow_text as tf_text

from preprocessing.bert.checkpoint import BertCheckpoint, CheckpointError


class WordPieceTokenizer(tf.Module):
    """Maps raw text ``[B]`` (string) to piece ids ``[B, max_pieces]`` (int64, 0 = padding)."""

    def __init__(self, checkpoint: BertCheckpoint, max_pieces: int, name: str = "wordpiece"):
        super().__init__(name=name)
        if not 3 <= max_pieces <= checkpoint.config.max_positions:
            raise CheckpointError(f"{checkpoint.path}: max_pieces {max_pieces} must be in [3, "
                                  f"{checkpoint.config.max_positions}] (max_position_embeddings)")
        self.max_pieces = max_pieces
        self.cls_id = checkpoint.piece_id(checkpoint.cls_token)
        self.sep_id = checkpoint.piece_id(checkpoint.sep_token)
        table = tf.lookup.StaticVocabularyTable(
            tf.lookup.KeyValueTensorInitializer(tf.constant(checkpoint.vocab),
                                                tf.range(len(checkpoint.vocab), dtype=tf.int64)),
            num_oov_buckets=1)
        self.tokenizer = tf_text.BertTokenizer(table, token_out_type=tf.int64, unknown_token=checkpoint.unk_token,
                                               lower_case=checkpoint.lowercase)

    def __call__(self, text: tf.Tensor) -> tf.Tensor:
        pieces = self.tokenizer.tokenize(text).merge_dims(-2, -1)[:, : self.max_pieces - 2]
        rows = tf.shape(text, out_type=tf.int64)[:1]
        cls = tf.RaggedTensor.from_tensor(tf.fill(tf.concat([rows, [1]], 0), tf.constant(self.cls_id, tf.int64)))
        sep = tf.RaggedTensor.from_tensor(tf.fill(tf.concat([rows, [1]], 0), tf.constant(self.sep_id, tf.int64)))
        return tf.concat([cls, pieces, sep], axis=1).to_tensor(default_value=0, shape=[None, self.max_pieces])
