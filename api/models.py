"""The API's request and response models: what /docs shows and what every
route promises to return."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from graph.analysis.kocs import KocRow

# What every user's `name` is (api.names).
NAME = (
    "the user's name: the latest one its events gave (null if none did); for viewer keys "
    "mobile numbers in it read 138****5678"
)
# graph.analysis.snapshot_tables.SCORE_KINDS, spelt out for the schema.
ScoreKind = Literal["learned", "weighted"]


class ErrorItem(BaseModel):
    field: str = Field(description="the field at fault, e.g. k, user_id, body, X-API-Key")
    location: str = Field(description="query, path, body, header or file")
    problem: str


class ErrorBody(BaseModel):
    detail: str = Field(description="what went wrong, in one sentence")
    errors: list[ErrorItem] = Field(default_factory=list)


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    store: str
    store_reachable: bool
    watermark: int | None = Field(description="the last ingest batch applied")
    snapshot_id: str | None
    snapshot_computed_at: datetime | None
    snapshot_age_seconds: float | None
    snapshot_behind_batches: int | None = Field(
        description="ingest batches applied since the latest analysis"
    )
    problem: str | None = None


class Rejection(BaseModel):
    line: int = Field(description="the row's line in the file (JSON bodies: its position, from 1)")
    field: str
    reason: str


class IngestResult(BaseModel):
    source: str
    read: int
    accepted: int
    duplicates: int
    conflicts: int = Field(
        description="rows whose event_id was already stored with other content: not applied, "
        "quarantined with both versions"
    )
    rejected: int
    events: int = Field(
        description="events the rows made: accepted + duplicates + conflicts + rejected; "
        "equal to read unless a mapping makes several events per row"
    )
    skipped: int = Field(description="events a row's `when` condition left out (not rejections)")
    notes: list[str] = Field(
        description="columns of the file that no event uses, in the reader's language"
    )
    batch_id: int
    seconds: float
    quarantine: str | None = Field(description="the file holding the rejected rows")
    rejections: list[Rejection] = Field(description="the first rejected rows, with reasons")


class AnalysisRequest(BaseModel):
    since: datetime | None = Field(None, description="from this time (inclusive)")
    until: datetime | None = Field(None, description="up to this time (exclusive)")
    campaigns: list[str] = Field(default_factory=list, description="only these campaigns")
    half_life_days: float = Field(30.0, gt=0, le=3650)
    weights: dict[str, float] | None = Field(
        None,
        description="KOC score weights by signal (docs/koc-score.md); default weights if absent",
    )
    seed: int = Field(0, ge=0, le=2**31 - 1)
    engine: Literal["searchlight", "gds"] | None = Field(
        None,
        description="searchlight (Python) or gds (Graph Data Science inside Neo4j); "
        "default: the server's KOC_ANALYSIS_ENGINE",
    )
    score: ScoreKind | None = Field(
        None,
        description="the KOC score: learned (predicts the next horizon; the weighted score when "
        "the store holds under two horizons of referrals) or weighted (docs/koc-score.md); "
        "default: the server's KOC_SCORE",
    )
    horizon_days: float | None = Field(
        None,
        ge=1,
        le=3650,
        description="days ahead the learned score predicts; default: the server's "
        "KOC_SCORE_HORIZON_DAYS",
    )


class ScoreSummary(BaseModel):
    """Which KOC score a snapshot holds (snapshots older than the learned
    score hold the weighted one)."""

    kind: ScoreKind = "weighted"
    requested: str | None = Field(None, description="the score the analysis was asked for")
    notes: list[str] = Field(
        default_factory=list,
        description="why the weighted score was used when learned was asked, in the reader's "
        "language",
    )
    cutoff: datetime | None = Field(None, description="learned: the time its features are as of")
    horizon_days: float | None = Field(None, description="learned: days ahead it predicts")
    trained_users: int | None = None
    users_with_label: int | None = Field(
        None, description="learned: users who brought an effective referral in the horizon"
    )
    new_referrals_in_horizon: int | None = None
    top_features: list[str] = Field(
        default_factory=list, description="learned: the features the model gained most from"
    )
    prediction_low: float | None = Field(None, description="learned: the prediction scored 0")
    prediction_high: float | None = Field(None, description="learned: the prediction scored 100")


class SnapshotSummary(BaseModel):
    id: str
    computed_at: datetime
    watermark: int
    params: dict[str, Any]
    users: int
    referred_edges: int
    invited_ties: int
    communities: int
    flagged_users: int = 0
    modularity: float
    components: int | None = None
    engine: str = "searchlight"
    stage_seconds: dict[str, float]
    score: ScoreSummary = Field(default_factory=ScoreSummary)


class AnalysisJob(BaseModel):
    id: str
    status: Literal["running", "succeeded", "failed"]
    stage: str | None = Field(description="the stage running now")
    submitted_at: datetime
    finished_at: datetime | None = None
    error: str | None = None
    snapshot: SnapshotSummary | None = None
    pruned_snapshots: int | None = Field(
        None,
        description="older snapshots deleted once this one was saved (KOC_KEEP_SNAPSHOTS)",
    )


class Page(BaseModel):
    total: int = Field(description="items in all pages")
    limit: int
    offset: int


class Referrer(BaseModel):
    rank: int
    id: str
    name: str | None = Field(None, description=NAME)
    invites: int
    effective_invites: int | None = None
    conversions: int | None = None
    reach: int | None = None
    gmv: float | None = None
    koc_score: float | None = None
    flagged: bool | None = Field(
        default=None,
        description="held back by fraud screening: flagged by the latest analysis and not "
        "approved on review (None: no analysis yet)",
    )
    flag_rules: str | None = Field(default=None, description="the rules that flagged it")


class ReferrerPage(Page):
    by: str
    source: str = Field(
        description="live counts, or the snapshot the ranking comes from (its time in "
        "KOC_TIMEZONE, its window, ingest batches it has not seen), in the reader's language"
    )
    items: list[Referrer]


@dataclass
class KocItem(KocRow):
    """A pick with its reason in the reader's language (api.reasons)."""

    reason: str = ""
    name: str | None = None  # NAME (api.names)


