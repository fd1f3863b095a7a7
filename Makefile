# Julia: `make run` starts the whole system on embedded defaults; `make test` runs the suite.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install run test lint format bench drills clean

install: $(STAMP)

$(STAMP): pyproject.toml requirements-dev.lock
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is required (set PYTHON=...)"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip uv
	$(BIN)/uv pip install --quiet --python $(BIN)/python -r requirements-dev.lock
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	touch $(STAMP)

run: install
	$(BIN)/julia dev

test: install
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check app tests benchmarks
	$(BIN)/ruff format --check app tests benchmarks
	$(BIN)/mypy app

format: install
	$(BIN)/ruff check --fix app tests benchmarks
	$(BIN)/ruff format app tests benchmarks

bench: install
	$(BIN)/python benchmarks/foundation.py && $(BIN)/python benchmarks/conversation.py && $(BIN)/python benchmarks/outreach.py \
		&& $(BIN)/python benchmarks/webhook_edge.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

drills: install
	$(BIN)/python benchmarks/drills.py $(DRILLS_ARGS)
