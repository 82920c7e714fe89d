# The front door: `make run` runs the main job, `make test` runs the tests.
# Both create .venv (Python 3.10 + requirements.lock) when it is missing.
VENV := .venv
STAMP := $(VENV)/.charword-installed
export PYTHONWARNINGS := ignore
export TF_CPP_MIN_LOG_LEVEL := 2

.PHONY: run test test-slow test-all env clean

$(STAMP): requirements.lock setup.py scripts/bootstrap.sh
	scripts/bootstrap.sh

env: $(STAMP)

run: $(STAMP)
	$(VENV)/bin/charword run

test: $(STAMP)
	$(VENV)/bin/python -m pytest tests -m "not slow"

test-slow: $(STAMP)
	$(VENV)/bin/python -m pytest tests -m slow

test-all: $(STAMP)
	$(VENV)/bin/python -m pytest tests

clean:
	rm -rf outputs
