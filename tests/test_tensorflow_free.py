"""Tests of pure-Python code (data reading, config, typos, the Kubeflow submit script,
static checks) run without importing TensorFlow, conftest included: they stay fast and
an accidental TensorFlow dependency of that code shows up here."""
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TENSORFLOW_FREE = ("tests/test_data_reader.py", "tests/test_bench.py", "tests/test_kubeflow_submit.py",
                   "tests/test_security.py", "tests/test_docs.py", "tests/test_net.py", "tests/test_presets.py")
HEAVY = ("tensorflow", "tensorflow_transform", "tfx", "tf_keras")


def test_pure_python_tests_run_without_importing_tensorflow():
    script = (
        "import sys, pytest\n"
        f"code = pytest.main([*{TENSORFLOW_FREE!r}, '-m', 'not slow', '-q', '-p', 'no:cacheprovider'])\n"
        f"print('imported:', sorted(name for name in {HEAVY!r} if name in sys.modules))\n"
        "sys.exit(code)\n")
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=600,
                          check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "imported: []" in done.stdout.splitlines(), done.stdout[-3000:]
