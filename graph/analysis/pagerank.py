"""PageRank on the tie graph with credit flowing to inviters (DESIGN.md).

The graph is REFERRED ∪ INVITED with every edge reversed (invitee -> inviter),
each distinct pair once. With damping d, n users and out-degrees k:

    x' = d * (A^T (x / k) + (sum of x over users with k = 0) / n) + (1 - d) / n

iterated from x = 1/n until the L1 change is below `tol`; the result sums to 1
(networkx's `pagerank` with uniform teleport and dangling distribution).

Example::

    >>> import numpy as np
    >>> r = pagerank(3, np.array([1, 2]), np.array([0, 0]))  # 1 and 2 credit 0
    >>> bool(r[0] > r[1] == r[2]), round(float(r.sum()), 9)
    (True, 1.0)
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from graph.analysis.tiegraph import distinct


def pagerank(
    n: int,
    src: np.ndarray,
    dst: np.ndarray,
    damping: float = 0.85,
    tol: float = 1e-12,
    max_iter: int = 1000,
) -> np.ndarray:
    """PageRank of a directed graph given as edges src -> dst (duplicates ignored)."""
    if n == 0:
        return np.zeros(0)
    pairs = distinct(src.astype(np.int64) * n + dst)
    src, dst = pairs // n, pairs % n
    out_degree = np.bincount(src, minlength=n).astype(np.float64)
    # Column-stochastic transition: x_new[dst] += x[src] / k[src].
    weights = 1.0 / out_degree[src]
    transition = sp.csr_matrix((weights, (dst, src)), shape=(n, n))
    dangling = out_degree == 0
    x = np.full(n, 1.0 / n)
    for _ in range(max_iter):
        new = damping * (transition @ x + x[dangling].sum() / n) + (1.0 - damping) / n
        change = np.abs(new - x).sum()
        x = new
        if change < n * tol:
            break
    return x / x.sum()
