"""The networkx-only reference analysis, the baseline of bench/analyze.py.

Reads the same graph tables as `graph.analysis.snapshot.analyze` and computes
the same metrics the straightforward way: networkx graphs and algorithms,
plain Python for sums and ranks. Prints one JSON line with the seconds per
stage. Usage: python bench/nx_reference.py STORE
"""

from __future__ import annotations

import bisect
import json
import sys
import time

import networkx as nx

from graph.analysis.score import DEFAULT_WEIGHTS
from graph.embedded import EmbeddedStore
from graph.store import Window

HALF_LIFE_DAYS = 30.0
SAMPLES = 4


def main(path: str) -> None:
    stages: dict[str, float] = {}
    started = time.perf_counter()

    def stage(name: str, since: list[float] = [started]) -> None:  # noqa: B006
        now = time.perf_counter()
        stages[name] = round(now - since[0], 3)
        since[0] = now

    store = EmbeddedStore(path, read_only=True)
    tables = store.read_graph(Window())
    users = tables.users.to_pylist()
    referred = tables.referred.to_pylist()
    invited = tables.invited.to_pylist()
    ids = [u["id"] for u in users]
    converted = {u["id"]: u["converted"] for u in users}
    churned = {u["id"]: u["churned"] for u in users}
    amount = {u["id"]: u["amount"] for u in users}
    tree = nx.DiGraph()
    tree.add_nodes_from(ids)
    tree.add_edges_from((r["referrer_id"], r["invitee_id"]) for r in referred)
    ties = nx.Graph(tree.to_undirected())
    ties.add_edges_from((i["inviter_id"], i["invitee_id"]) for i in invited)
    stage("read")

    m: dict[str, dict] = {
        k: {}
        for k in (
            "invites",
            "effective_invites",
            "reach",
            "depth",
            "tier2",
            "tier3",
            "gmv",
            "direct_gmv",
        )
    }
    for u in ids:
        kids = list(tree.successors(u))
        m["invites"][u] = len(kids)
        m["effective_invites"][u] = sum(1 for k in kids if not churned[k])
        m["direct_gmv"][u] = sum(amount[k] for k in kids)
        dist = nx.single_source_shortest_path_length(tree, u)
        del dist[u]
        m["reach"][u] = len(dist)
        m["depth"][u] = max(dist.values(), default=0)
        m["tier2"][u] = sum(1 for d in dist.values() if d == 2)
        m["tier3"][u] = sum(1 for d in dist.values() if d == 3)
        m["gmv"][u] = sum(amount[v] for v in dist)
    sum(converted.values())
    stage("referral")

    credit = nx.DiGraph()
    credit.add_nodes_from(ids)
    credit.add_edges_from((b, a) for a, b in tree.edges())
    credit.add_edges_from((i["invitee_id"], i["inviter_id"]) for i in invited)
    m["pagerank"] = nx.pagerank(credit, alpha=0.85)
    stage("pagerank")

    nx.core_number(ties)
    stage("core")

    groups = nx.community.louvain_communities(ties, seed=0)
    label = {u: c for c, members in enumerate(groups) for u in members}
    stage("communities")

    m["bridging"] = {u: len({label[v] for v in ties.neighbors(u)} - {label[u]}) for u in ids}
    nx.betweenness_centrality(ties, k=min(SAMPLES, len(ids)), seed=0, normalized=False)
    stage("bridging")

    reference = tables.last_event_at.timestamp() if tables.last_event_at else 0.0
    m["recent_invites"] = {u: 0.0 for u in ids}
    for r in referred:
        age_days = max(reference - r["at"].timestamp(), 0) / 86_400
        m["recent_invites"][r["referrer_id"]] += 0.5 ** (age_days / HALF_LIFE_DAYS)
    stage("recency")

    total = sum(DEFAULT_WEIGHTS.values())
    score = {u: 0.0 for u in ids}
    for signal, weight in DEFAULT_WEIGHTS.items():
        values = sorted(m[signal].values())
        for u in ids:
            below = bisect.bisect_left(values, m[signal][u])
            score[u] += 100 * weight / total * below / max(len(ids) - 1, 1)
    stage("score")

    print(
        json.dumps(
            {
                "seconds": round(time.perf_counter() - started, 2),
                "users": len(ids),
                "stage_seconds": stages,
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1])
