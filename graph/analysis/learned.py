"""The learned KOC score: who will bring the most next, learned from the
store's own history (docs/koc-score.md, "Learned").

With `end` the analysis window's end and H the horizon:

1. features of every user as of the cutoff `end − H`, from the window that
   ends there (`graph.analysis.learned_features.user_features`);
2. labels from what happened in [end − H, end): the effective referrals in
   each user's tree and the GMV they brought (`horizon_labels`);
3. a gradient-boosted regression (LightGBM) fitted on them: the split in
   time is the only split, so no label from after a feature's moment ever
   reaches it;
4. every user scored with the same features as of `end`, and the
   prediction's tree SHAP contributions (`pred_contrib`) kept beside it;
5. a second question answered the same way: the sharing score,
   a model of each user's own effective referrals over the horizon (the
   label with no tree). The KOC list takes part of its picks by it
   (`graph.analysis.kocs_learned`): the users who will invite the most
   themselves are not always the roots of the trees that will grow most.

The score is the prediction mapped linearly onto 0–100 (the lowest user 0,
the highest 100; the sharing score likewise), so the contributions map
with it and add up to the score exactly: score = baseline + Σ_feature
part, where the baseline (the model's expected value, mapped) is the same
for everyone and a part may be negative.

With less than two horizons of history (the cutoff's window must itself
span a horizon) there is nothing fair to learn from, and `fit_learned`
says so instead of returning a model; the analysis then keeps the weighted
score and notes why.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from graph.analysis.learned_features import (
    LEARNED_FEATURES,
    SHARING_FEATURES,
    horizon_labels,
    user_features,
)
from graph.analysis.recency import US_PER_DAY
from graph.analysis.referral import Subtrees
from graph.analysis.tiegraph import TieGraph, distinct
from graph.store import GraphTables
from loaders.errors import Note

# Training rows: users with any referral history or a positive label are all
# kept; the rest are sampled down to this many rows in all, weighted back up.
MAX_TRAINING_ROWS = 100_000
# A small model: tree SHAP costs grow with leaves × depth² per row.
MODEL_PARAMS = {
    "objective": "regression",
    "learning_rate": 0.1,
    "num_leaves": 8,
    "max_depth": 4,
    "max_bin": 63,
    "min_data_in_leaf": 40,
    "lambda_l2": 1.0,
    "deterministic": True,
    "force_row_wise": True,
    "verbose": -1,
}
ROUNDS = 40
# The least history that can be learned from, in horizons.
MIN_HISTORY_HORIZONS = 2.0


class NotLearnable(ValueError):
    """Too little history, or a horizon with nothing in it, to learn from."""


@dataclass
class LearnedScore:
    score: np.ndarray  # 0..100
    parts: dict[str, np.ndarray]  # per feature, plus "baseline"; they add up to score
    info: dict = field(default_factory=dict)
    sharing: np.ndarray | None = None  # 0..100: the users' own referrals next (module docstring)


def learning_cutoff(
    tables: GraphTables, since: datetime | None, until: datetime | None, horizon_days: float
) -> tuple[datetime | None, str]:
    """The cutoff to learn at (the window's end minus one horizon), or None
    and the reason when the window holds less than two horizons of referrals."""
    end = until or tables.last_event_at
    at = tables.referred["at"]
    first = pc.min(at).as_py() if len(at) else None
    if end is None or first is None:
        return None, Note("no referrals to learn from")
    start = max(first, since) if since else first
    horizon = timedelta(days=horizon_days)
    if end - start < MIN_HISTORY_HORIZONS * horizon:
        days = (end - start).total_seconds() / 86400
        return None, Note(
            "only {days:.0f} days of referrals, under two horizons of {horizon_days:g} "
            "days: the weighted score is used",
            days=days,
            horizon_days=horizon_days,
        )
    return end - horizon, ""


def learn_and_score(
    history: GraphTables,
    now: TieGraph,
    known: dict[str, np.ndarray],
    effective: np.ndarray,
    cutoff: datetime,
    end_us: int,
    *,
    half_life_days: float,
    seed: int = 0,
) -> LearnedScore:
    """The whole learned score (module docstring): `history` is the window
    ending at `cutoff`, `now` the analysed graph with its computed metrics
    `known`, and `effective` marks its users that count in labels."""
    cutoff_us = int(cutoff.timestamp() * 1_000_000)
    # The cutoff's graph and features on a second core (Arrow and numpy let
    # go of the GIL) while this one labels and describes today's users.
    with ThreadPoolExecutor(1, thread_name_prefix="learned-cutoff") as pool:
        at_cutoff_side = pool.submit(_at_cutoff, history, now.ids, cutoff_us, half_life_days)
        trees = Subtrees(now.parent)
        labels, held = horizon_labels(now, cutoff_us, effective, trees=trees)
        own, _ = horizon_labels(now, cutoff_us, effective, decay=0.0, trees=trees)
        features_now = user_features(now, end_us, half_life_days, known, trees)
        before, at_cutoff, features_before = at_cutoff_side.result()
    train_labels = labels[at_cutoff]
    booster = fit_learned(features_before, train_labels, seed=seed)
    result = score_with(booster, features_now)
    try:
        sharing = fit_learned(features_before, own[at_cutoff], seed=seed, names=SHARING_FEATURES)
        result.sharing = _zero_to_hundred(predict_distinct(sharing, features_now, SHARING_FEATURES))
    except NotLearnable:
        # Every new referral came through users who joined in the horizon:
        # the KOC score still holds; the list then picks by it alone.
        result.sharing = np.zeros(now.n)
    gain = booster.feature_importance("gain")
    top = np.argsort(-gain)[:5]
    result.info.update(
        kind="learned",
        cutoff=cutoff.isoformat(),
        horizon_days=(end_us - cutoff_us) / US_PER_DAY,
        trained_users=int(before.n),
        users_with_label=int((train_labels > 0).sum()),
        new_referrals_in_horizon=int(held["new_referrals"]),
        top_features=[LEARNED_FEATURES[j] for j in top if gain[j] > 0],
    )
    return result


def _at_cutoff(
    history: GraphTables, now_ids: pa.Array, cutoff_us: int, half_life_days: float
) -> tuple[TieGraph, np.ndarray, dict[str, np.ndarray]]:
    """The cutoff's graph, where each of its users is in today's, and their
    features as of the cutoff."""
    before = TieGraph.from_tables(history)
    # A user seen before the cutoff is seen before the end: every one is found.
    where = pc.index_in(before.ids, value_set=now_ids).to_numpy(zero_copy_only=False)
    return before, np.asarray(where, np.int64), user_features(before, cutoff_us, half_life_days)


def _zero_to_hundred(values: np.ndarray) -> np.ndarray:
    """`values` mapped linearly onto 0–100 (all 0 when they are all equal)."""
    if not len(values):
        return values
    low, high = float(values.min()), float(values.max())
    return (values - low) * (100.0 / (high - low)) if high > low else np.zeros(len(values))


def matrix(
    features: dict[str, np.ndarray],
    rows: np.ndarray | None = None,
    names: tuple[str, ...] = LEARNED_FEATURES,
) -> np.ndarray:
    """The features of `rows` (all users by default) as a rows × features
    matrix. Only what LightGBM reads is copied: a million-row matrix costs
    most of a second to fill."""
    columns = [np.asarray(features[name], np.float64) for name in names]
    if rows is not None:
        columns = [column[rows] for column in columns]
    return np.stack(columns).T


def fit_learned(
    features: dict[str, np.ndarray],
    labels: np.ndarray,
    *,
    seed: int = 0,
    threads: int = 0,
    names: tuple[str, ...] = LEARNED_FEATURES,
):
    """A LightGBM booster fitted on the cutoff's features `names` and the
    horizon's labels (one row per user at the cutoff). Raises NotLearnable
    when no label is positive."""
    import lightgbm as lgb  # imported here: only the learned score needs it

    if not (labels > 0).any():
        raise NotLearnable(Note("nobody brought an effective referral in the last horizon"))
    keep, weight = _training_rows(features["invites"], labels, seed)
    params = {**MODEL_PARAMS, "seed": seed, "num_threads": threads}
    x = matrix(features, keep, names)
    data = lgb.Dataset(x, labels[keep], weight=weight, feature_name=list(names))
    return lgb.train(params, data, num_boost_round=ROUNDS)


def _training_rows(
    invites: np.ndarray, labels: np.ndarray, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """At most about MAX_TRAINING_ROWS rows to train on, and their weights
    (the inverse of each row's sampling rate), seeded."""
    active = (invites > 0) | (labels > 0)
    rng = np.random.default_rng(seed)
    # Every user with a label, then the other active ones, then quiet ones
    # fill the rows; each group is sampled down to what is left and weighted
    # back up.
    groups = [labels > 0, active & ~(labels > 0), ~active]
    room, rows, weights = MAX_TRAINING_ROWS, [], []
    for members in groups:
        found = np.flatnonzero(members)
        take = min(len(found), max(room, 1000))
        chosen = np.sort(rng.choice(found, take, replace=False)) if take < len(found) else found
        rows.append(chosen)
        weights.append(np.full(len(chosen), len(found) / max(take, 1)))
        room -= take
    rows, weight = np.concatenate(rows), np.concatenate(weights)
    order = np.argsort(rows, kind="stable")
    return rows[order], weight[order]


def score_with(booster, features: dict[str, np.ndarray]) -> LearnedScore:
    """Every user's learned score on 0–100 and its parts (module docstring)."""
    explained, row_of = _contributions(booster, features)
    raw = explained.sum(axis=1)
    low, high = (float(raw.min()), float(raw.max())) if len(raw) else (0.0, 0.0)
    scale = 100.0 / (high - low) if high > low else 0.0
    parts = {name: (explained[:, j] * scale)[row_of] for j, name in enumerate(LEARNED_FEATURES)}
    baseline = (explained[0, -1] - low) * scale if len(raw) else 0.0
    parts["baseline"] = np.full(len(row_of), baseline)
    score = ((raw - low) * scale)[row_of]
    return LearnedScore(score, parts, {"prediction_low": low, "prediction_high": high})


def _contributions(booster, features: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Tree SHAP (`pred_contrib`, the last column the expected value) for
    each distinct pattern of rows (`_distinct_rows`), and each row's pattern."""
    if not len(features[LEARNED_FEATURES[0]]):
        return np.zeros((0, len(LEARNED_FEATURES) + 1)), np.zeros(0, np.int64)
    rows, pattern = _distinct_rows(booster, features, LEARNED_FEATURES)
    return booster.predict(matrix(features, rows), pred_contrib=True), pattern


def predict_distinct(
    booster, features: dict[str, np.ndarray], names: tuple[str, ...]
) -> np.ndarray:
    """`booster`'s prediction for every row, computed once per distinct pattern."""
    if not len(features[names[0]]):
        return np.zeros(0)
    rows, pattern = _distinct_rows(booster, features, names)
    return booster.predict(matrix(features, rows, names))[pattern]


def _distinct_rows(
    booster, features: dict[str, np.ndarray], names: tuple[str, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """One row of each distinct pattern, and each row's pattern. Rows on the
    same side of every split threshold the model uses get the same
    prediction and contributions, so each pattern is computed once."""
    key = _pattern_keys(booster, features, names)
    order = np.argsort(key, kind="stable")
    ordered = key[order]
    starts = np.concatenate([[True], ordered[1:] != ordered[:-1]])
    pattern = np.empty(len(key), np.int64)
    pattern[order] = np.cumsum(starts) - 1
    return order[starts], pattern


def _pattern_keys(booster, features: dict[str, np.ndarray], names: tuple[str, ...]) -> np.ndarray:
    """Per row, one integer for the side of every threshold the model splits
    on: per feature, how many of its thresholds lie below the value (NaN a
    code of its own), the features' codes combined in mixed radix."""
    thresholds: dict[int, list[float]] = {}

    def walk(node: dict) -> None:
        if "split_feature" in node:
            thresholds.setdefault(node["split_feature"], []).append(float(node["threshold"]))
            walk(node["left_child"])
            walk(node["right_child"])

    for tree in booster.dump_model()["tree_info"]:
        walk(tree["tree_structure"])
    key, span = np.zeros(len(features[names[0]]), np.int64), 1
    for j, values in sorted(thresholds.items()):
        cuts = np.unique(np.asarray(values))
        column = np.asarray(features[names[j]], np.float64)
        code = np.searchsorted(cuts, column, side="left")
        code[np.isnan(column)] = len(cuts) + 1
        size = len(cuts) + 2
        if span * size >= 1 << 62:
            key = _dense(key)  # renumbered, so the radix has room again
            span = int(key.max()) + 1
        key = key * size + code
        span *= size
    return key


def _dense(key: np.ndarray) -> np.ndarray:
    """The keys renumbered 0..distinct-1 in sorted order, so they stay small."""
    return np.searchsorted(distinct(key), key)
