"""The operators' pages as a person uses them, in Chinese and in English:
Debian's headless Chromium, driven by Playwright, against `koc serve` on a
realistic campaign (nicknames) whose first KOC is named with HTML.

The dashboard's numbers are checked against its API and against the event
log worked out again (tests/api/dashboard_oracle.py); a KOC row opens the
explorer; a table downloads; the language switch keeps the page's place; the
Chinese pages show no English word. Screenshots of both pages in both
languages go to each test's temporary folder, and to docs/img/ with
KOC_SCREENSHOTS=docs (how the README's pictures are made).
"""

from __future__ import annotations

import csv
import io
import os
import re
from datetime import date
from pathlib import Path

import httpx
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from api.i18n import formats as f
from api.i18n import use_lang
from graph.analysis.kocs import KocParams, choose_kocs
from graph.analysis.snapshot import analyze
from graph.embedded import EmbeddedStore
from graph.ingest import ingest_file
from loaders.generator import generate_campaign, write_campaign
from loaders.quarantine import Quarantine
from tests.api import dashboard_oracle as oracle
from tests.api.conftest import close_recorded, koc_serve, needs_chromium, recorded_page

HOSTILE = "<img src=x onerror=alert(1)>"
DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"
# Latin words a Chinese page may show besides the data's own names and ids
# (the language switch names English in English).
LATIN_OK = {"KOC", "GMV", "PageRank", "CSV", "XLSX", "English"}
LANGS = ["zh", "en"]
ACCEPT = {"zh": "zh-CN,zh;q=0.9", "en": "en-US,en;q=0.9"}
KINDS = {
    "joins": "count",
    "referred_joins": "count",
    "fission_rate": "rate",
    "churned": "count",
    "net_joins": "count",
    "conversions": "count",
    "conversion_rate": "rate",
    "gmv": "money",
    "active_sharers": "count",
}

pytestmark = needs_chromium


def _campaign(work: Path) -> tuple[Path, str]:
    """A realistic campaign's events with its first KOC (default KOC list)
    renamed HOSTILE on every event naming it: the file and that user's id.
    Names play no part in the analysis, so a scratch store finds the KOC."""
    events, truth = generate_campaign(users=3000, seed=5)
    scratch = work / "scratch.csv"
    write_campaign(events, truth, scratch, "csv")
    with EmbeddedStore(work / "scratch.duckdb", memory_limit="512MB") as store:
        ingest_file(store, scratch, quarantine=Quarantine(work / "q0.csv"))
        snapshot = analyze(store)
        store.save_snapshot(snapshot.to_saved())
        first = choose_kocs(store, store.latest_snapshot(), KocParams()).rows[0].user_id
    named = pc.if_else(
        pc.and_(pc.equal(events["invitee_id"], first), pc.is_valid(events["invitee_name"])),
        pa.scalar(HOSTILE),
        events["invitee_name"],
    )
    events = events.set_column(events.column_names.index("invitee_name"), "invitee_name", named)
    path = work / "events.csv"
    write_campaign(events, truth, path, "csv")
    return path, first


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """`koc serve` on the analysed campaign: its URL, the hostile KOC's id
    and the event log (the oracle's)."""
    work = tmp_path_factory.mktemp("pages")
    path, hostile = _campaign(work)
    store_path = work / "store.duckdb"
    with EmbeddedStore(store_path, memory_limit="512MB") as store:
        ingest_file(store, path, quarantine=Quarantine(work / "q.csv"))
        store.save_snapshot(analyze(store).to_saved())
        log = oracle.Log(store.connection.sql("SELECT * FROM events").df())
    env = {"KOC_STORE_URL": str(store_path), "KOC_API_KEYS": ""}
    with koc_serve(env, "--no-access-log") as served:
        yield {"base": served.base, "hostile": hostile, "log": log}


