"""The KOC score: 0-100, a weighted sum of percentile ranks, with its parts.

For each component signal s with weight w (weights normalised to sum to 1),
a user's percentile p_s is the share of other users with a strictly smaller
value (so users at the minimum, such as everyone who never invited, get 0,
and the single best user gets 1). Then

    koc_score = 100 * Σ_s w_s * p_s,   contribution_s = 100 * w_s * p_s

so the contributions add up to the score and explain it. The default
weights, and why, are in docs/koc-score.md.

Example::

    >>> import numpy as np
    >>> score, parts = koc_score({"reach": np.array([0, 5, 9])}, {"reach": 1.0})
    >>> score.tolist(), parts["reach"].tolist()
    ([0.0, 50.0, 100.0], [0.0, 50.0, 100.0])
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
        name: 100.0 * (w / total) * percentile(signals[name])
        for name, w in weights.items()
        if w > 0
    }
    n = len(next(iter(signals.values()))) if signals else 0
    score = np.zeros(n)
    for part in parts.values():
        score += part
    return score, parts


def reason_in_words(row: dict) -> str:
    """A user's two largest score contributions (its `score_*` columns), in
    words: the KOC score's top reason.

    >>> reason_in_words({"score_reach": 20.0, "score_gmv": 3.25, "score_bridging": 0.0})
    'reach +20.0, gmv +3.2'
    """
    parts = sorted(
        (
            (-(value or 0.0), name.removeprefix("score_"))
            for name, value in row.items()
            if name.startswith("score_")
        ),
    )[:2]
    return ", ".join(f"{name} +{-negative:.1f}" for negative, name in parts if negative < 0)


def top_reasons(users: pa.Table) -> list[str]:
    """`reason_in_words` for every user of a snapshot's users table."""
    parts = [c for c in users.column_names if c.startswith("score_")]
    return [reason_in_words(row) for row in users.select(parts).to_pylist()]
