"""Loads a SavedModel and checks every signature on canned requests; run in a fresh process.

``python -m components.servable_probe MODEL_DIR REQUESTS_FILE`` exits 0 when the model
passes :func:`charword.servability.check_servable`, and 1 with the reason on stderr
otherwise. ``REQUESTS_FILE`` is a local TFRecord of serialized ``tf.Example`` s holding
the raw text (and label) features.
"""
import sys
from typing import List

import charword
from charword import contract
from charword.servability import check_servable, require_signatures, saved_model_runner


def check_model(model_dir: str, serialized_examples: List[bytes]) -> None:
    """Raises :class:`charword.servability.NotServableError` (or a TF error) when the
    model at ``model_dir`` does not serve the contract on these examples."""
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    model = charword.load_model(model_dir)
    require_signatures(list(model.signatures))
    texts = tf.io.parse_example(tf.constant(serialized_examples),
                                contract.raw_feature_spec(False, with_label=False))[contract.RAW_TEXT]
    check_servable(list(model.signatures), saved_model_runner(model), list(texts.numpy()), serialized_examples)


def main(argv: list) -> int:
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    model_dir, requests_file = argv[1], argv[2]
    requests = [record.numpy() for record in tf.data.TFRecordDataset(requests_file)]
    try:
        check_model(model_dir, requests)
    except Exception as error:  # pylint: disable=broad-except
        print(f"model at {model_dir} is not servable: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    print(f"model at {model_dir} answered all {len(contract.SIGNATURES)} signatures on {len(requests)} requests")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
