"""Communities: modularity maximisation (Leiden, and Louvain on small graphs)
on the undirected tie graph.

Users are grouped to maximise modularity Q = Σ_c (e_c / m - (d_c / 2m)^2),
where e_c is the number of ties inside community c, d_c the sum of its
degrees and m the number of ties. The result is seeded, so the same graph
and seed give the same communities; ids are renumbered by size (0 is the
largest), ties broken by the smallest member.

Example::

    >>> import igraph
    >>> triangles = [(0, 1), (0, 2), (1, 2), (3, 4), (3, 5), (4, 5), (2, 3)]
    >>> labels, q = communities(igraph.Graph(n=6, edges=triangles), seed=1)
    >>> labels.tolist(), round(q, 3)
    ([0, 0, 0, 1, 1, 1], 0.357)
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import igraph
import numpy as np

# How hard to search, by size. Small graphs are cheap: Leiden runs to
# convergence and Louvain beside it from a few seeded starts, and the most
# modular partition wins (on tiny graphs any single run can stop in a poor
# local optimum). Up to TWO_PASSES_UP_TO users Leiden makes two passes from
# RESTARTS seeded starts and the most modular wins; above it one pass from
# one start: on a generated 1.2M-user campaign one pass reaches modularity
# 0.98287 in 2.7 s, two 0.98299 in 4-7 s, convergence 0.9832 in 130 s.
THOROUGH_UP_TO = 20_000
RESTARTS = 4  # seeded Louvain and Leiden restarts on small graphs
# Up to this many users the exact optimum (igraph's integer program, ~0.05 s
# at 20 users, ~18 s at 40) joins the candidates: on toy graphs every
# heuristic above can stop in the same poor local optimum.
EXACT_UP_TO = 20
TWO_PASSES_UP_TO = 200_000
_IGRAPH_RANDOM = threading.Lock()


@contextmanager
def seeded_igraph(seed: int) -> Iterator[None]:
    """igraph's process-wide generator seeded for the block, under the lock
    `communities` holds too, so no other thread draws from it meanwhile;
    igraph gets its default (the random module) back afterwards."""
    with _IGRAPH_RANDOM:
        igraph.set_random_number_generator(random.Random(seed))
        try:
            yield
        finally:
            igraph.set_random_number_generator(random)


def communities(graph: igraph.Graph, seed: int = 0) -> tuple[np.ndarray, float]:
    """Community label per user, and the partition's modularity."""
    n = graph.vcount()
    if n == 0:
        return np.zeros(0, np.int64), 0.0
    # igraph draws from one process-wide generator: the seeded section holds
    # a lock, so analyses in the API's threads cannot interleave their draws,
    # and hands igraph back its default (the random module) afterwards.
    with _IGRAPH_RANDOM:
        try:
            partition = _best_partition(graph, n, seed)
        finally:
            igraph.set_random_number_generator(random)
    labels = renumbered(np.asarray(partition.membership, dtype=np.int64))
    quality = graph.modularity(labels.tolist()) if graph.ecount() else 0.0
    return labels, float(quality)


def _best_partition(graph: igraph.Graph, n: int, seed: int) -> igraph.VertexClustering:
    igraph.set_random_number_generator(random.Random(seed))
    if n <= THOROUGH_UP_TO:
        candidates = []
        for restart in range(RESTARTS):
            # Louvain's and Leiden's results both hang on the node order
            # they draw: each restart draws a fresh one for both.
            igraph.set_random_number_generator(random.Random(seed * RESTARTS + restart))
            candidates.append(graph.community_multilevel())
            candidates.append(
                graph.community_leiden(objective_function="modularity", n_iterations=-1)
            )
        if n <= EXACT_UP_TO and graph.ecount():
            candidates.append(graph.community_optimal_modularity())
        # First of the best, so ties resolve the same way every run.
        return max(candidates, key=lambda p: graph.modularity(p.membership))
    if n <= TWO_PASSES_UP_TO:
        # Still small enough to try several seeds (about 0.6 s each at 150k
        # users) and keep the most modular: the default is not an unlucky draw.
        candidates = []
        for restart in range(RESTARTS):
            igraph.set_random_number_generator(random.Random(seed * RESTARTS + restart))
            candidates.append(
                graph.community_leiden(objective_function="modularity", n_iterations=2)
            )
        return max(candidates, key=lambda p: graph.modularity(p.membership))
    return graph.community_leiden(objective_function="modularity", n_iterations=1)


def renumbered(labels: np.ndarray) -> np.ndarray:
    """Community ids by size, 0 the largest, ties broken by the smallest
    member: the same partition always gets the same ids.

        >>> renumbered(np.array([7, 3, 3, 9])).tolist()
        [1, 0, 0, 2]
    """
    n = len(labels)
    if n == 0:
        return labels.astype(np.int64)
    _, labels = np.unique(labels, return_inverse=True)
    sizes = np.bincount(labels)
    first = np.full(len(sizes), n, np.int64)
    np.minimum.at(first, labels, np.arange(n))
    order = np.lexsort((first, -sizes))
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return rank[labels].astype(np.int64)


def modularity(low: np.ndarray, high: np.ndarray, labels: np.ndarray) -> float:
    """Modularity Q of a partition of the undirected ties (low, high), each
    tie once, as in the module docstring (igraph's `modularity`).

        >>> ties = np.array([0, 0, 1, 3, 3, 4, 2]), np.array([1, 2, 2, 4, 5, 5, 3])
        >>> round(modularity(*ties, np.array([0, 0, 0, 1, 1, 1])), 3)
        0.357
    """
    m = len(low)
    if m == 0:
        return 0.0
    k = int(labels.max()) + 1
    inside = labels[low] == labels[high]
    internal = np.bincount(labels[low[inside]], minlength=k)
    degree = np.bincount(labels[low], minlength=k) + np.bincount(labels[high], minlength=k)
    return float((internal / m - (degree / (2.0 * m)) ** 2).sum())
