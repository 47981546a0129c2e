"""The campaign dashboard (GET /v1/dashboard, docs/dashboard.md): a request's
campaign and days checked, and graph.dashboard's numbers over one store read
and the latest snapshot, as the response model — once per store version."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from api.dashboard_models import Dashboard, SnapshotRef, TopKoc
from api.errors import ApiError
from api.i18n import _
from api.names import names_of
from api.queries import cached_queue, koc_list
from api.service import Service
from graph import dashboard as numbers
from graph.analysis.kocs import KocParams
from graph.store import StoreStats

MAX_DAYS = 366
DEFAULT_DAYS = 30
MAX_TOP_KOCS = 50  # the default KOC list's length (KocParams().k)
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True)
class DashboardQuery:
    campaign: str | None
    days: numbers.Days


def store_stats(service: Service) -> StoreStats:
    """The store's counts, campaigns and last event, read once per version."""
    return service.cached(("stats",), service.store.stats)


def parse_day(value: str | None, field: str) -> date | None:
    """A query's calendar day, YYYY-MM-DD; 422 naming the field otherwise."""
    if value is None:
        return None
    try:
        if not _DAY.fullmatch(value):
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        raise ApiError(
            422,
            _(
                "{field} must be a calendar day written YYYY-MM-DD, not {value!r}",
                field=field,
                value=value[:40],
            ),
            field=field,
            location="query",
        ) from None


def resolve(
    service: Service, campaign: str | None, since: str | None, until: str | None
) -> DashboardQuery:
    """The dashboard a request asks for: its campaign (404 when the store has
    none by that name) and days (422 when not days, reversed or longer than
    MAX_DAYS); by default the DEFAULT_DAYS days ending on the last event's."""
    first, last = parse_day(since, "since"), parse_day(until, "until")
    stats = store_stats(service)
    if campaign is not None and campaign not in stats.campaign_names:
        raise ApiError(
            404, _("no campaign {campaign!r} in the store", campaign=campaign), "campaign", "query"
        )
    zone = ZoneInfo(service.settings.timezone)
    latest = (stats.last_event_at or datetime.now(UTC)).astimezone(zone).date()
    if last is None:
        last = latest if first is None or first <= latest else first
    if first is None:
        first = last - timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        raise ApiError(
            422,
            _("since ({since}) is after until ({until})", since=first, until=last),
            "since",
            "query",
        )
    days = numbers.Days(first, last)
    if days.count > MAX_DAYS:
        raise ApiError(
            422,
            _(
                "a dashboard covers at most {most} days; {since} to {until} is {days}",
                most=MAX_DAYS,
                since=first,
                until=last,
                days=days.count,
            ),
            "since",
            "query",
        )
    return DashboardQuery(campaign, days)


def dashboard(
    service: Service, query: DashboardQuery, k: int = MAX_TOP_KOCS, full: bool = False
) -> Dashboard:
    """The dashboard with its first `k` top KOCs and their names, masked
    unless `full` (api.names); the whole is computed once per store version
    and query."""
    whole = service.cached(("dashboard", query), lambda: _compute(service, query))
    top = whole.top_kocs[:k]
    names = names_of(service, [t.user_id for t in top], full)
    named = [t.model_copy(update={"name": names.get(t.user_id)}) for t in top]
    return whole.model_copy(update={"top_kocs": named})


def _compute(service: Service, query: DashboardQuery) -> Dashboard:
    zone = service.settings.timezone
    days = query.days
    facts = service.store.campaign_facts(days.read_window(zone, query.campaign), zone)
    snapshot = service.snapshot()
    kocs = koc_list(service, KocParams()).rows if snapshot is not None else []
    graph = service.cached(
        ("dashboard-graph",),
        lambda: numbers.GraphColumns.of(snapshot, [r.user_id for r in kocs]),
    )
    joins = numbers.in_range(facts, days)
    queue = cached_queue(service, "pending")
    return Dashboard.model_validate(
        {
            "campaign": query.campaign,
            "since": days.since,
            "until": days.until,
            "timezone": zone,
            "campaigns": store_stats(service).campaign_names,
            "snapshot": SnapshotRef(id=snapshot.id, computed_at=snapshot.computed_at)
            if snapshot
            else None,
            "kpis": numbers.kpis(facts, days),
            "daily": numbers.daily(facts, days),
            "funnel": numbers.funnel(joins, days),
            "channels": numbers.leaderboard(joins, "channel", graph),
            "staff": numbers.leaderboard(joins, "staff_id", graph),
            "top_kocs": [
                TopKoc(
                    user_id=r.user_id,
                    name=None,
                    koc_score=r.koc_score,
                    invites=r.invites,
                    reach=r.reach,
                    gmv=r.gmv,
                )
                for r in kocs[:MAX_TOP_KOCS]
            ],
            "review_queue": len(queue),
        }
    )


def warm(service: Service) -> None:
    """Compute the dashboard a page opens first (all campaigns, the default
    days) for the store's version, so its first viewer does not wait."""
    dashboard(service, resolve(service, None, None, None))