def get(site, path: str, lang: str, **params) -> dict:
    answer = httpx.get(
        f"{site['base']}{path}",
        params=params,
        headers={"Accept-Language": ACCEPT[lang]},
        timeout=60,
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


@pytest.fixture
def open_page(browser, site, tmp_path, request):
    """open_page(path, lang) -> a page on `path` in that language (the
    browser's Accept-Language), once its data is drawn; it records dialogs,
    script errors and requests, and leaves a screenshot."""
    opened = []

    def open_(path: str, lang: str):
        page = recorded_page(browser, f"{site['base']}{path}", locale=ACCEPT[lang].split(",")[0])
        opened.append(page)
        return page

    yield open_
    for i, page in enumerate(opened):
        close_recorded(page, tmp_path / f"{request.node.name}-{i}.png")
        assert page.dialogs == []  # no alert(1) ran
        assert all(url.startswith(site["base"]) for url in page.requests), page.requests


def shown(kind: str, value) -> str:
    """A KPI as the page writes it (static/i18n.js's fmt, Babel's here)."""
    if value is None:
        return "-"
    return {"count": f.count, "rate": f.percent, "money": f.money}[kind](value)


def save_screenshot(page, name: str) -> None:
    if os.environ.get("KOC_SCREENSHOTS") == "docs":
        DOCS_IMG.mkdir(exist_ok=True)
        page.screenshot(path=str(DOCS_IMG / name), full_page=name.startswith("dashboard"))


@pytest.mark.parametrize("lang", LANGS)
def test_the_dashboard_shows_the_apis_numbers_which_are_the_event_logs(open_page, site, lang):
    page = open_page("/dashboard", lang)
    board = get(site, "/v1/dashboard", lang)
    expected = oracle.kpis(
        site["log"], None, date.fromisoformat(board["since"]), date.fromisoformat(board["until"])
    )
    cards = page.evaluate(
        """() => [...document.querySelectorAll('#kpis .kpi')].map(
               c => [c.dataset.kpi, c.querySelector('.total').textContent])"""
    )
    assert [key for key, _ in cards] == list(KINDS)
    with use_lang(lang):
        for key, text in cards:
            assert text == shown(KINDS[key], board["kpis"][key]["total"]), key
            assert board["kpis"][key]["total"] == pytest.approx(expected[key]["total"], abs=0.006)
    assert expected["joins"]["total"] > 100  # a campaign, not zeros
    assert page.get_attribute("#review-queue", "data-value") == str(board["review_queue"])
    # The chart draws the API's days, one line per count, in the page's words.
    option = page.evaluate(
        """() => { const o = window.dashboard.charts['daily-chart'].getOption();
                   return {series: o.series.map(s => s.data), legend: o.legend[0].data,
                           days: o.xAxis[0].data.length}; }"""
    )
    keys = ["joins", "referred_joins", "churned", "conversions"]
    assert option["series"] == [[d[k] for d in board["daily"]] for k in keys]
    assert option["days"] == len(board["daily"])
    funnel = page.evaluate(
        "window.dashboard.charts['funnel-chart'].getOption().series[0].data.map(d => d.value)"
    )
    assert funnel == [t["users"] for t in board["funnel"]]
    if lang == "zh":
        assert option["legend"] == ["新增", "裂变新增", "流失", "转化"]
    # The leaderboards, row by row.
    for table, rows, key in (
        ("channels", board["channels"], "channel"),
        ("staff", board["staff"], "staff_id"),
    ):
        first = page.locator(f"#{table} tbody tr").all_inner_texts()
        assert len(first) == len(rows) > 0
        named = [r[key] for r in rows if r[key] is not None]
        assert named == [
            t.split("\t")[0] for t, r in zip(first, rows, strict=True) if r[key] is not None
        ]
    save_screenshot(page, f"dashboard-{lang}.png")


@pytest.mark.parametrize("lang", LANGS)
def test_a_hostile_name_stays_text_and_a_koc_row_opens_the_explorer(open_page, site, lang):
    page = open_page("/dashboard", lang)
    board = get(site, "/v1/dashboard", lang)
    assert board["top_kocs"][0]["user_id"] == site["hostile"]
    assert board["top_kocs"][0]["name"] == HOSTILE
    first = page.locator("#top-kocs tbody tr").first.locator("a")
    assert first.inner_text() == HOSTILE and first.get_attribute("title") == site["hostile"]
    assert page.locator("img[src=x]").count() == 0
    first.click()
    page.wait_for_url(re.compile(r"/explorer\?user="))
    page.wait_for_function(
        "id => document.getElementById('details-id')?.textContent === id", arg=site["hostile"]
    )
    assert page.inner_text("#details-name") == HOSTILE
    assert page.get_attribute("body", "data-view") == "ego"
    assert page.evaluate("window.explorer.network.getSelectedNodes()") == [site["hostile"]]
    tip = page.evaluate(f"window.explorer.nodes.get({site['hostile']!r}).title.textContent")
    assert tip.startswith(HOSTILE + "\n")
    assert page.locator("img[src=x]").count() == 0
    # Found again by its name in the search box, its referral tree drawn.
    page.click("#show-tree")
    page.wait_for_selector("body[data-view='tree']")
    tree = get(
        site, "/v1/explorer/view", lang, view="tree", user_id=site["hostile"], depth=3, limit=600
    )
    assert sorted(page.evaluate("window.explorer.nodes.getIds()")) == sorted(
        n["id"] for n in tree["nodes"]
    )
    page.fill("#search", HOSTILE)
    page.click("#search-form button")
    page.wait_for_selector("body[data-view='ego']")
    assert page.locator("img[src=x]").count() == 0
    page.wait_for_timeout(300)


def test_a_channel_row_opens_its_campaigns_referrers_in_the_explorer(open_page, site):
    page = open_page("/dashboard?lang=en", "en")
    board = get(site, "/v1/dashboard", "en")
    page.locator("#channels tbody tr").first.locator("a").click()
    page.wait_for_url(re.compile(r"/explorer\?board=referrers"))
    page.wait_for_selector("#tab-referrers.active")
    page.wait_for_function(
        "() => document.querySelectorAll('#leaderboard tr[data-user]').length > 0"
    )
    assert page.input_value("#since") == board["since"]
    assert page.input_value("#until") == board["until"]
    top = get(
        site,
        "/v1/referrers/top",
        "en",
        by="effective_invites",
        limit=20,
        since=board["since"],
        until=_day_after(board["until"]),
    )
    shown_ids = page.evaluate(
        "[...document.querySelectorAll('#leaderboard tr')].map(r => r.dataset.user)"
    )
    assert shown_ids == [r["id"] for r in top["items"]]


def _day_after(day: str) -> str:
    return date.fromordinal(date.fromisoformat(day).toordinal() + 1).isoformat()


def test_a_table_downloads_as_csv_in_the_pages_language(open_page, site):
    page = open_page("/dashboard", "zh")
    board = get(site, "/v1/dashboard", "zh")
    with page.expect_download() as download:
        page.click("[data-table=channels] button[data-format=csv]")
    got = download.value
    assert got.suggested_filename == f"dashboard-channels-{board['since']}-{board['until']}.csv"
    text = Path(got.path()).read_bytes().decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert len(rows) == 1 + len(board["channels"])
    assert re.search(r"[\u4e00-\u9fff]", rows[0][0])  # Chinese headers


def test_the_language_switch_keeps_the_place(open_page, site):
    page = open_page("/dashboard", "en")
    board = get(site, "/v1/dashboard", "en")
    campaign = board["campaigns"][0]
    page.select_option("#campaign", campaign)
    page.wait_for_function(
        "c => new URL(location.href).searchParams.get('campaign') === c", arg=campaign
    )
    page.wait_for_selector("body[data-ready='1']")
    assert page.inner_text("h1") == "Campaign dashboard"
    page.click("nav.langs a[hreflang=zh-CN]")
    page.wait_for_selector("html[lang=zh-CN]")
    page.wait_for_selector("body[data-ready='1']")
    assert page.inner_text("h1") == "活动看板"
    assert page.input_value("#campaign") == campaign
    assert page.locator("#kpis .kpi h3").first.inner_text() == "新增"
    # The choice is remembered: the explorer opens in Chinese too.
    page.click("header nav a[href='/explorer']")
    page.wait_for_selector("body[data-ready='1']")
    assert page.get_attribute("html", "lang") == "zh-CN"
    assert page.inner_text("#tab-kocs") == "头部 KOC"


def _latin_words(text: str, data: set[str]) -> set[str]:
    """The Latin words of `text` once the data's own strings are taken out."""
    for known in sorted(data, key=len, reverse=True):
        text = text.replace(known, " ")
    return set(re.findall(r"[A-Za-z]+", text)) - LATIN_OK


def _data_strings(board: dict, views: list[dict], users: list[dict], kocs: dict) -> set[str]:
    data = set(board["campaigns"])
    data |= {r["channel"] for r in board["channels"] if r["channel"]}
    data |= {r["staff_id"] for r in board["staff"] if r["staff_id"]}
    for r in [*board["top_kocs"], *kocs["items"]]:
        data |= {r["user_id"], r.get("name") or ""}
    for view in views:
        data |= {n["id"] for n in view["nodes"]} | {n.get("name") or "" for n in view["nodes"]}
    for user in users:
        data |= {user["id"], user.get("name") or "", *user["chain"]}
        data |= {n for n in user.get("chain_names") or [] if n}
    return data - {""}


def test_the_chinese_pages_show_no_english_word(open_page, site):
    board = get(site, "/v1/dashboard", "zh")
    kocs = get(site, "/v1/kocs", "zh", k=20)
    dashboard = open_page("/dashboard", "zh")
    hostile = site["hostile"]
    explorer = open_page(f"/explorer?user={hostile}", "zh")
    explorer.wait_for_function(
        "id => document.getElementById('details-id')?.textContent === id", arg=hostile
    )
    views = [
        get(site, "/v1/explorer/view", "zh"),
        get(site, "/v1/explorer/view", "zh", view="ego", user_id=hostile, hops=2, limit=300),
    ]
    users = [get(site, f"/v1/users/{hostile}", "zh")]
    data = _data_strings(board, views, users, kocs)
    for page in (dashboard, explorer):
        text = page.evaluate("document.body.innerText")
        assert not _latin_words(text, data), (page.url, _latin_words(text, data))
        assert "社群" not in text
    assert "关系圈" in explorer.evaluate("document.body.innerText")
    # The charts' words, which are drawn, not text.
    words = dashboard.evaluate(
        """() => { const d = window.dashboard.charts['daily-chart'].getOption();
                   const f = window.dashboard.charts['funnel-chart'].getOption();
                   return [...d.legend[0].data, ...d.xAxis[0].data,
                           ...f.series[0].data.map(x => x.name)].join(' '); }"""
    )
    assert not _latin_words(words, set()), words
    if os.environ.get("KOC_SCREENSHOTS") == "docs":
        # The README's pictures: the explorer on the second KOC, in both languages.
        second = board["top_kocs"][1]["user_id"]
        for lang in LANGS:
            page = open_page(f"/explorer?user={second}", lang)
            page.wait_for_function(
                "id => document.getElementById('details-id')?.textContent === id", arg=second
            )
            save_screenshot(page, f"explorer-{lang}.png")
