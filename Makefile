# The two commands a newcomer needs: `make demo` and `make test`.
# Both set up the virtual environment themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
DEMO_USERS ?= 20000
DEMO_HOST ?= 127.0.0.1
DEMO_PORT ?= 8000
# Debian's Chromium, for the explorer's browser tests (playwright drives it).
CHROMIUM ?= /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: install demo test lint bench clean up down

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
	$(BIN)/koc serve --host $(DEMO_HOST) --port $(DEMO_PORT)

lint: $(STAMP)
	$(BIN)/ruff check .

$(CHROMIUM):
	@echo "installing Debian's chromium for the explorer's browser tests"
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium

test: lint $(CHROMIUM)
	KOC_TEST_CHROMIUM=$(CHROMIUM) $(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/analyze.py
	$(BIN)/python bench/kocs.py
	$(BIN)/python bench/quality.py
	$(BIN)/python bench/api_load.py
	$(BIN)/python bench/explorer_page.py
	$(BIN)/python bench/explorer_page.py --warm

# Neo4j and the API in containers (docker-compose.yml; settings in .env).
up:
	@test -f .env || { echo "no .env: cp .env.example .env and set NEO4J_PASSWORD and KOC_API_KEYS"; exit 1; }
	docker compose up -d --build --wait
	@echo "API: http://127.0.0.1:8000/docs   Neo4j Browser: http://127.0.0.1:7474"

down:
	docker compose down

clean:
	rm -rf $(VENV) data bench/out .pytest_cache .ruff_cache .hypothesis
