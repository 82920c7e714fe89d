"""A BERT-family sentence encoder from a Hugging Face checkpoint directory, in TensorFlow.

  safetensors.py  reads ``model.safetensors`` with numpy (any ``tf.io.gfile`` path, gs:// too)
  checkpoint.py   ``config.json``, pooling and tokenizer settings, checked weights: a ``BertCheckpoint``
  encoder.py      the transformer forward pass and pooling in plain TF, and a ``tf.Module`` holding the weights
  wordpiece.py    in-graph WordPiece ids ([CLS] ... [SEP], truncated, 0-padded) from raw text

Transform uses it to materialise sentence vectors (:mod:`preprocessing.sentence`); the
Trainer wraps the same forward pass in a Keras layer when the encoder sits in the model.
"""