class KocPage(Page):
    snapshot_id: str
    strategy: str
    k: int
    quota: str | None
    sharers: float = Field(
        description="score with a learned score: the share of k picked as sharers"
    )
    users: int
    eligible: int
    spread: dict[str, Any] | None = Field(description="influence: expected spread and its check")
    notes: list[str] = Field(description="caveats of the picks, in the reader's language")
    items: list[KocItem] = Field(description="the picks, best first, with the reason in words")


class Flag(BaseModel):
    rule: str
    label: str = Field("", description="the rule's name in the reader's language")
    reason: str = Field(description="why the rule fired, in the reader's language")
    evidence: dict[str, Any]


class ReviewOut(BaseModel):
    user_id: str
    status: str
    note: str
    reviewer: str
    reviewed_at: datetime


class ScorePart(BaseModel):
    signal: str = Field(description="the weighted score's signal, or the learned score's feature")
    label: str = Field("", description="the part's name in the reader's language")
    weight: float | None = Field(description="the signal's weight; null for the learned score")
    points: float = Field(
        description="what the signal adds to the KOC score (learned: may be negative)"
    )


class UserDetail(BaseModel):
    id: str
    name: str | None = Field(description=NAME)
    first_seen: datetime
    joined_at: datetime | None
    converted_at: datetime | None
    amount: float
    churned_at: datetime | None
    referred_by: str | None
    referred_by_name: str | None = Field(description="the referrer's name, as `name`")
    chain: list[str] = Field(description="referrers up to the root, nearest first")
    chain_names: list[str | None] = Field(
        description="the chain's names, in its order, as `name` (null where none)"
    )
    snapshot_id: str | None
    in_snapshot: bool = Field(description="false for users the latest analysis has not seen")
    metrics: dict[str, Any] | None
    koc_score: float | None
    score_kind: ScoreKind | None = Field(
        description="the KOC score the latest analysis holds (null: no analysis yet)"
    )
    score_horizon_days: float | None = Field(
        description="learned: how many days ahead the score predicts"
    )
    score_baseline: float | None = Field(
        description="learned: the score's starting point, the same for every user; it and the "
        "parts' points add up to koc_score"
    )
    score: list[ScorePart] = Field(
        description="the KOC score's parts, largest first (weighted: per signal; learned: per "
        "feature, negative ones too)"
    )
    top_reason: str | None
    community: int | None
    flagged: bool
    risk: float | None
    flags: list[Flag]
    review: ReviewOut | None


class NetworkNode(BaseModel):
    id: str
    name: str | None = Field(None, description=NAME)
    hop: int
    koc_score: float | None = None
    community: int | None = None
    flagged: bool = False


class NetworkTie(BaseModel):
    source: str = Field(description="the inviter")
    target: str = Field(description="the invitee")
    kind: Literal["REFERRED", "INVITED"]


class Network(BaseModel):
    center: str
    hops: int
    limit: int
    truncated: bool = Field(description="more users lie within the hops than the limit allows")
    nodes: list[NetworkNode]
    ties: list[NetworkTie]


class Community(BaseModel):
    community: int
    size: int
    internal_ties: int
    share_converted: float
    top_users: list[str]
    top_user_names: list[str | None] = Field(
        default_factory=list, description="the top users' names, in their order, as `name`"
    )


class CommunityPage(Page):
    snapshot_id: str
    items: list[Community]


class Member(BaseModel):
    id: str
    name: str | None = Field(None, description=NAME)
    koc_score: float
    invites: int
    reach: int
    flagged: bool


class CommunityDetail(Community):
    snapshot_id: str
    members: list[Member] = Field(description="members by KOC score, one page")
    members_total: int
    limit: int
    offset: int


class FlaggedUser(BaseModel):
    user_id: str
    name: str | None = Field(None, description=NAME)
    risk: float
    status: Literal["pending", "approved", "declined"]
    flags: list[Flag]
    note: str | None
    reviewer: str | None
    reviewed_at: datetime | None


class FlagPage(Page):
    snapshot_id: str | None
    status: str | None
    items: list[FlaggedUser]


class ReviewRequest(BaseModel):
    decision: Literal["approve", "decline"]
    note: str = Field(min_length=1, max_length=2000, description="why")
    reviewer: str = Field(min_length=1, max_length=200, description="who decides")


class UserMatch(BaseModel):
    id: str
    name: str | None = Field(description=NAME)
    match: Literal["id", "name", "prefix", "contains"] = Field(
        description="id: the id is q; name: the name is q (ignoring case); prefix: the id or "
        "the name starts with q; contains: the name contains q"
    )


class UserSearch(BaseModel):
    q: str
    limit: int
    items: list[UserMatch] = Field(description="best matches first, then by id")
