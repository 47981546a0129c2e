"""The campaign dashboard's response (GET /v1/dashboard): the models /docs
shows. Definitions of every number: docs/dashboard.md and graph.dashboard."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field


class CountKpi(BaseModel):
    total: int = Field(description="over the range")
    day: int = Field(description="on the range's last day")
    previous_day: int = Field(description="on the day before it")


class RateKpi(BaseModel):
    total: float | None = Field(description="0..1 over the range; null when nobody joined")
    day: float | None
    previous_day: float | None


class MoneyKpi(BaseModel):
    total: float = Field(description="CNY over the range")
    day: float
    previous_day: float


class Kpis(BaseModel):
    joins: CountKpi = Field(description="新增: users whose first join falls in the period")
    referred_joins: CountKpi = Field(description="其中裂变新增: of those, with an inviter")
    fission_rate: RateKpi = Field(description="裂变率: referred_joins / joins")
    churned: CountKpi = Field(description="流失: churn events")
    net_joins: CountKpi = Field(description="净增: joins - churned")
    conversions: CountKpi = Field(description="转化: convert events")
    conversion_rate: RateKpi = Field(
        description="转化率: users joined in the period who converted by the range's end / joins"
    )
    gmv: MoneyKpi = Field(description="GMV: convert amounts")
    active_sharers: CountKpi = Field(description="distinct inviters of invites and joins")


class DailyRow(BaseModel):
    day: date
    joins: int
    referred_joins: int
    churned: int
    conversions: int
    gmv: float


class FunnelTier(BaseModel):
    tier: int = Field(description="1: invited by a seed; 2: by a tier-1 user; 3: deeper")
    users: int = Field(description="users joined in the range at this tier")
    converted: int = Field(description="of them, converted in the range")


class BoardRow(BaseModel):
    users: int = Field(description="users who joined in the range through it")
    reach: int = Field(description="distinct users downstream of them (latest snapshot)")
    tree_gmv: float = Field(description="GMV converted by those downstream users")
    kocs: int = Field(description="of them, in the latest KOC list")
    flagged_share: float = Field(description="share of them flagged by fraud screening")


class ChannelRow(BoardRow):
    channel: str | None = Field(description="the channel code (渠道活码, state); null: none")


class StaffRow(BoardRow):
    staff_id: str | None = Field(description="the staff member (归属成员); null: none")


class TopKoc(BaseModel):
    user_id: str
    name: str | None = Field(description="the user's display name, when the store has one")
    koc_score: float
    invites: int
    reach: int
    gmv: float


class SnapshotRef(BaseModel):
    id: str
    computed_at: datetime


class Dashboard(BaseModel):
    campaign: str | None = Field(description="the campaign shown; null: all campaigns")
    since: date
    until: date = Field(description="the range's last day, included")
    timezone: str = Field(description="the zone the days are calendar days of (KOC_TIMEZONE)")
    campaigns: list[str] = Field(description="every campaign in the store")
    snapshot: SnapshotRef | None = Field(
        description="the analysis the graph columns come from; null: none yet (they are 0)"
    )
    kpis: Kpis
    daily: list[DailyRow] = Field(description="every day of the range, zeros included")
    funnel: list[FunnelTier]
    channels: list[ChannelRow] = Field(description="by reach, then users; at most 50")
    staff: list[StaffRow] = Field(description="by reach, then users; at most 50")
    top_kocs: list[TopKoc] = Field(description="the head of the latest KOC list")
    review_queue: int = Field(description="flagged users awaiting review")
