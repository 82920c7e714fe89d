"""Inspecting a trained model's token vectors: per-branch vectors of any word through the
model's own ``embed_tokens`` signature, nearest neighbours, TensorBoard projector files,
a 2-D map, and intrinsic scores (word similarity, misspelling neighbours).

  model.py       a SavedModel's word, char and merged vectors of any words
  neighbours.py  nearest vocabulary words by cosine similarity
  projector.py   TensorBoard projector files (vectors and metadata TSVs, config)
  plot.py        a PNG map of chosen words with their misspellings and inflections
  intrinsic.py   Spearman on word-similarity sets, misspelling nearest-neighbour test
  report.py      all of it for one model directory, as files (``charword embeddings``)

Depends on :mod:`charword` only: it reads exported models, never the training code.
"""
