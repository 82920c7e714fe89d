"""Loads a SavedModel and calls every signature on canned requests; run in a fresh process.

``python -m components.servable_probe MODEL_DIR REQUESTS_FILE`` exits 0 when every
signature of the charword contract answers with well-formed outputs, and 1 with the
reason on stderr otherwise. ``REQUESTS_FILE`` is a TFRecord of serialized
``tf.Example`` s holding the raw text (and label) features.
"""
import sys

import charword  # noqa: F401  (chooses the Keras flavour before TensorFlow loads)
import numpy as np
import tensorflow as tf

from charword import features
from trainer.export import SIGNATURES


def check_model(model_dir: str, serialized_examples: list) -> None:
    """Raises ``AssertionError``/TF errors when the model does not serve the contract."""
    model = tf.saved_model.load(model_dir)
    missing = set(SIGNATURES) - set(model.signatures)
    assert not missing, f"signatures missing from {model_dir}: {sorted(missing)}"
    examples = tf.constant(serialized_examples)
    texts = tf.io.parse_example(examples, {features.RAW_TEXT: tf.io.FixedLenFeature([], tf.string)})[
        features.RAW_TEXT]
    batch = len(serialized_examples)

    probabilities = model.signatures["serving_default"](examples=examples)["probabilities"].numpy()
    assert probabilities.shape[0] == batch, f"serving_default answered {probabilities.shape[0]} rows for {batch}"
    assert np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-3), "serving_default rows do not sum to 1"

    predicted = model.signatures["predict_text"](text=texts)
    labels = predicted["label"].numpy()
    classes = predicted["classes"].numpy()
    assert labels.shape == (batch,), f"predict_text label shape {labels.shape}"
    assert all(label in row for label, row in zip(labels, classes)), "predict_text label not among classes"
    assert np.allclose(predicted["probabilities"].numpy(), probabilities, atol=1e-4), \
        "predict_text and serving_default disagree on the same texts"

    embedded = model.signatures["embed_tokens"](text=texts)
    assert embedded["embeddings"].shape[0] == batch and embedded["tokens"].shape == embedded["mask"].shape, \
        "embed_tokens outputs have inconsistent shapes"
    assert np.isfinite(embedded["embeddings"].numpy()).all(), "embed_tokens returned non-finite values"

    transformed = model.signatures["transform_features"](examples=examples)
    for name in features.MODEL_INPUTS:
        assert name in transformed, f"transform_features lacks {name}"


def main(argv: list) -> int:
    model_dir, requests_file = argv[1], argv[2]
    requests = [record.numpy() for record in tf.data.TFRecordDataset(requests_file)]
    try:
        check_model(model_dir, requests)
    except Exception as error:  # pylint: disable=broad-except
        print(f"model at {model_dir} is not servable: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    print(f"model at {model_dir} answered all {len(SIGNATURES)} signatures on {len(requests)} requests")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
