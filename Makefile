# Two commands on a fresh machine: `make train` and `make test`. Each creates .venv when missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# pytest-xdist processes for `make test` (whole test files per process): many tests wait on tool
# subprocesses and interpreter start-up, so two processes finish the suite sooner on two cores
TEST_WORKERS ?= 2
export NO_ALBUMENTATIONS_UPDATE := 1

.PHONY: install train test tensorboard benchmark clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -e ".[test]"
	touch $(STAMP)

train: $(STAMP)
	$(BIN)/python tools/train.py $(ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile --durations=30 $(ARGS)

tensorboard: $(STAMP)
	$(BIN)/tensorboard --logdir $(or $(RUN_DIR),outputs) --bind_all

benchmark: $(STAMP)
	$(BIN)/python tools/benchmark_modules.py

clean:
	rm -rf $(VENV) outputs .pytest_cache
