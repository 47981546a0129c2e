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

.PHONY: install demo test lint bench clean up down neo4j-up neo4j-down gds-plugin vendor-echarts
# The repo's own Neo4j (neo4j-server/): state, URL and password in $(NEO4J_DIR).
NEO4J_DIR ?= .neo4j
NEO4J := bash neo4j-server/run.sh
# The tests' server: GDS projections beside the store's caches want more than
# run.sh's default 1g heap, or garbage collection slows every Neo4j test.
export NEO4J_HEAP ?= 2g

$(STAMP): pyproject.toml
	@# LightGBM (the learned KOC score) needs the OpenMP runtime.
	@ldconfig -p 2>/dev/null | grep -q libgomp.so.1 || { \
		echo "installing Debian's libgomp1 for LightGBM"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq libgomp1; }
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

# Both cores; the tests of the one Neo4j database share one worker (xdist_group).
PYTEST_ARGS ?= -n 2 --dist loadgroup
# With java and mvn present the Neo4j contract suite runs against the repo's
# own Neo4j, started here and stopped again whatever the tests did.
test: lint $(CHROMIUM)
	@if $(NEO4J) check; then \
		$(MAKE) --no-print-directory neo4j-up || exit 1; \
		trap '$(MAKE) --no-print-directory neo4j-down' EXIT; \
		KOC_TEST_NEO4J_URL="$$(cat $(NEO4J_DIR)/url)" \
		KOC_NEO4J_PASSWORD="$$(cat $(NEO4J_DIR)/password)" \
		KOC_TEST_CHROMIUM=$(CHROMIUM) $(BIN)/python -m pytest $(PYTEST_ARGS); \
	else \
		KOC_TEST_NEO4J_MISSING="java or mvn is not on PATH" \
		KOC_TEST_CHROMIUM=$(CHROMIUM) $(BIN)/python -m pytest $(PYTEST_ARGS); \
	fi

neo4j-up:
	$(NEO4J) up $(NEO4J_DIR)

neo4j-down:
	$(NEO4J) down $(NEO4J_DIR)

# Graph Data Science for a stock Neo4j 5.26 server, which docker-compose.yml
# mounts at /plugins: GDS's jars, the libraries it needs that Neo4j lacks, and
# OpenGdsExtension's jar (docs/neo4j.md, "Graph Data Science").
GDS_PLUGINS := neo4j-server/target/neo4j-plugins

gds-plugin:
	@$(NEO4J) check || { echo "make gds-plugin needs java (17+) and mvn on PATH"; exit 1; }
	mvn -q -B -f neo4j-server/pom.xml package
	@echo "GDS plugins folder: $(GDS_PLUGINS) ($$(ls $(GDS_PLUGINS)/*.jar | wc -l) jars)"

bench: $(STAMP)
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/analyze.py
	$(BIN)/python bench/kocs.py
	$(BIN)/python bench/quality.py
	$(BIN)/python bench/api_load.py
	$(BIN)/python bench/explorer_page.py
	$(BIN)/python bench/explorer_page.py --warm
	$(BIN)/python bench/wecom_load.py

# Apache ECharts (Apache-2.0) for the dashboard's charts, committed in
# api/static/echarts/ with its LICENSE and NOTICE and served by the app (no
# CDN). This fetches exactly that release from the npm registry again and
# checks the package's sha256 and that of dist/echarts.min.js before copying
# it (tests/test_deploy.py checks the committed file against the latter).
ECHARTS_VERSION := 6.1.0
ECHARTS_SHA256 := 681aff88cc1038c3fa941a3a53d1b177a52250b05335efc607d6105ae13be481
ECHARTS_JS_SHA256 := b66b25aeb4df84e33199dc21694014d336d222cbd9deb0e5a7c14bd6aa0d0fd0
ECHARTS_DIR := api/static/echarts

vendor-echarts:
	@command -v npm >/dev/null || { echo "make vendor-echarts needs npm"; exit 1; }
	@work="$$(mktemp -d)" && trap 'rm -rf "$$work"' EXIT && \
	(cd "$$work" && npm pack --silent echarts@$(ECHARTS_VERSION) >/dev/null) && \
	echo "$(ECHARTS_SHA256)  $$work/echarts-$(ECHARTS_VERSION).tgz" | sha256sum --check --quiet - && \
	tar -xzf "$$work/echarts-$(ECHARTS_VERSION).tgz" -C "$$work" \
		package/dist/echarts.min.js package/LICENSE package/NOTICE && \
	echo "$(ECHARTS_JS_SHA256)  $$work/package/dist/echarts.min.js" | sha256sum --check --quiet - && \
	mkdir -p $(ECHARTS_DIR) && \
	cp "$$work/package/dist/echarts.min.js" "$$work/package/LICENSE" "$$work/package/NOTICE" $(ECHARTS_DIR)/ && \
	echo "echarts $(ECHARTS_VERSION) (sha256 $(ECHARTS_SHA256)) in $(ECHARTS_DIR)"

# Neo4j and the API in containers (docker-compose.yml; settings in .env).
up:
	@test -f .env || { echo "no .env: cp .env.example .env and set NEO4J_PASSWORD and KOC_API_KEYS"; exit 1; }
	@ls $(GDS_PLUGINS)/*.jar >/dev/null 2>&1 || $(MAKE) --no-print-directory gds-plugin
	docker compose up -d --build --wait
	@echo "API: http://127.0.0.1:8000/docs   Neo4j Browser: http://127.0.0.1:7474"

down:
	docker compose down

clean:
	rm -rf $(VENV) data bench/out .pytest_cache .ruff_cache .hypothesis neo4j-server/target
