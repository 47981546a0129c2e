"""GET /v1/dashboard on the analysed generated campaign: every number checked
against the raw event log worked out again with pandas and networkx
(tests/api/dashboard_oracle.py), plus ranges, errors and the cache."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from graph.embedded import EmbeddedStore
from tests.api import dashboard_oracle as oracle
from tests.api.conftest import ADMIN, VIEWER

# (campaign, since, until): a whole default month is checked separately.
RANGES = [
    (None, "2026-04-01", "2026-04-20"),
    ("always-on-referral", "2026-05-03", "2026-05-30"),
    ("618拼团", "2026-04-20", "2026-04-20"),  # one day: its day before lies outside
]


@pytest.fixture(scope="module")
def truth(analysed_store):
    """The raw log, the latest snapshot's flagged users."""
    with EmbeddedStore(analysed_store, read_only=True) as store:
        events = store.connection.sql("SELECT * FROM events").df()
        snapshot = store.latest_snapshot()
    users = snapshot.users.to_pylist()
    return oracle.Log(events), {u["id"] for u in users if u["flagged"]}


def get(client, **params):
    answer = client.get("/v1/dashboard", params=params, headers=VIEWER)
    assert answer.status_code == 200, answer.text
    return answer.json()


def close(got, expected):
    """Equal, floats to the cent (money) or 1e-9 (rates)."""
    if isinstance(expected, dict):
        assert set(got) == set(expected)
        for key in expected:
            close(got[key], expected[key])
    elif isinstance(expected, list):
        assert len(got) == len(expected)
        for a, b in zip(got, expected, strict=True):
            close(a, b)
    elif isinstance(expected, float):
        assert got == pytest.approx(expected, abs=0.006)
    else:
        assert got == expected


@pytest.mark.parametrize(("campaign", "since", "until"), RANGES)
def test_kpis_days_and_funnel_are_those_of_the_event_log(client, truth, campaign, since, until):
    log, _ = truth
    first, last = date.fromisoformat(since), date.fromisoformat(until)
    params = {"since": since, "until": until} | ({"campaign": campaign} if campaign else {})
    board = get(client, **params)
    assert (board["campaign"], board["since"], board["until"]) == (campaign, since, until)
    expected = oracle.kpis(log, campaign, first, last)
    assert expected["joins"]["total"] > 0  # the range has something to check
    close(board["kpis"], expected)
    close(board["daily"], oracle.daily(log, campaign, first, last))
    assert board["funnel"] == oracle.funnel(log, campaign, first, last)


def test_the_day_before_a_one_day_range_is_counted_too(client, truth):
    log, _ = truth
    board = get(client, since="2026-05-10", until="2026-05-10")
    day_before = oracle.kpis(log, None, date(2026, 5, 9), date(2026, 5, 9))
    assert board["kpis"]["joins"]["previous_day"] == day_before["joins"]["total"] > 0
    assert board["kpis"]["churned"]["previous_day"] == day_before["churned"]["total"]
    assert [d["day"] for d in board["daily"]] == ["2026-05-10"]


def test_the_default_range_is_the_month_to_the_last_event(client, truth):
    log, _ = truth
    board = get(client)
    last = log.events["day"].max()
    assert board["until"] == last.isoformat()
    assert board["since"] == (last - timedelta(days=29)).isoformat()
    assert len(board["daily"]) == 30 and board["timezone"] == "Asia/Shanghai"
    assert board["campaigns"] == sorted(log.events["campaign"].dropna().unique())
    close(board["kpis"], oracle.kpis(log, None, last - timedelta(days=29), last))


@pytest.mark.parametrize(("campaign", "since", "until"), RANGES[:2])
def test_leaderboards_count_what_users_brought_on_the_graph(client, truth, campaign, since, until):
    log, flagged = truth
    params = {"since": since, "until": until} | ({"campaign": campaign} if campaign else {})
    board = get(client, **params)
    kocs = client.get("/v1/kocs", headers=VIEWER).json()["items"]
    chosen = {k["user_id"] for k in kocs}
    first, last = date.fromisoformat(since), date.fromisoformat(until)
    for key, rows in (("channel", board["channels"]), ("staff_id", board["staff"])):
        expected = oracle.board(log, campaign, first, last, key, flagged, chosen)
        assert sum(r["reach"] for r in expected) > 0
        close(rows, expected)


