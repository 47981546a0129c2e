"""The campaign dashboard's tables as files (GET /v1/dashboard/export): CSV
(UTF-8 with a BOM, for Excel) or XLSX (api.sheets), headers in the reader's
language, text cells neutralised as in the reward export
(api.exports.neutralise)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from api.dashboard_models import Dashboard
from api.exports import neutralise
from api.i18n import N_, _
from api.sheets import csv_bytes, xlsx_bytes

FORMATS = ("csv", "xlsx")
MEDIA = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}

# The KPIs' names as the operators say them (graph.dashboard's KPIS order).
KPI_NAMES = {
    "joins": N_("new joins"),
    "referred_joins": N_("referred joins"),
    "fission_rate": N_("fission rate"),
    "churned": N_("churned"),
    "net_joins": N_("net joins"),
    "conversions": N_("convert events"),
    "conversion_rate": N_("conversion rate"),
    "gmv": N_("GMV (CNY)"),
    "active_sharers": N_("active sharers"),
}
_REACH, _TREE_GMV = N_("reach (users downstream)"), N_("GMV in their trees (CNY)")
_BOARD = (N_("users joined"), _REACH, _TREE_GMV, N_("KOCs among them"), N_("flagged share"))
# Per table: its sheet's title and its columns' headers (some shared with the
# reward export's: api/locale/zh/exports.po).
TITLES = {
    "kpis": N_("campaign KPIs"),
    "daily": N_("daily trend"),
    "funnel": N_("tier funnel"),
    "channels": N_("channel leaderboard"),
    "staff": N_("staff leaderboard"),
    "kocs": N_("top KOCs"),
}
HEADERS = {
    "kpis": (N_("KPI"), N_("range total"), N_("last day"), N_("day before")),
    "daily": (N_("day"), KPI_NAMES["joins"], KPI_NAMES["referred_joins"], KPI_NAMES["churned"])
    + (KPI_NAMES["conversions"], KPI_NAMES["gmv"]),
    "funnel": (N_("tier"), N_("users joined"), N_("converted users")),
    "channels": (N_("channel code"), *_BOARD),
    "staff": (N_("staff member"), *_BOARD),
    "kocs": (N_("user id"), N_("customer name"), N_("KOC score"), N_("invites"))
    + (_REACH, _TREE_GMV),
}
TABLES = tuple(HEADERS)


def _kpis(board: Dashboard) -> list[list[Any]]:
    kpis = board.kpis.model_dump()
    return [
        [_(label), kpis[name]["total"], kpis[name]["day"], kpis[name]["previous_day"]]
        for name, label in KPI_NAMES.items()
    ]


def _board(rows: list, key: str, none: str) -> list[list[Any]]:
    return [
        [getattr(r, key) if getattr(r, key) is not None else _(none)]
        + [r.users, r.reach, r.tree_gmv, r.kocs, r.flagged_share]
        for r in rows
    ]


_ROWS: dict[str, Callable[[Dashboard], list[list[Any]]]] = {
    "kpis": _kpis,
    "daily": lambda b: [
        [r.day.isoformat(), r.joins, r.referred_joins, r.churned, r.conversions, r.gmv]
        for r in b.daily
    ],
    "funnel": lambda b: [[r.tier, r.users, r.converted] for r in b.funnel],
    "channels": lambda b: _board(b.channels, "channel", N_("(no channel code)")),
    "staff": lambda b: _board(b.staff, "staff_id", N_("(no staff member)")),
    "kocs": lambda b: [
        [r.user_id, r.name or "", r.koc_score, r.invites, r.reach, r.gmv] for r in b.top_kocs
    ],
}


def table(board: Dashboard, name: str) -> tuple[list[str], list[list[Any]]]:
    """One table of the dashboard: headers in the reader's language and rows
    with every text cell neutralised."""
    headers = [_(h) for h in HEADERS[name]]
    return headers, [[neutralise(v) for v in row] for row in _ROWS[name](board)]


def filename(board: Dashboard, name: str, fmt: str) -> str:
    return f"dashboard-{name}-{board.since.isoformat()}-{board.until.isoformat()}.{fmt}"


def export(board: Dashboard, name: str, fmt: str) -> bytes:
    """The table as a file in `fmt` (csv or xlsx)."""
    headers, rows = table(board, name)
    if fmt == "csv":
        return csv_bytes(headers, rows)
    return xlsx_bytes([(_(TITLES[name]), headers, rows)])
