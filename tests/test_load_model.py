"""Loading a trained model the way a user would: ``charword.load_model`` registers the
tf.Text ops the preprocessing uses; plain ``tf.saved_model.load`` alone cannot."""
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(script, *args):
    return subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=300,
                          check=False, cwd=ROOT, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})


def test_load_model_answers_predict_text_in_a_fresh_process(trained_model):
    """A fresh process gets what the trained model says here: the learnt class of an
    opinion word of each class, with the same probabilities."""
    import tensorflow as tf  # pylint: disable=import-outside-toplevel

    import charword  # pylint: disable=import-outside-toplevel
    from charword import contract  # pylint: disable=import-outside-toplevel
    texts = ["the plot was superb .", "the plot was dreadful ."]
    script = ("import sys, charword, tensorflow as tf\n"
              "from charword import contract\n"
              "model = charword.load_model(sys.argv[1])\n"
              "out = model.signatures[contract.PREDICT_TEXT](**{contract.TEXT_INPUT: tf.constant(sys.argv[2:])})\n"
              "print(' '.join(label.decode() for label in out[contract.LABEL].numpy()))\n"
              "print(' '.join(repr(float(p)) for p in out[contract.PROBABILITIES].numpy().ravel()))\n")
    done = _run(script, trained_model.model_dir, *texts)
    assert done.returncode == 0, done.stderr[-2000:]
    labels, probabilities = done.stdout.strip().splitlines()[-2:]
    assert labels.split() == ["positive", "negative"]
    here = charword.load_model(trained_model.model_dir).signatures[contract.PREDICT_TEXT](
        **{contract.TEXT_INPUT: tf.constant(texts)})[contract.PROBABILITIES].numpy().ravel()
    assert [float(p) for p in probabilities.split()] == pytest.approx(here.tolist(), abs=1e-6)


def test_plain_tensorflow_without_tf_text_names_the_missing_op(trained_model):
    """What docs/model.md warns about: the op is not registered until tensorflow_text is imported."""
    done = _run("import sys, tensorflow as tf\ntf.saved_model.load(sys.argv[1])\n", trained_model.model_dir)
    assert done.returncode != 0
    assert "NormalizeUTF8" in done.stderr
