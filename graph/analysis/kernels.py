"""The graph kernels of an analysis, as one result whichever engine ran them:
PageRank, k-core, communities (with their modularity), betweenness and the
number of connected components, over the tie graph of `graph.analysis.tiegraph`.

`searchlight_kernels` is the Python engine (numpy, scipy and igraph);
`graph.neo4j_gds.gds_kernels` runs the same inside Neo4j with Graph Data
Science. Bridging, the referral metrics, fraud rules and the score are
computed in Python for both.

Example::

    >>> import numpy as np
    >>> from graph.analysis.tiegraph import TieGraph
    >>> import pyarrow as pa
    >>> g = TieGraph(pa.array(["a", "b", "c"]), np.array([-1, 0, 0]), np.full(3, -1),
    ...              np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(3, bool),
    ...              np.zeros(3, bool), np.zeros(3))
    >>> k = searchlight_kernels(g, *g.undirected_edges(), seed=0)
    >>> k.core.tolist(), k.components, bool(k.pagerank[0] > k.pagerank[1])
    ([1, 1, 1], 1, True)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from graph.analysis.bridging import EXACT_LIMIT, SAMPLES, betweenness
from graph.analysis.communities import communities
from graph.analysis.cores import core_numbers
from graph.analysis.pagerank import pagerank
from graph.analysis.tiegraph import TieGraph, undirected_graph

ENGINES = ("searchlight", "gds")

# stage(name) starts a timed stage of the analysis.
Stage = Callable[[str], None]


@dataclass
class GraphKernels:
    pagerank: np.ndarray  # float64, sums to 1
    core: np.ndarray  # int64
    community: np.ndarray  # int64, 0 the largest community
    modularity: float
    betweenness: np.ndarray  # float64
    components: int  # connected components of the undirected tie graph


def component_count(n: int, low: np.ndarray, high: np.ndarray) -> int:
    """Connected components of the undirected tie graph (isolated users count)."""
    if n == 0:
        return 0
    adjacency = sp.csr_matrix((np.ones(len(low), np.int8), (low, high)), shape=(n, n))
    return int(connected_components(adjacency, directed=False)[0])


def referral_pagerank(graph: TieGraph) -> np.ndarray:
    """PageRank over every tie with credit flowing from invitee to inviter
    (the edges reversed), as the analysis computes it."""
    child = np.flatnonzero(graph.parent >= 0)
    return pagerank(
        graph.n,
        np.concatenate([child, graph.tie_dst]),
        np.concatenate([graph.parent[child], graph.tie_src]),
    )


def searchlight_kernels(
    graph: TieGraph,
    low: np.ndarray,
    high: np.ndarray,
    *,
    seed: int,
    exact_limit: int = EXACT_LIMIT,
    samples: int = SAMPLES,
    stage: Stage | None = None,
) -> GraphKernels:
    """The kernels in Python, each stage announced through `stage`."""
    stage = stage or (lambda name: None)
    n = graph.n
    stage("pagerank")
    rank = referral_pagerank(graph)
    stage("core")
    ties = undirected_graph(n, low, high)
    core = core_numbers(ties)
    stage("communities")
    label, modularity = communities(ties, seed=seed)
    stage("betweenness")
    between = betweenness(ties, exact_limit=exact_limit, samples=samples, seed=seed)
    stage("components")
    return GraphKernels(rank, core, label, modularity, between, component_count(n, low, high))
