# The front door: `make run` runs the main job, `make test` runs the tests.
# Both create .venv (Python 3.10 + requirements.lock) when it is missing.
VENV := .venv
STAMP := $(VENV)/.charword-installed
export PYTHONWARNINGS := ignore
export TF_CPP_MIN_LOG_LEVEL := 2

.PHONY: run test test-all bench env clean

$(STAMP): requirements.lock setup.py scripts/bootstrap.sh
	scripts/bootstrap.sh

env: $(STAMP)

run: $(STAMP)
	$(VENV)/bin/charword run

test: $(STAMP)
	$(VENV)/bin/python -m pytest tests -m "not slow"

test-all: $(STAMP)
	$(VENV)/bin/python -m pytest tests

bench: $(STAMP)
	$(VENV)/bin/python -m bench.run_all

clean:
	rm -rf outputs
