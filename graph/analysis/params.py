"""The parameters of an analysis (`AnalysisParams`), checked when made, and
the error that names a parameter it cannot use (`ParamError`)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from datetime import datetime

from graph.analysis.bridging import EXACT_LIMIT, SAMPLES
from graph.analysis.fraud import FraudRules
from graph.analysis.kernels import ENGINES
from graph.analysis.score import DEFAULT_WEIGHTS
from graph.analysis.snapshot_tables import SCORE_KINDS, SCORE_SIGNALS
from graph.store import Window
from loaders.errors import SearchlightError


class ParamError(SearchlightError, ValueError):
    """An analysis parameter with a value we cannot use; `field` names it.
    The message is a template filled from `params`, as every
    `SearchlightError`'s."""

    def __init__(self, message: str, /, field: str = "", **params: object) -> None:
        super().__init__(message, **params)
        self.field = field


@dataclass(frozen=True)
class AnalysisParams:
    since: datetime | None = None
    until: datetime | None = None
    campaigns: tuple[str, ...] = ()
    half_life_days: float = 30.0
    weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    seed: int = 0
    betweenness_exact_limit: int = EXACT_LIMIT
    betweenness_samples: int = SAMPLES
    fraud: FraudRules = field(default_factory=FraudRules)
    engine: str = "searchlight"  # or "gds": the graph kernels inside Neo4j
    score: str = "learned"  # or "weighted" (graph.analysis.score)
    horizon_days: float = 30.0  # the learned score's horizon

    def __post_init__(self) -> None:
        if self.score not in SCORE_KINDS:
            raise ParamError(
                "unknown score {score!r}; choose one of {choices}",
                field="score",
                score=self.score,
                choices=", ".join(SCORE_KINDS),
            )
        if not (math.isfinite(self.horizon_days) and 1 <= self.horizon_days <= 3650):
            raise ParamError("horizon_days must be between 1 and 3650", field="horizon_days")
        if self.engine not in ENGINES:
            raise ParamError(
                "unknown engine {engine!r}; choose one of {choices}",
                field="engine",
                engine=self.engine,
                choices=", ".join(ENGINES),
            )
        if self.half_life_days <= 0:
            raise ParamError("half_life_days must be positive", field="half_life_days")
        unknown = set(self.weights) - set(SCORE_SIGNALS)
        if unknown:
            raise ParamError(
                "score weights for unknown signals: {unknown}; known: {known}",
                field="weights",
                unknown=", ".join(sorted(unknown)),
                known=", ".join(SCORE_SIGNALS),
            )
        bad = {k: w for k, w in self.weights.items() if not (math.isfinite(w) and w >= 0)}
        if bad:
            raise ParamError(
                "score weights must be finite and 0 or more: {weights}",
                field="weights",
                weights=", ".join(f"{k}={w}" for k, w in sorted(bad.items())),
            )
        if not 0 < sum(self.weights.values()) < math.inf:
            raise ParamError("score weights must have a positive, finite sum", field="weights")
        if self.since and self.until and self.since >= self.until:
            raise ParamError("since must be before until", field="since")

    @property
    def window(self) -> Window:
        return Window(self.since, self.until, tuple(self.campaigns))

    def to_json(self) -> dict:
        out = asdict(self)
        for key in ("since", "until"):
            out[key] = out[key].isoformat() if out[key] else None
        out["campaigns"] = list(self.campaigns)
        return out

    @classmethod
    def from_json(cls, data: dict) -> AnalysisParams:
        data = dict(data)
        for key in ("since", "until"):
            data[key] = datetime.fromisoformat(data[key]) if data.get(key) else None
        data["campaigns"] = tuple(data.get("campaigns") or ())
        data["fraud"] = FraudRules(**data["fraud"]) if data.get("fraud") else FraudRules()
        return cls(**data)
