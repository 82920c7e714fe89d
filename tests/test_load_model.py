"""Loading a trained model the way a user would: ``charword.load_model`` registers the
tf.Text ops the preprocessing uses; plain ``tf.saved_model.load`` alone cannot."""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(script, *args):
    return subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=300,
                          check=False, cwd=ROOT, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})


def test_load_model_answers_predict_text_in_a_fresh_process(trained_model):
    script = ("import sys, charword, tensorflow as tf\n"
              "from charword import contract\n"
              "model = charword.load_model(sys.argv[1])\n"
              "out = model.signatures[contract.PREDICT_TEXT](**{contract.TEXT_INPUT: tf.constant(['superb'])})\n"
              "print(out[contract.LABEL].numpy()[0].decode())\n")
    done = _run(script, trained_model.model_dir)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] in ("positive", "negative")


def test_plain_tensorflow_without_tf_text_names_the_missing_op(trained_model):
    """What docs/model.md warns about: the op is not registered until tensorflow_text is imported."""
    done = _run("import sys, tensorflow as tf\ntf.saved_model.load(sys.argv[1])\n", trained_model.model_dir)
    assert done.returncode != 0
    assert "NormalizeUTF8" in done.stderr
