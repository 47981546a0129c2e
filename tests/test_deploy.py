"""The deployment files say what the README promises: `make up` runs where
Docker does, and CI runs the whole suite with the repo's own Neo4j."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).parent.parent


def test_compose_runs_neo4j_5_and_the_api_against_it():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    neo4j, api = compose["services"]["neo4j"], compose["services"]["api"]
    assert neo4j["image"].startswith("neo4j:5") and "community" in neo4j["image"]
    assert neo4j["environment"]["NEO4J_AUTH"].startswith("neo4j/${NEO4J_PASSWORD:?")
    assert {"NEO4J_server_memory_heap_max__size", "NEO4J_server_memory_pagecache_size"} <= set(
        neo4j["environment"]
    )
    assert "cypher-shell" in " ".join(neo4j["healthcheck"]["test"])
    named = {v.split(":")[0] for v in neo4j["volumes"] if isinstance(v, str)}
    assert {"neo4j-data", "neo4j-logs"} <= named <= set(compose["volumes"])
    # the one host path: GDS's plugins folder, read-only, or no start at all
    (plugins,) = [v for v in neo4j["volumes"] if not isinstance(v, str)]
    assert plugins["source"] == "./neo4j-server/target/neo4j-plugins"
    assert plugins["target"] == "/plugins" and plugins["read_only"] is True
    assert plugins["bind"]["create_host_path"] is False
    # the tests' Neo4j, which GDS's version in the same pom pairs with
    pom = (ROOT / "neo4j-server" / "pom.xml").read_text()
    version = re.search(r"<neo4j.version>([^<]+)</neo4j.version>", pom).group(1)
    assert neo4j["image"] == f"neo4j:{version}-community"
    for setting in ("unrestricted", "allowlist"):
        assert neo4j["environment"][f"NEO4J_dbms_security_procedures_{setting}"] == "gds.*"
    assert api["build"] == "."
    assert api["depends_on"]["neo4j"]["condition"] == "service_healthy"
    assert api["environment"]["KOC_STORE_URL"].startswith("neo4j://neo4j@neo4j:7687")
    assert api["environment"]["KOC_NEO4J_PASSWORD"] == "${NEO4J_PASSWORD}"
    assert "KOC_API_KEYS:?" in api["environment"]["KOC_API_KEYS"]  # no keys, no start
    published = [p for s in (neo4j, api) for p in s["ports"]]
    assert all(p.startswith("127.0.0.1:") for p in published)


def test_no_secret_is_committed():
    example = (ROOT / ".env.example").read_text()
    assert "NEO4J_PASSWORD=" in example and "KOC_API_KEYS=" in example
    assert ".env" in (ROOT / ".gitignore").read_text().split()
    for name in ("docker-compose.yml", "Dockerfile", ".github/workflows/ci.yml"):
        text = (ROOT / name).read_text()
        assert not re.search(r"NEO4J_AUTH: neo4j/(?!\$\{|ci-only)", text), name


def test_ci_runs_the_suite_with_the_repos_own_neo4j():
    """`make test` starts Neo4j from neo4j-server/ (Java 17 and Maven), so CI
    installs Java and needs no service container, and checks that the Neo4j
    tests ran rather than being skipped."""
    workflow = yaml.safe_load((ROOT / ".github/workflows/ci.yml").read_text())
    job = workflow["jobs"]["test"]
    assert "services" not in job
    assert "KOC_TEST_NEO4J_URL" not in job.get("env", {})  # make test sets it
    java = [s for s in job["steps"] if s.get("uses", "").startswith("actions/setup-java@")]
    assert java and java[0]["with"]["distribution"] == "temurin"
    assert str(java[0]["with"]["java-version"]) == "17"
    runs = [step.get("run", "") for step in job["steps"]]
    assert runs.index(".ci/run") < next(i for i, r in enumerate(runs) if "pytest-report" in r)
    assert "--junitxml=pytest-report.xml" in job["env"]["PYTEST_ARGS"]
    assert "make test" in (ROOT / ".ci/run").read_text()
    makefile = (ROOT / "Makefile").read_text()
    assert "neo4j-server/run.sh" in makefile and "$(PYTEST_ARGS)" in makefile


def test_dockerfile_serves_the_api():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "FROM python:3.11" in dockerfile and "USER searchlight" in dockerfile
    assert 'CMD ["koc", "serve", "--host", "0.0.0.0"' in dockerfile


def test_the_vendored_echarts_is_the_release_the_makefile_names():
    """api/static/echarts/echarts.min.js is npm's echarts at ECHARTS_VERSION
    (`make vendor-echarts` fetches and checks it), with its licence."""
    import hashlib

    makefile = (ROOT / "Makefile").read_text()
    recorded = re.search(r"^ECHARTS_JS_SHA256 := ([0-9a-f]{64})$", makefile, re.M)
    version = re.search(r"^ECHARTS_VERSION := (\S+)$", makefile, re.M)
    assert recorded and version
    vendored = ROOT / "api" / "static" / "echarts"
    assert hashlib.sha256((vendored / "echarts.min.js").read_bytes()).hexdigest() == recorded[1]
    assert "Apache License" in (vendored / "LICENSE").read_text()
    assert "Apache ECharts" in (vendored / "NOTICE").read_text()


def test_the_package_holds_every_module_and_the_explorer_files(tmp_path):
    """What `pip install .` (the Docker image) gets: every subpackage, the page."""
    import subprocess
    import sys
    import zipfile

    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
    )
    wheel = next(tmp_path.glob("searchlight-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = {
        str(p.relative_to(ROOT))
        for package in ("loaders", "graph", "api")
        for p in (ROOT / package).rglob("*.py")
    }
    assert modules <= names, sorted(modules - names)
    pages = {
        f"api/{p.relative_to(ROOT / 'api')}"
        for folder in ("templates", "static", "static/echarts", "locale/zh")
        for p in (ROOT / "api" / folder).iterdir()
        if p.is_file()
    }
    assert "api/templates/dashboard.html" in pages and "api/static/echarts/LICENSE" in pages
    assert pages <= names, sorted(pages - names)
    presets = {str(p.relative_to(ROOT)) for p in (ROOT / "loaders" / "presets").glob("*.toml")}
    assert presets and presets <= names, sorted(presets - names)  # koc ingest --preset
