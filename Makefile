# The project's front door: `make run` and `make test` each install everything into .venv first.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: install chromium run test lint bench eval clean

install: $(STAMP) chromium

# The console's browser tests drive Debian's Chromium (Playwright never downloads a browser).
# Without apt (not root, no network) they skip locally and fail under CI with a message.
chromium:
	@command -v chromium >/dev/null || (apt-get update && apt-get install -y chromium) \
		|| echo "chromium could not be installed: the console's browser tests will skip (and fail in CI)"

# torch is installed first and pinned: the CPU build 2.13.0 (a bare `torch` pulls a CUDA build).
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet "torch==2.13.0"
	PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 $(BIN)/pip install --quiet -e ".[dev]"
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
