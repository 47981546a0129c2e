"""The KOC list: k users chosen by a strategy from the latest snapshot, each
with the facts of its reason (DESIGN.md, Searchlight selection; put in words
by `api.reasons`).

Strategies:
- `coverage`: the searchlight set (`graph.analysis.searchlight`);
- `influence`: independent-cascade influence maximisation
  (`graph.analysis.influence`);
- `score`: the top KOC scores (with a learned score, in two parts: the
  roots of the trees that will grow most and the users who will bring the
  most themselves; `graph.analysis.kocs_learned`).

Eligible users: not flagged by fraud screening unless approved on review,
not churned, at least one invite in the window, and not on the exclusion
list. Every strategy reports the coverage its picks reach, so they compare.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from graph.analysis.kernels import ENGINES
from graph.analysis.kocs_influence import influence_picks
from graph.analysis.kocs_learned import score_picks, sharing_scores
from graph.analysis.params import ParamError
from graph.analysis.score import top_parts_of
from graph.analysis.searchlight import (
    DEFAULT_HOP_WEIGHTS,
    Pick,
    coverage_of,
    csr_from_edges,
    searchlight,
)
from graph.analysis.snapshot import AnalysisParams, approved_mask
from graph.analysis.tie_models import parse_model
from graph.analysis.tiegraph import TieGraph
from graph.store import SavedSnapshot, Store
from loaders.errors import Note, SearchlightError

STRATEGIES = ("coverage", "influence", "score")
QUOTAS = ("community",)
CANDIDATES = ("eligible", "all")


@dataclass(frozen=True)
class KocParams:
    k: int = 50
    strategy: str = "coverage"
    quota: str | None = None
    exclude: tuple[str, ...] = ()
    hop_weights: tuple[float, ...] = DEFAULT_HOP_WEIGHTS
    seed: int = 0
    epsilon: float = 0.1
    simulations: int = 200
    engine: str = "searchlight"  # influence only: or "gds" (CELF inside Neo4j)
    model: str = "learned"  # influence only: learned, wc or uniform:P
    candidates: str = "eligible"  # influence only: or "all" (every user, as in benchmarks)
    sharers: float = 0.3  # score with a learned score: the share of k picked as sharers

    def __post_init__(self) -> None:
        model, _ = parse_model(self.model)
        if self.candidates not in CANDIDATES:
            raise ParamError(
                "unknown candidates {candidates!r}; choose one of {choices}",
                field="candidates",
                candidates=self.candidates,
                choices=", ".join(CANDIDATES),
            )
        if self.engine == "gds" and model == "wc":
            raise ParamError(
                "GDS's CELF takes one probability for every tie: use --model learned "
                "(their mean) or uniform:P with --engine gds",
                field="model",
            )
        if self.engine not in ENGINES:
            raise ParamError(
                "unknown engine {engine!r}; choose one of {choices}",
                field="engine",
                engine=self.engine,
                choices=", ".join(ENGINES),
            )
        if self.engine == "gds" and self.strategy != "influence":
            raise ParamError(
                "the gds engine picks by influence only (--strategy influence)", field="engine"
            )
        if self.engine == "gds" and self.quota is not None:
            raise ParamError(
                "community quotas need the searchlight engine (GDS's CELF has none)",
                field="engine",
            )
        if self.k < 1:
            raise ParamError("k must be at least 1", field="k")
        if not 0.0 <= self.sharers <= 1.0:
            raise ParamError("sharers must be between 0 and 1", field="sharers")
        if self.sharers != KocParams.sharers and self.strategy != "score":
            raise ParamError(
                "sharers splits the score strategy's picks: use it with --strategy score",
                field="sharers",
            )
        if self.strategy not in STRATEGIES:
            raise ParamError(
                "unknown strategy {strategy!r}; choose one of {choices}",
                field="strategy",
                strategy=self.strategy,
                choices=", ".join(STRATEGIES),
            )
        if self.quota is not None and self.quota not in QUOTAS:
            raise ParamError(
                "unknown quota {quota!r}; choose one of {choices}",
                field="quota",
                quota=self.quota,
                choices=", ".join(QUOTAS),
            )


@dataclass
class KocRow:
    """One pick and the facts its reason is told from (in words:
    `api.reasons.koc_reason`, in the reader's language)."""

    rank: int
    user_id: str
    gain: float  # coverage: marginal coverage; influence: expected users added; score: coverage
    coverage_share: float  # f(picks so far) / users
    lit_share: float  # users with any light so far / users
    communities: list[int]  # communities this pick lights, largest first (at most 5)
    new_by_hop: list[int]  # users this pick lights first, by hops from it (0: itself)
    communities_lit: int  # how many communities those users are in
    # score only: the two largest parts of its KOC score, as (part, points)
    score_parts: list[tuple[str, float]]
    koc_score_exact: float  # unrounded: the score the reason names, to one decimal
    koc_score: float
    invites: int
    effective_invites: int
    reach: int
    conversions: int
    gmv: float
    community: int
    quota_spill: bool = False
    # score with a learned score: "tree" or "sharer" (graph.analysis.kocs_learned)
    picked_as: str = ""
    sharing_score: float = 0.0


@dataclass
class KocList:
    params: KocParams
    snapshot_id: str
    users: int
    eligible: int
    rows: list[KocRow]
    spread: dict | None = None  # influence only: estimate and Monte-Carlo interval
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        out = asdict(self)
        out["params"]["exclude"] = list(self.params.exclude)
        return out


class SnapshotMissingError(SearchlightError):
    """No analysis snapshot to choose from."""


@dataclass
class SnapshotGraph:
    """The tie graph of a snapshot's window with the snapshot's columns lined
    up to it: what every strategy chooses from. Built once, it serves many
    choices (the backtest makes several)."""

    snapshot: SavedSnapshot
    graph: TieGraph
    metrics: dict[str, np.ndarray]
    indptr: np.ndarray  # undirected tie graph, CSR
    indices: np.ndarray
    notes: list[str]


def snapshot_graph(store: Store, snapshot: SavedSnapshot | None) -> SnapshotGraph:
    if snapshot is None:
        raise SnapshotMissingError(
            "no analysis yet: run one first (koc analyze, or POST /v1/analyses)"
        )
    tables = store.read_graph(AnalysisParams.from_json(snapshot.params).window)
    graph = TieGraph.from_tables(tables)
    notes = []
    if tables.watermark != snapshot.watermark:
        notes.append(
            Note(
                "the snapshot saw ingest batch {seen}, the store is at {now}: users new "
                "since then have no flags or community; run koc analyze",
                seen=snapshot.watermark,
                now=tables.watermark,
            )
        )
    indptr, indices = csr_from_edges(graph.n, *graph.undirected_edges())
    metrics = _snapshot_columns(snapshot, graph.ids)
    return SnapshotGraph(snapshot, graph, metrics, indptr, indices, notes)


def with_scores(
    prepared: SnapshotGraph, snapshot: SavedSnapshot, score: np.ndarray
) -> SnapshotGraph:
    """`prepared` with another KOC score per user of `snapshot` (in its users'
    order), e.g. the weighted score beside a learned one in the backtest;
    picked from as a weighted score is (by score alone)."""
    users = snapshot.users
    at = users.column_names.index("koc_score")
    summary = {
        **snapshot.summary,
        "score": {**snapshot.summary.get("score", {}), "kind": "weighted"},
    }
    changed = replace(
        snapshot, users=users.set_column(at, "koc_score", pa.array(score)), summary=summary
    )
    return replace(
        prepared, snapshot=changed, metrics=_snapshot_columns(changed, prepared.graph.ids)
    )


def choose_kocs(
    store: Store,
    snapshot: SavedSnapshot | None,
    params: KocParams,
    prepared: SnapshotGraph | None = None,
) -> KocList:
    """k KOCs by `params.strategy` from a snapshot (`prepared` saves reading
    its graph again)."""
    prepared = prepared or snapshot_graph(store, snapshot)
    graph, metrics = prepared.graph, prepared.metrics
    indptr, indices = prepared.indptr, prepared.indices
    n = graph.n
    notes = list(prepared.notes)
    approved = approved_mask(store, graph.ids)
    excluded = pc.is_in(graph.ids, value_set=pa.array(list(params.exclude), pa.string()))
    invites = np.bincount(graph.parent[graph.parent >= 0], minlength=n)
    wanted = ~excluded.to_numpy(zero_copy_only=False)
    eligible = (~metrics["flagged"] | approved) & ~graph.churned & (invites >= 1) & wanted
    community = metrics["community"]

    spread = None
    picked_as: dict[int, str] = {}
    if params.strategy == "coverage":
        picks = searchlight(
            indptr,
            indices,
            eligible,
            params.k,
            weights=params.hop_weights,
            community=community,
            quota=params.quota == "community",
        )
        gains = [p.gain for p in picks]
        parts: list[list[tuple[str, float]]] = [[] for _ in picks]
    else:
        if params.strategy == "influence":
            pool = eligible if params.candidates == "eligible" else wanted
            chosen, gains, spread = influence_picks(store, prepared, pool, params, notes)
            parts = [[] for _ in chosen]
        else:
            sharing = sharing_scores(prepared.snapshot, metrics)
            if sharing is None and params.sharers != KocParams.sharers:
                notes.append(
                    Note("no learned sharing score in this analysis: --sharers has no effect")
                )
            chosen, picked_as = score_picks(
                metrics["koc_score"],
                eligible,
                community,
                params.k,
                params.quota,
                sharing=sharing,
                parent=graph.parent,
                sharers=params.sharers,
            )
            gains = []
            parts = _score_parts(prepared.snapshot.users, metrics["snapshot_row"], chosen)
        picks = coverage_of(indptr, indices, chosen, params.hop_weights, community)
        if params.strategy == "score":
            gains = [p.gain for p in picks]
    rows = _rows(graph, metrics, picks, gains, parts, n, picked_as)
    if len(rows) < params.k and not any(n.startswith("nobody to pick") for n in notes):
        notes.append(
            Note(
                "only {picked} of k={k} picked: no other eligible user adds anything",
                picked=len(rows),
                k=params.k,
            )
        )
    return KocList(
        params=params,
        snapshot_id=prepared.snapshot.id,
        users=n,
        eligible=int(eligible.sum()),
        rows=rows,
        spread=spread,
        notes=notes,
    )


def _score_parts(
    users: pa.Table, rows: np.ndarray, chosen: list[int]
) -> list[list[tuple[str, float]]]:
    """Each pick's two largest score contributions (`top_parts`), from its
    row of the snapshot's users (none for a user the snapshot has not seen).
    Only the picks' rows are read: lining every `score_*` column up with the
    graph would hold twenty-odd floats per user."""
    at = rows[np.asarray(chosen, np.int64)]
    found = top_parts_of(users.take(pa.array(np.maximum(at, 0)))) if len(users) else []
    return [p if a >= 0 else [] for p, a in zip(found or [[]] * len(at), at, strict=True)]


def _rows(
    graph: TieGraph,
    metrics: dict[str, np.ndarray],
    picks: list[Pick],
    gains: list[float],
    parts: list[list[tuple[str, float]]],
    n: int,
    picked_as: dict[int, str],
) -> list[KocRow]:
    rows = []
    ids = graph.ids
    for rank, (pick, gain, top) in enumerate(zip(picks, gains, parts, strict=True), start=1):
        u = pick.user
        touched = sorted(pick.communities.items(), key=lambda kv: (-kv[1], kv[0]))
        rows.append(
            KocRow(
                rank=rank,
                user_id=ids[u].as_py(),
                gain=round(float(gain), 3),
                coverage_share=round(pick.coverage / max(n, 1), 6),
                lit_share=round(pick.lit / max(n, 1), 6),
                communities=[c for c, _ in touched[:5]],
                new_by_hop=[int(c) for c in pick.new_by_hop],
                communities_lit=len(touched),
                score_parts=top,
                koc_score_exact=float(metrics["koc_score"][u]),
                koc_score=round(float(metrics["koc_score"][u]), 3),
                invites=int(metrics["invites"][u]),
                effective_invites=int(metrics["effective_invites"][u]),
                reach=int(metrics["reach"][u]),
                conversions=int(metrics["converted_invites"][u]),
                gmv=round(float(metrics["gmv"][u]), 2),
                community=int(metrics["community"][u]),
                quota_spill=pick.quota_spill,
                picked_as=picked_as.get(u, ""),
                sharing_score=round(float(metrics["sharing_score"][u]), 3),
            )
        )
    return rows


_SNAPSHOT_COLUMNS = {
    "flagged": False,
    "community": -1,
    "koc_score": 0.0,
    "sharing_score": 0.0,
    "invites": 0,
    "effective_invites": 0,
    "reach": 0,
    "converted_invites": 0,
    "gmv": 0.0,
}


def _snapshot_columns(snapshot: SavedSnapshot, ids: pa.Array) -> dict[str, np.ndarray]:
    """Snapshot columns lined up with the graph's users (defaults for users
    the snapshot has not seen; they get a community of their own)."""
    users = snapshot.users
    where = (
        pc.index_in(ids, value_set=users["id"].combine_chunks()).fill_null(-1).to_numpy()
    ).astype(np.int64)
    known = where >= 0
    at = np.maximum(where, 0)
    out = {}
    for name, default in _SNAPSHOT_COLUMNS.items():
        if name not in users.column_names:
            values = np.full(len(users), default)
        else:
            # Null where an older snapshot lacks a later column (embedded store).
            values = pc.fill_null(users[name], default).to_numpy(zero_copy_only=False)
        out[name] = np.where(known, values[at] if len(values) else default, default)
    unseen = np.flatnonzero(out["community"] < 0)
    start = int(out["community"].max(initial=-1)) + 1
    out["community"] = out["community"].astype(np.int64)
    out["community"][unseen] = start + np.arange(len(unseen))
    out["flagged"] = out["flagged"].astype(bool)
    out["snapshot_row"] = where  # the user's row of the snapshot's users, -1 if none
    return out
