# The project's front door: `make run` and `make test` each install everything into .venv first.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: install run test lint bench eval clean

install: $(STAMP)

# torch is installed first and pinned: the CPU build 2.13.0 (a bare `torch` pulls a CUDA build).
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet "torch==2.13.0"
	$(BIN)/pip install --quiet -e ".[dev]"
	$(BIN)/pls model export
	touch $(STAMP)

run: install
	$(BIN)/pls demo --if-empty
	$(BIN)/pls serve

test: install
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check app embeddings indexer tests scripts
	$(BIN)/mypy app embeddings indexer

bench: install
	$(BIN)/pls bench

clean:
	rm -rf $(VENV) var .pytest_cache
