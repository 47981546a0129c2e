"""k-core numbers on the undirected tie graph.

The core number of a user is the largest k such that the user belongs to a
subgraph in which every user has at least k ties (networkx `core_number`).

Example::

    >>> import igraph
    >>> core_numbers(igraph.Graph(n=4, edges=[(0, 1), (0, 2), (1, 2), (2, 3)])).tolist()
    [2, 2, 2, 1]
"""

from __future__ import annotations

import igraph
import numpy as np


def core_numbers(graph: igraph.Graph) -> np.ndarray:
    """Core numbers of an undirected simple graph."""
    return np.asarray(graph.coreness(), dtype=np.int64)
