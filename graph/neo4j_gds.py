"""Analysis inside Neo4j with Graph Data Science (GDS): the `gds` engine.

The graph of a window is projected into GDS's in-memory catalog with one
Cypher aggregation (`graph.cypher_gds`), the algorithms run there through
the official `graphdatascience` client, and only their results come back,
one column at a time. The referral metrics, fraud rules and the score stay
in Python over the users and ties the store reads (`Store.read_graph`,
which never returns the event log).

What runs in GDS, and how it lines up with the Python engine
(`graph.analysis.kernels`):

- PageRank over `CREDITS` (invitee -> inviter). GDS's scores are not
  normalised and drop dangling users' rank; scaled to sum 1 they equal the
  Python engine's (uniform teleport and dangling redistribution), since
  both solve x = d·A·x + c·1 for a scalar c;
- k-core (`gds.kcore`) and weakly connected components (`gds.wcc`) over
  the undirected `TIE`s;
- Leiden (`gds.leiden`, seeded, one thread so the seed decides the
  result) over `TIE`, renumbered like the Python engine's communities;
- betweenness (`gds.betweenness`) over `TIE`: exact up to the same user
  limit, above it from the same number of seeded sampled sources, scaled
  by users / samples as the Python estimate is.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from graph import cypher
from graph.analysis.communities import modularity, renumbered
from graph.analysis.kernels import GraphKernels, Stage
from graph.analysis.tiegraph import TieGraph
from graph.neo4j_runner import QueryRunner
from graph.store import StoreError, Window

# Community edition runs at most 4 threads; Leiden runs on one so that the
# seed alone decides its result.
LEIDEN_CONCURRENCY = 1
PAGERANK_TOLERANCE = 1e-10
PAGERANK_MAX_ITERATIONS = 1000
ANALYSIS_KINDS = ("CREDITS", "TIE")
INFLUENCE_KINDS = ("SPREADS",)


class GdsUnavailableError(StoreError):
    """The server has no Graph Data Science library (or refuses its use)."""


@dataclass
class Projection:
    """A graph projected into GDS's catalog, its users lined up with `ids`."""

    name: str
    nodes: np.ndarray  # GDS node ids, sorted
    position: np.ndarray  # per entry of `nodes`: the user's position in `ids`, or -1


class GdsSession:
    """The official client on a store's connection, and the store's runner
    for the Cypher of `graph.cypher_gds`."""

    def __init__(
        self,
        runner: QueryRunner,
        client: Any,
        url: str,
        window_params: Callable[[Window], dict[str, Any]],
    ) -> None:
        self.runner = runner
        self.client = client
        self.url = url
        self._window_params = window_params

    @contextmanager
    def project(self, window: Window, kinds: tuple[str, ...]) -> Iterator[str]:
        """Project the window's users and ties as `kinds` under a fresh
        name; the projection is dropped on exit, whatever happened."""
        name = f"searchlight-{uuid.uuid4().hex}"
        query = cypher.GDS_PROJECT_ALL if window == Window() else cypher.GDS_PROJECT_WINDOW
        params = {
            **self._window_params(window),
            "graph": name,
            "kinds": list(kinds),
            "undirected": [k for k in kinds if k == "TIE"],
        }
        self.runner.write(query, params)
        try:
            yield name
        finally:
            self.runner.write(cypher.GDS_DROP, {"graph": name})

    def line_up(self, name: str, prop: str, ids: pa.Array) -> Projection:
        """The projection's users lined up with `ids` (read through a node
        property the projection already has: GDS streams only those)."""
        row = self.runner.read(cypher.GDS_USERS, {"graph": name, "property": prop})[0]
        nodes = np.asarray(row["node"], np.int64)
        order = np.argsort(nodes)
        users = pa.array(row["id"], pa.string()).take(pa.array(order))
        position = pc.index_in(users, value_set=ids).fill_null(-1).to_numpy().astype(np.int64)
        return Projection(name, nodes[order], position)

    def column(self, projection: Projection, prop: str, n: int, dtype: Any) -> np.ndarray:
        """One computed node property as an array in `ids` order (0 where absent)."""
        row = self.runner.read(cypher.GDS_PROPERTY, {"graph": projection.name, "property": prop})[0]
        where = np.searchsorted(projection.nodes, np.asarray(row["node"], np.int64))
        slot = projection.position[where]
        known = slot >= 0
        out = np.zeros(n, dtype)
        out[slot[known]] = np.asarray(row["value"], dtype)[known]
        return out


def open_session(store: object) -> GdsSession:
    """A GDS session on a Neo4j store, or `GdsUnavailableError` that says why not."""
    gds = getattr(store, "gds", None)
    if gds is None:
        raise GdsUnavailableError(
            "the gds engine runs inside Neo4j, and this store is the embedded one: "
            "analyse with --engine searchlight, or use a Neo4j store "
            "(KOC_STORE_URL=neo4j://...)"
        )
    return gds()


