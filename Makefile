PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test lint typecheck unit bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Python 3.11 is needed: set PYTHON=/path/to/python3.11"; exit 2; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/dexacode icd10 status >/dev/null
	touch $(STAMP)

demo: install
	@for f in examples/ex*.json; do \
		echo "=== dexacode code $$f"; \
		$(BIN)/dexacode code "$$f" --format text; \
		echo "    (exit status $$?)"; \
	done
	@echo "=== dexacode scrub examples/batch.jsonl --out .cache/demo/results.jsonl"
	@mkdir -p .cache/demo
	@$(BIN)/dexacode scrub examples/batch.jsonl --out .cache/demo/results.jsonl \
		--db sqlite:///.cache/demo/history.sqlite3 --quiet; echo "    (exit status $$?)"
	@echo "=== dexacode read src/dexacode/reports/examples/lunar-spine-dualfemur.txt"
	@$(BIN)/dexacode read src/dexacode/reports/examples/lunar-spine-dualfemur.txt; \
		echo "    (exit status $$?)"

lint: install
	$(BIN)/ruff format --check src tests bench
	$(BIN)/ruff check src tests bench

typecheck: install
	$(BIN)/mypy

unit: install
	$(BIN)/pytest

test: lint typecheck unit

bench: install
	$(BIN)/python bench/code_one.py
	$(BIN)/python bench/scrub.py
	$(BIN)/python bench/x12.py
	$(BIN)/python bench/serve.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
