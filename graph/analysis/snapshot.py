"""`analyze(store, params) -> Snapshot`: every metric for every user, and the
communities, for one time window and campaign filter (DESIGN.md, Metrics and
Analysis snapshot).

The snapshot is deterministic: the same events and params give the same
tables (only its id and computed_at differ).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from graph.analysis.bridging import bridging_counts
from graph.analysis.fraud import FraudRules, Screening, screen_fraud
from graph.analysis.kernels import GraphKernels, searchlight_kernels
from graph.analysis.learned import NotLearnable, learn_and_score, learning_cutoff
from graph.analysis.params import AnalysisParams, ParamError  # noqa: F401 (re-exported)
from graph.analysis.recency import last_referral_at, recent_invites
from graph.analysis.referral import referral_metrics
from graph.analysis.score import koc_score
from graph.analysis.snapshot_tables import (
    SCORE_SIGNALS,
    communities_table,
    flag_rules,
    flags_table,
    users_table,
)
from graph.analysis.tiegraph import TieGraph
from graph.store import GraphTables, SavedSnapshot, Store, StoreError, Window
from loaders.errors import N_, Note

if TYPE_CHECKING:
    from graph.neo4j_gds import GdsSession

# progress(stage) is called as each stage starts.
Progress = Callable[[str], None]


@dataclass
class Snapshot:
    id: str
    params: AnalysisParams
    computed_at: datetime
    watermark: int
    users: pa.Table
    communities: pa.Table
    flags: pa.Table
    modularity: float
    components: int
    referred_edges: int
    invited_ties: int
    stage_seconds: dict[str, float] = field(default_factory=dict)
    score_info: dict = field(default_factory=dict)

    def to_saved(self) -> SavedSnapshot:
        return SavedSnapshot(
            id=self.id,
            params=self.params.to_json(),
            computed_at=self.computed_at,
            watermark=self.watermark,
            summary=self.summary(),
            users=self.users,
            communities=self.communities,
            flags=self.flags,
        )

    def summary(self) -> dict:
        return {
            "id": self.id,
            "computed_at": self.computed_at.isoformat(),
            "watermark": self.watermark,
            "params": self.params.to_json(),
            "users": self.users.num_rows,
            "referred_edges": self.referred_edges,
            "invited_ties": self.invited_ties,
            "communities": self.communities.num_rows,
            "flagged_users": int(pc.sum(self.users["flagged"]).as_py() or 0),
            "modularity": round(self.modularity, 6),
            "components": self.components,
            "engine": self.params.engine,
            "stage_seconds": {k: round(v, 3) for k, v in self.stage_seconds.items()},
            "score": with_note_messages(self.score_info),
        }


def with_note_messages(info: dict) -> dict:
    """`info` (the score's summary) with `note_messages` beside its English
    `notes` when it has any: each note's template and fields, so a reader of
    the saved snapshot can show them in another language (`api.i18n`)."""
    notes = info.get("notes") or []
    if not notes:
        return info
    messages = [(n if isinstance(n, Note) else Note(n)).to_json() for n in notes]
    return {**info, "note_messages": messages}


class EmptyWindowError(StoreError):
    """Nobody referred or invited anyone in the analysis window (an empty
    store, `since` in the future, a campaign name mistyped): saved, such an
    analysis would become the latest and empty every ranking and KOC list,
    so none is made."""

    def __init__(self, window: Window) -> None:
        filters = [
            f"{name} {value}"
            for name, value in (
                ("since", window.since and window.since.isoformat()),
                ("until", window.until and window.until.isoformat()),
                ("campaigns", ", ".join(window.campaigns) or None),
            )
            if value
        ]
        super().__init__(
            N_(
                "nobody referred or invited anyone in the window ({filters}): nothing "
                "analysed, the latest analysis stays as it was; widen since/until or check the "
                "campaign names (koc stats lists them)"
            )
            if filters
            else N_(
                "nobody referred or invited anyone in the window: nothing analysed, the "
                "latest analysis stays as it was; widen since/until or check the campaign "
                "names (koc stats lists them)"
            ),
            filters="; ".join(filters),
        )


@dataclass
class AnalysisInputs:
    """What an analysis reads from the store: the window's graph and the
    review decisions. Plain Arrow tables, so the computation can run in
    another process (the API's analysis worker)."""

    tables: GraphTables
    reviews: pa.Table
    history: GraphTables | None = None  # the window up to the learned score's cutoff


def read_inputs(store: Store, params: AnalysisParams) -> AnalysisInputs:
    tables = store.read_graph(params.window)
    history = None
    if params.score == "learned":
        cutoff, _ = learning_cutoff(tables, params.since, params.until, params.horizon_days)
        if cutoff is not None:
            history = store.read_graph(Window(params.since, cutoff, params.campaigns))
    return AnalysisInputs(tables, store.reviews(), history)


def analyze(
    store: Store, params: AnalysisParams | None = None, progress: Progress | None = None
) -> Snapshot:
    params = params or AnalysisParams()
    timer = Stages(progress)
    # Checked first, so a store or server without GDS fails before any work.
    session = _gds_session(store) if params.engine == "gds" else None

    timer.start("read")
    inputs = read_inputs(store, params)
    watermark = store.watermark if session is not None else None
    return analyze_inputs(inputs, params, timer, session=session, watermark=watermark)


def analyze_inputs(
    inputs: AnalysisInputs,
    params: AnalysisParams,
    timer: Stages | None = None,
    *,
    session: GdsSession | None = None,
    watermark: Callable[[], int] | None = None,
) -> Snapshot:
    """The analysis of what `read_inputs` read. `session` (the gds engine)
    computes the kernels inside Neo4j; `watermark` then tells whether an
    ingest landed meanwhile."""
    timer = timer or Stages(None)
    tables = inputs.tables
    graph = TieGraph.from_tables(tables)
    n = graph.n
    if not len(graph.tie_src) and not (graph.parent >= 0).any():
        raise EmptyWindowError(params.window)

    timer.start("fraud")
    screening = _screen(graph, tables, params.fraud)
    # Judged fraudulent: flagged and not approved on review (pending counts,
    # so no reward is paid on a referral before a human has looked).
    approved = approved_in(inputs.reviews, graph.ids)
    fraudulent = screening.flagged & ~approved

    timer.start("referral")
    metrics = referral_metrics(graph.parent, graph.converted, graph.churned, graph.amount)
    child = np.flatnonzero(graph.parent >= 0)
    up = graph.parent[child]
    metrics["fraudulent_invites"] = np.bincount(up, weights=fraudulent[child], minlength=n).astype(
        np.int64
    )
    # Invitees neither churned nor judged fraudulent (each counted once).
    metrics["effective_invites"] = np.bincount(
        up, weights=~(graph.churned[child] | fraudulent[child]), minlength=n
    ).astype(np.int64)
    metrics["flagged"] = screening.flagged
    metrics["risk"] = screening.risk
    with np.errstate(invalid="ignore", divide="ignore"):
        metrics["conversion_rate"] = np.where(
            metrics["invites"] > 0, metrics["converted_invites"] / metrics["invites"], 0.0
        )

    low, high = graph.undirected_edges()
    kernels = _kernels(session, params, graph, low, high, timer.start)
    if watermark is not None and watermark() != tables.watermark:
        raise StoreError(
            "an ingest landed while GDS was analysing, so its projection and the "
            "graph read before it differ: run the analysis again"
        )
    metrics["pagerank"] = kernels.pagerank
    metrics["core"] = kernels.core
    metrics["community"] = label = kernels.community
    metrics["betweenness"] = kernels.betweenness
    timer.start("bridging")
    metrics["bridging"] = bridging_counts(n, low, high, label)

    timer.start("recency")
    reference = _reference_us(params, tables.last_event_at)
    metrics["last_referral_at"] = last_referral_at(graph.parent, graph.referred_at_us)
    metrics["recent_invites"] = recent_invites(
        graph.parent, graph.referred_at_us, reference, params.half_life_days
    )

    timer.start("score")
    score, parts = koc_score({s: metrics[s] for s in SCORE_SIGNALS}, params.weights)
    score_info: dict = {"kind": "weighted", "requested": params.score, "notes": []}
    metrics["sharing_score"] = np.zeros(n)  # learned only
    if params.score == "learned":
        timer.start("learned")
        learned, score_info = _learned(inputs, graph, metrics, fraudulent, params, reference)
        if learned is not None:
            score, parts = learned.score, learned.parts
            metrics["sharing_score"] = learned.sharing
    metrics["koc_score"] = score
    for name, part in parts.items():
        metrics[f"score_{name}"] = part

    timer.start("tables")
    users = users_table(graph, metrics)
    users = users.append_column("flag_rules", flag_rules(n, screening))
    flags = flags_table(graph, screening)
    community_table = communities_table(graph, label, low, high, score)
    timer.stop()

    return Snapshot(
        id=uuid.uuid4().hex,
        params=params,
        computed_at=datetime.now(UTC),
        watermark=tables.watermark,
        users=users,
        communities=community_table,
        flags=flags,
        modularity=kernels.modularity,
        components=kernels.components,
        referred_edges=int(len(child)),
        invited_ties=int(len(graph.tie_src)),
        stage_seconds=timer.seconds,
        score_info=score_info,
    )


def _learned(
    inputs: AnalysisInputs,
    graph: TieGraph,
    metrics: dict[str, np.ndarray],
    fraudulent: np.ndarray,
    params: AnalysisParams,
    reference_us: int,
):
    """The learned score, or None and the note saying why the weighted one stays."""
    info: dict = {"kind": "weighted", "requested": "learned", "notes": []}
    cutoff, why = learning_cutoff(inputs.tables, params.since, params.until, params.horizon_days)
    if cutoff is None or inputs.history is None:
        info["notes"].append(why or Note("the history before the cutoff was not read"))
        return None, info
    try:
        learned = learn_and_score(
            inputs.history,
            graph,
            metrics,
            ~graph.churned & ~fraudulent,
            cutoff,
            reference_us,
            half_life_days=params.half_life_days,
            seed=params.seed,
        )
    except NotLearnable as exc:
        reason = exc.args[0] if exc.args else str(exc)
        info["notes"].append(Note("{reason}: the weighted score is used", reason=reason))
        return None, info
    return learned, {**learned.info, "requested": "learned", "notes": []}


def _screen(graph: TieGraph, tables, rules: FraudRules) -> Screening:
    devices = tables.devices
    # Few users share devices: look the graph's ids up in theirs, not theirs
    # in the graph's (index_in hashes its value set, here the smaller one).
    sharers = devices["user_id"].combine_chunks()
    slot = pc.index_in(graph.ids, value_set=sharers).fill_null(-1).to_numpy()
    position = np.full(len(sharers), -1, np.int64)
    has = np.flatnonzero(slot >= 0)
    position[slot[has]] = has
    user = position[pc.index_in(sharers, value_set=sharers).to_numpy()]
    codes = devices["device_id"].combine_chunks().dictionary_encode()
    known = user >= 0
    return screen_fraud(
        graph.parent,
        graph.referred_at_us,
        graph.tie_src,
        graph.tie_dst,
        graph.converted,
        graph.churned,
        user[known].astype(np.int64),
        codes.indices.to_numpy(zero_copy_only=False)[known].astype(np.int64),
        rules,
        device_names=codes.dictionary,
    )


def _gds_session(store: Store) -> GdsSession:
    # Imported here: only the gds engine needs the GDS client.
    from graph.neo4j_gds import open_session

    return open_session(store)


def _kernels(
    session: GdsSession | None,
    params: AnalysisParams,
    graph: TieGraph,
    low: np.ndarray,
    high: np.ndarray,
    stage: Progress,
) -> GraphKernels:
    options = {
        "seed": params.seed,
        "exact_limit": params.betweenness_exact_limit,
        "samples": params.betweenness_samples,
        "stage": stage,
    }
    if session is not None:
        from graph.neo4j_gds import gds_kernels

        return gds_kernels(session, params.window, graph, low, high, **options)
    return searchlight_kernels(graph, low, high, **options)


def approved_mask(store: Store, ids: pa.Array) -> np.ndarray:
    """Per user (in `ids` order): approved on review, so flags no longer count."""
    return approved_in(store.reviews(), ids)


def approved_in(reviews: pa.Table, ids: pa.Array) -> np.ndarray:
    """`approved_mask` from the store's current decisions (`Store.reviews`)."""
    ok = reviews.filter(pc.equal(reviews["status"], "approved"))["user_id"]
    return pc.is_in(ids, value_set=ok.combine_chunks()).to_numpy(zero_copy_only=False)


def _reference_us(params: AnalysisParams, last_event_at: datetime | None) -> int:
    ref = params.until or last_event_at
    if ref is None:
        return 0
    return int(ref.timestamp() * 1_000_000)


class Stages:
    def __init__(self, progress: Progress | None) -> None:
        self.seconds: dict[str, float] = {}
        self._progress = progress
        self._current: str | None = None
        self._started = 0.0

    def start(self, stage: str) -> None:
        self.stop()
        self._current, self._started = stage, time.perf_counter()
        if self._progress:
            self._progress(stage)

    def stop(self) -> None:
        if self._current:
            # A stage may come round more than once (the gds engine reads twice).
            spent = time.perf_counter() - self._started
            self.seconds[self._current] = self.seconds.get(self._current, 0.0) + spent
            self._current = None