def connect(
    runner: QueryRunner,
    driver: Any,
    database: str | None,
    url: str,
    window_params: Callable[[Window], dict[str, Any]],
) -> GdsSession:
    """A GDS session, or `GdsUnavailableError` naming `gds.version()`."""
    try:
        runner.read(cypher.GDS_VERSION, {})
    except StoreError as exc:
        if "gds.version" not in str(exc):
            raise
        raise GdsUnavailableError(
            "the Neo4j server at {url} has no Graph Data Science library: `RETURN "
            'gds.version()` failed. Install the GDS plugin (docs/neo4j.md, "Graph Data '
            'Science") or analyse with --engine searchlight',
            url=url,
        ) from exc
    from graphdatascience import GraphDataScience

    client = GraphDataScience(driver, database=database, arrow=False, show_progress=False)
    return GdsSession(runner, client, url, window_params)


def gds_kernels(
    session: GdsSession,
    window: Window,
    graph: TieGraph,
    low: np.ndarray,
    high: np.ndarray,
    *,
    seed: int,
    exact_limit: int,
    samples: int,
    stage: Stage,
) -> GraphKernels:
    """The analysis kernels in GDS, each stage announced through `stage`
    (`gds:project` and `gds:read` are GDS's own costs)."""
    n = graph.n
    gds = session.client
    stage("gds:project")
    with session.project(window, ANALYSIS_KINDS) as name:
        projected = gds.graph.get(name)
        stage("components")
        components = gds.wcc.mutate(projected, "component", relationship_types=["TIE"])
        stage("gds:read")
        projection = session.line_up(name, "component", graph.ids)
        stage("pagerank")
        gds.page_rank.mutate(
            projected,
            "pagerank",
            damping_factor=0.85,
            tolerance=PAGERANK_TOLERANCE,
            max_iterations=PAGERANK_MAX_ITERATIONS,
            relationship_types=["CREDITS"],
        )
        stage("core")
        gds.kcore.mutate(projected, "core", relationship_types=["TIE"])
        stage("communities")
        gds.leiden.mutate(
            projected,
            "community",
            random_seed=seed,
            concurrency=LEIDEN_CONCURRENCY,
            relationship_types=["TIE"],
        )
        stage("betweenness")
        sampled = n > exact_limit
        gds.betweenness.mutate(
            projected,
            "betweenness",
            sampling_size=min(samples, n) if sampled else None,
            sampling_seed=seed if sampled else None,
            relationship_types=["TIE"],
        )
        stage("gds:read")
        rank = session.column(projection, "pagerank", n, np.float64)
        core = session.column(projection, "core", n, np.int64)
        label = renumbered(session.column(projection, "community", n, np.int64))
        between = session.column(projection, "betweenness", n, np.float64)
    if sampled:
        between *= n / min(samples, n)
    total = rank.sum()
    return GraphKernels(
        pagerank=rank / total if total > 0 else rank,
        core=core,
        community=label,
        modularity=modularity(low, high, label),
        betweenness=between,
        components=int(components.component_count),
    )


@dataclass
class CelfPicks:
    """CELF's seeds among the eligible users, in the order CELF took them."""

    seeds: list[int]  # positions in `ids`
    gains: list[float]  # GDS's estimate of the users each seed adds
    probability: float  # the one tie probability CELF ran with
    skipped: int  # ineligible users CELF picked, left out


def gds_celf(
    session: GdsSession,
    window: Window,
    ids: pa.Array,
    eligible: np.ndarray,
    k: int,
    probability: float,
    *,
    simulations: int,
    seed: int,
) -> CelfPicks:
    """Influence maximisation by GDS's CELF over the window's `SPREADS` ties
    with one probability for every tie (GDS 2.13's CELF has no per-tie
    probability). CELF cannot be told who may be picked, so it is asked for
    more seeds until k eligible ones are among them; their order is CELF's
    (gains never grow along a greedy order, so sorting by gain restores it)."""
    n = len(ids)
    want = min(k, n)
    with session.project(window, INFLUENCE_KINDS) as name:
        projected = session.client.graph.get(name)
        for _ in range(6):
            picked = session.client.influence_maximization_celf.stream(
                projected,
                seed_set_size=max(want, 1),
                propagation_probability=probability,
                monte_carlo_simulations=simulations,
                random_seed=seed,
            ).sort_values("spread", ascending=False, kind="stable")
            nodes = [int(x) for x in picked["nodeId"]]
            row = session.runner.read(cypher.GDS_USER_IDS, {"nodes": nodes})[0]
            where = pc.index_in(pa.array(row["id"], pa.string()), value_set=ids)
            position = where.fill_null(-1).to_numpy().astype(np.int64)
            ok = (position >= 0) & eligible[np.maximum(position, 0)]
            if ok.sum() >= k or want >= n:
                break
            want = min(n, want + max(k, 2 * int((~ok).sum())))
    gains = picked["spread"].to_numpy(dtype=np.float64)
    taken = np.flatnonzero(ok)[:k]
    before_last = int(taken[-1]) + 1 if taken.size else len(ok)
    return CelfPicks(
        seeds=position[taken].tolist(),
        gains=gains[taken].tolist(),
        probability=probability,
        skipped=int((~ok[:before_last]).sum()),
    )
