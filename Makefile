# The two commands a newcomer needs: `make demo` and `make test`.
# Both set up the virtual environment themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
DEMO_USERS ?= 20000

.PHONY: install demo test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/koc generate --users $(DEMO_USERS) --seed 7 --out data/demo/events.csv
	$(BIN)/koc ingest data/demo/events.csv
	$(BIN)/koc stats
	$(BIN)/koc analyze
	$(BIN)/koc top --by effective_invites --limit 10
	$(BIN)/koc kocs --k 10
	$(BIN)/koc flags --limit 10

lint: $(STAMP)
	$(BIN)/ruff check .

test: lint
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/analyze.py
	$(BIN)/python bench/kocs.py
	$(BIN)/python bench/quality.py

clean:
	rm -rf $(VENV) data bench/out .pytest_cache .ruff_cache .hypothesis
