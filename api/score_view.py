"""A user's KOC score explained, for the user page (`GET /v1/users/{id}`):
which score the snapshot holds and the parts that add up to it.

- weighted: one part per signal, with its weight; the parts add up to the score;
- learned: one part per feature (`LEARNED_FEATURES`), no weight, its points
  the feature's tree-SHAP contribution (negative when it pulls the score
  down); `baseline` (the same for every user) plus the parts add up to the
  score (docs/koc-score.md).

Parts are listed largest first, ties by name; points are rounded to 3 decimals.
Each part's `label` is its name in the reader's language (api.reasons).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from api.models import ScoreKind, ScorePart
from api.reasons import part_label
from graph.analysis.learned_features import LEARNED_FEATURES
from graph.analysis.score import score_info
from graph.analysis.snapshot import AnalysisParams
from graph.analysis.snapshot_tables import SCORE_SIGNALS
from graph.store import SavedSnapshot


@dataclass
class ScoreExplanation:
    kind: ScoreKind | None = None  # None: no analysis yet
    horizon_days: float | None = None  # learned only
    baseline: float | None = None  # learned only, for a user the snapshot has
    parts: list[ScorePart] = field(default_factory=list)


def explain_score(snapshot: SavedSnapshot | None, row: dict | None) -> ScoreExplanation:
    """The explanation of `row` (the user's row of `snapshot`'s users; None
    when the snapshot has not seen the user)."""
    if snapshot is None:
        return ScoreExplanation()
    info = score_info(snapshot.summary)
    kind = info["kind"]
    out = ScoreExplanation(kind, info.get("horizon_days") if kind == "learned" else None)
    if row is None:
        return out
    parts: list[tuple[str, float | None]]
    if kind == "learned":
        out.baseline = round(row.get("score_baseline") or 0.0, 3)
        parts = [(name, None) for name in LEARNED_FEATURES]
    else:
        weights = AnalysisParams.from_json(snapshot.params).weights
        parts = [(name, weights.get(name, 0.0)) for name in SCORE_SIGNALS]
    out.parts = sorted(
        (
            ScorePart(
                signal=name,
                label=part_label(name),
                weight=weight,
                points=round(row.get(f"score_{name}") or 0.0, 3),
            )
            for name, weight in parts
        ),
        key=lambda p: (-p.points, p.signal),
    )
    return out
