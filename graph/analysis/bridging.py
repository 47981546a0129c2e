"""Bridging: how much a user connects communities.

- bridging: the number of distinct communities, other than the user's own,
  among the user's neighbours in the undirected tie graph;
- betweenness: the number of shortest paths between other users that pass
  through the user (undirected, unnormalised, as networkx
  `betweenness_centrality(normalized=False)`), exact up to `exact_limit`
  users and estimated from `samples` seeded random sources above it.

Example::

    >>> import numpy as np

    >>> low, high = np.array([0, 1, 2]), np.array([1, 2, 3])  # a path 0-1-2-3
    >>> bridging_counts(4, low, high, np.array([0, 0, 1, 1])).tolist()
    [0, 1, 1, 0]
    >>> import igraph
    >>> betweenness(igraph.Graph(n=4, edges=[(0, 1), (1, 2), (2, 3)])).tolist()
    [0.0, 2.0, 2.0, 0.0]
"""

from __future__ import annotations

import igraph
import numpy as np

from graph.analysis.tiegraph import distinct

EXACT_LIMIT = 20_000
# Each sampled source costs one breadth-first search over the whole graph
# (about 0.25 s at 1M users): a handful keeps a 1M-user analysis under 10 s,
# at the cost of a coarse estimate that only picks out the strongest bridges.
SAMPLES = 4


def bridging_counts(n: int, low: np.ndarray, high: np.ndarray, label: np.ndarray) -> np.ndarray:
    user = np.concatenate([low, high])
    other = np.concatenate([high, low])
    across = label[user] != label[other]
    k = int(label.max()) + 1 if n else 1
    pairs = distinct(user[across] * k + label[other[across]])
    return np.bincount(pairs // k, minlength=n).astype(np.int64)


def betweenness(
    graph: igraph.Graph,
    *,
    exact_limit: int = EXACT_LIMIT,
    samples: int = SAMPLES,
    seed: int = 0,
) -> np.ndarray:
    n = graph.vcount()
    if n == 0:
        return np.zeros(0)
    if n <= exact_limit:
        return np.asarray(graph.betweenness(directed=False), dtype=np.float64)
    # Brandes from a seeded sample of sources, scaled to all sources.
    samples = min(samples, n)
    sources = np.sort(np.random.default_rng(seed).choice(n, size=samples, replace=False))
    partial = graph.betweenness(directed=False, sources=sources.tolist())
    return np.asarray(partial, dtype=np.float64) * (n / samples)
