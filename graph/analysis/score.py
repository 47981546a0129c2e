"""The weighted KOC score: 0-100, a weighted sum of two per-signal scales,
with its parts; and the top parts of either score (the learned one is
graph.analysis.learned), which api.reasons puts in words.

For each component signal s with weight w (weights normalised to sum to 1),
two scales in [0, 1]:

- the percentile p_s: the share of other users with a strictly smaller
  value (users at the minimum, such as everyone who never invited, get 0;
  the single best user gets 1). It makes counts, money and probabilities
  comparable and keeps one outlier from flattening the rest, but at the top
  it saturates: among a million users the best hundred all sit near 1;
- the magnitude m_s = log(1 + x/q) / log(1 + max/q), where x is the value
  above the minimum (so users at the minimum get 0 here too: for counts the
  minimum is 0, for PageRank it is the share everyone gets) and q the median
  of the positive x: how far the user's value goes towards the best user's,
  on a log scale (so twice the invites is a fixed step, whatever the unit).
  It keeps separating the top, where percentiles cannot.

Then

    koc_score = 100 * Σ_s w_s * (p_s + m_s) / 2,   contribution_s = 100 * w_s * (p_s + m_s) / 2

so the contributions add up to the score and explain it, and only a user who
is the best at every signal scores 100. The default weights, and why, are in
docs/koc-score.md.

Example::

    >>> import numpy as np
    >>> score, parts = koc_score({"reach": np.array([0, 1, 3, 9])}, {"reach": 1.0})
    >>> score.round(1).tolist()
    [0.0, 27.0, 58.3, 100.0]
    >>> bool(np.allclose(score, parts["reach"]))
    True
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

DEFAULT_WEIGHTS: dict[str, float] = {
    "effective_invites": 0.25,
    "reach": 0.20,
    "gmv": 0.15,
    "pagerank": 0.15,
    "recent_invites": 0.15,
    "bridging": 0.10,
}


def percentile(values: np.ndarray) -> np.ndarray:
    """Share of the other users with a strictly smaller value, in [0, 1]."""
    n = len(values)
    if n <= 1:
        return np.zeros(n)
    smaller = np.searchsorted(np.sort(values, kind="stable"), values, side="left")
    return smaller / (n - 1)


def magnitude(values: np.ndarray) -> np.ndarray:
    """log(1 + x/q) / log(1 + max/q) in [0, 1] for x the value above the
    minimum and q the median positive x (module docstring); all 0 when every
    value is the same.

    >>> magnitude(np.array([0.0, 1.0, 3.0, 9.0])).round(3).tolist()
    [0.0, 0.208, 0.5, 1.0]
    >>> magnitude(np.array([2.0, 3.0, 5.0, 11.0])).round(3).tolist()  # the same, shifted
    [0.0, 0.208, 0.5, 1.0]
    """
    x = np.asarray(values, float)
    if not len(x):
        return np.zeros(0)
    x = x - x.min()
    positive = x[x > 0]
    if not len(positive):
        return np.zeros(len(x))
    q = float(np.median(positive))
    return np.log1p(x / q) / np.log1p(positive.max() / q)


def koc_score(
    signals: dict[str, np.ndarray], weights: dict[str, float]
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    unknown = set(weights) - set(signals)
    if unknown:
        raise ValueError(f"score weights for unknown signals: {', '.join(sorted(unknown))}")
    total = sum(w for w in weights.values() if w > 0)
    if total <= 0:
        raise ValueError("score weights must have a positive sum")
    parts = {
        name: 50.0 * (w / total) * (percentile(signals[name]) + magnitude(signals[name]))
        for name, w in weights.items()
        if w > 0
    }
    n = len(next(iter(signals.values()))) if signals else 0
    score = np.zeros(n)
    for part in parts.values():
        score += part
    return score, parts


def top_parts(row: dict) -> list[tuple[str, float]]:
    """A user's two largest positive score contributions (its `score_*`
    columns) as (part, points), largest first, ties by name: the KOC score's
    top reason (in words: `api.reasons.score_reason`). The learned score's
    `score_baseline` (the same for everyone) and parts of 0 or less say
    nothing about why this user ranks where it does, so they are left out.

    The weighted score:

    >>> top_parts({"score_reach": 20.0, "score_gmv": 3.25, "score_bridging": 0.0})
    [('reach', 20.0), ('gmv', 3.25)]

    The learned score, whose parts may be negative:

    >>> top_parts({"score_baseline": 8.4, "score_pagerank": 20.1,
    ...            "score_days_since_referred": -2.5, "score_reach": 13.7,
    ...            "score_tier3": 1.2})
    [('pagerank', 20.1), ('reach', 13.7)]
    >>> top_parts({"score_baseline": 8.4, "score_reach": -1.0})
    []
    """
    parts = sorted(
        (-value, name.removeprefix("score_"))
        for name, value in row.items()
        if name.startswith("score_") and name != "score_baseline" and (value or 0.0) > 0
    )[:2]
    return [(name, -negative) for negative, name in parts]


def top_parts_of(users: pa.Table) -> list[list[tuple[str, float]]]:
    """`top_parts` for every user of a snapshot's users table."""
    parts = [c for c in users.column_names if c.startswith("score_") and c != "score_baseline"]
    return [top_parts(row) for row in users.select(parts).to_pylist()]


def score_info(summary: dict) -> dict:
    """What a snapshot's summary says of its score (`kind` learned or
    weighted, notes, and for learned its horizon and training); snapshots
    saved before the learned score existed hold the weighted one.

    >>> score_info({})
    {'kind': 'weighted', 'notes': []}
    """
    return {"kind": "weighted", "notes": [], **(summary.get("score") or {})}