def test_top_kocs_and_the_review_queue_are_the_apis_own(client):
    board = get(client, k=3)
    page = client.get("/v1/kocs", headers=VIEWER).json()
    kocs = page["items"][:3]
    fields = ("user_id", "name", "koc_score", "invites", "reach", "gmv")
    assert [[k[f] for f in fields] for k in board["top_kocs"]] == [
        [k[f] for f in fields] for k in kocs
    ]
    pending = client.get("/v1/flags?status=pending", headers=VIEWER).json()["total"]
    assert board["review_queue"] == pending > 0
    assert board["snapshot"]["id"] == page["snapshot_id"]
    assert len(get(client)["top_kocs"]) == 10


def test_top_kocs_show_names_masked_for_viewers(client):
    top = get(client, k=1)["top_kocs"][0]
    assert top["name"] is None  # the steady generator gives no names
    event = {
        "event_id": "name-1",
        "type": "invite",
        "inviter_id": "someone",
        "invitee_id": top["user_id"],
        "occurred_at": "2026-07-01T10:00:00+08:00",
        "invitee_name": "小红 13812345678",
    }
    assert client.post("/v1/events", json=[event], headers=ADMIN).status_code == 200
    assert get(client, k=1)["top_kocs"][0]["name"] == "小红 138****5678"
    admin = client.get("/v1/dashboard", params={"k": 1}, headers=ADMIN).json()
    assert admin["top_kocs"][0]["name"] == "小红 13812345678"


def test_a_new_event_shows_at_once(client):
    before = get(client, since="2026-07-01", until="2026-07-31")
    event = {
        "event_id": "dash-1",
        "type": "join",
        "inviter_id": "dash-inviter",
        "invitee_id": "dash-new",
        "occurred_at": "2026-07-31T23:30:00+08:00",
        "channel": "=cmd|' /C calc'!A0",
        "staff_id": "staff_dash",
    }
    assert client.post("/v1/events", json=[event], headers=ADMIN).status_code == 200
    after = get(client, since="2026-07-01", until="2026-07-31")
    assert after["kpis"]["joins"]["total"] == before["kpis"]["joins"]["total"] + 1
    assert after["kpis"]["joins"]["day"] == before["kpis"]["joins"]["day"] + 1
    assert after["daily"][-1]["referred_joins"] == before["daily"][-1]["referred_joins"] + 1
    assert {"channel": "=cmd|' /C calc'!A0", "users": 1} in [
        {"channel": r["channel"], "users": r["users"]} for r in after["channels"]
    ]


def test_an_empty_store_answers_zeros(make_client):
    client = make_client(empty=True)
    board = get(client)
    assert board["snapshot"] is None and board["campaigns"] == [] and board["top_kocs"] == []
    assert board["kpis"]["joins"] == {"total": 0, "day": 0, "previous_day": 0}
    assert board["kpis"]["fission_rate"]["total"] is None
    assert board["channels"] == [] and board["review_queue"] == 0
    assert [t["users"] for t in board["funnel"]] == [0, 0, 0]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"since": "2026-02-30"}, "since"),
        ({"until": "yesterday"}, "until"),
        ({"since": "20260301"}, "since"),
        ({"since": "2026-05-02", "until": "2026-05-01"}, "since"),
        ({"since": "2025-01-01", "until": "2026-05-01"}, "since"),  # over 366 days
        ({"k": "51"}, "k"),
    ],
)
def test_bad_ranges_are_422_naming_the_field(client, params, field):
    answer = client.get("/v1/dashboard", params=params, headers=VIEWER)
    assert answer.status_code == 422, answer.text
    assert answer.json()["errors"][0]["field"] == field


def test_errors_speak_the_readers_language(client):
    zh = {**VIEWER, "Accept-Language": "zh-CN"}
    reversed_ = client.get("/v1/dashboard?since=2026-05-02&until=2026-05-01", headers=zh)
    assert reversed_.json()["detail"] == "开始日期（2026-05-02）晚于结束日期（2026-05-01）"
    unknown = client.get("/v1/dashboard", params={"campaign": "双11"}, headers=zh)
    assert unknown.status_code == 404
    assert unknown.json()["detail"] == "数据中没有名为 '双11' 的活动"
    english = client.get("/v1/dashboard", params={"campaign": "双11"}, headers=VIEWER)
    assert english.json()["detail"] == "no campaign '双11' in the store"
    assert english.json()["errors"][0]["field"] == "campaign"


def test_a_viewer_key_is_needed(client):
    assert client.get("/v1/dashboard").status_code == 401
    assert client.get("/v1/dashboard/export?table=kpis").status_code == 401
