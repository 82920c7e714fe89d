# The front door: `make run` runs the main job, `make test` runs the tests.
# `make test` lints (ruff) before it runs the tests.
# Both create .venv (Python 3.10 + requirements.lock) when it is missing.
VENV := .venv
STAMP := $(VENV)/.charword-installed
export TF_CPP_MIN_LOG_LEVEL := 2

.PHONY: run lint test test-slow test-all env clean

$(STAMP): requirements.lock setup.py scripts/bootstrap.sh
	scripts/bootstrap.sh

env: $(STAMP)

run: $(STAMP)
	$(VENV)/bin/charword run

lint: $(STAMP)
	$(VENV)/bin/ruff check .

# Two test processes (pytest-xdist), each taking whole modules, so a module's fixtures
# (a Transform run, a trained model, a pipeline run) are built once; modules in the order
# tests/conftest.py gives them (whole-pipeline runs first).
XDIST := -n 2 --dist loadscope --no-loadscope-reorder

test: lint
	$(VENV)/bin/python -m pytest tests -m "not slow" $(XDIST)

test-slow: $(STAMP)
	$(VENV)/bin/python -m pytest tests -m slow $(XDIST)

test-all: $(STAMP)
	$(VENV)/bin/python -m pytest tests $(XDIST)

clean:
	rm -rf outputs
