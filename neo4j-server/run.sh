#!/usr/bin/env bash
# Start or stop the repo's own Neo4j (Neo4jServer.java, Neo4j's test harness).
#   run.sh up [STATE]     build if needed, start in the background, wait for Bolt,
#                         URL in STATE/url, password in STATE/password, PID in STATE/pid
#   run.sh down [STATE]   stop it by its PID (the server removes its data)
#   run.sh check          exit 0 when java and mvn are present
# STATE defaults to .neo4j; NEO4J_HEAP (default 1g) and NEO4J_PAGECACHE
# (default 512m) size the JVM; NEO4J_START_SECONDS (default 180) bounds the wait.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cmd="${1:-}"
state="${2:-.neo4j}"

have_tools() { command -v java >/dev/null 2>&1 && command -v mvn >/dev/null 2>&1; }

build() {
    local stamp="$here/target/lib/.built"
    if [ -f "$stamp" ] && [ -z "$(find "$here/pom.xml" "$here/src" -newer "$stamp" -type f)" ]; then
        return 0
    fi
    echo "building the Neo4j launcher (Maven; the first build downloads Neo4j)"
    # copy-dependencies only adds: old versions of a jar would stay on the classpath
    rm -rf "$here/target/lib" "$here/target/gds"
    mvn -q -B -f "$here/pom.xml" package
    touch "$stamp"
}

running() { [ -f "$state/pid" ] && kill -0 "$(cat "$state/pid")" 2>/dev/null; }

up() {
    have_tools || { echo "Neo4j needs java and mvn on PATH" >&2; exit 1; }
    if running; then
        echo "Neo4j already running (PID $(cat "$state/pid")): $(cat "$state/url")"
        return 0
    fi
    build
    mkdir -p "$state"
    rm -f "$state/url" "$state/pid"
    if [ ! -s "$state/password" ]; then
        (umask 077; head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$state/password")
    fi
    # GDS's jars sit on the classpath (its extensions) and, linked into the
    # plugins folder, are scanned there for its procedures.
    mkdir -p "$state/plugins"
    find "$state/plugins" -maxdepth 1 -name '*.jar' -type l -delete
    ln -s "$here"/target/gds/*.jar "$state/plugins/"
    local cp="$here/target/classes:$here/target/lib/*"
    nohup java "-Xmx${NEO4J_HEAP:-1g}" -XX:+UseG1GC -cp "$cp" searchlight.Neo4jServer "$state" \
        > "$state/server.log" 2>&1 < /dev/null &
    echo $! > "$state/pid"
    local limit="${NEO4J_START_SECONDS:-180}"
    for _ in $(seq "$limit"); do
        if [ -s "$state/url" ]; then
            echo "Neo4j ready: $(cat "$state/url") (password in $state/password)"
            return 0
        fi
        if ! running; then
            echo "Neo4j stopped while starting; the end of $state/server.log:" >&2
            tail -20 "$state/server.log" >&2
            exit 1
        fi
        sleep 1
    done
    echo "Neo4j did not answer within ${limit}s; see $state/server.log" >&2
    down
    exit 1
}

down() {
    if ! running; then
        rm -f "$state/pid" "$state/url"
        echo "Neo4j is not running"
        return 0
    fi
    local pid
    pid="$(cat "$state/pid")"
    kill "$pid"
    for _ in $(seq 60); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 1
    done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$state/pid" "$state/url"
    echo "Neo4j stopped"
}

case "$cmd" in
    up) up ;;
    down) down ;;
    check) have_tools ;;
    *) echo "usage: $0 up|down|check [STATE]" >&2; exit 2 ;;
esac
