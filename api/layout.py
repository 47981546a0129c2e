"""Where a view's users are drawn: Fruchterman-Reingold from a circle with
igraph's generator seeded, so the same view gets the same picture, scaled
to pixels. Light to import: the server's layout process runs it."""

from __future__ import annotations

import igraph
import numpy as np

from graph.analysis.communities import seeded_igraph

LAYOUT_ITERATIONS = 300
LAYOUT_SCALE = 40.0  # pixels between neighbours, roughly


def lay_out(n: int, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Fruchterman-Reingold with a fixed number of iterations, scaled to pixels."""
    if n == 0:
        return np.zeros((0, 2))
    graph = igraph.Graph(n=n, edges=list(zip(src.tolist(), dst.tolist(), strict=True)))
    # From a circle, not a random start, and igraph's generator (which the
    # layout draws from) seeded: the same view gets the same picture.
    start = graph.layout_circle().coords
    with seeded_igraph(0):
        layout = graph.layout_fruchterman_reingold(niter=LAYOUT_ITERATIONS, seed=start)
    coords = np.array(layout.coords)
    if n > 1:
        coords -= coords.mean(axis=0)
        spread = np.sqrt(n) * LAYOUT_SCALE
        coords *= spread / max(np.abs(coords).max(), 1e-9)
    return coords
