"""The explorer page in a real browser: Debian's headless Chromium, driven by
Playwright, against `koc serve` on an analysed campaign. Each test saves a
screenshot in its temporary folder."""

from __future__ import annotations

import shutil

import httpx
import pytest

from graph.analysis.snapshot import analyze
from graph.embedded import EmbeddedStore
from graph.ingest import ingest_file
from graph.store import Window
from loaders.quarantine import Quarantine
from tests.api.conftest import close_recorded, koc_serve, needs_chromium, recorded_page
from tests.conftest import write_csv

HOSTILE = "<img src=x onerror=alert(1)>"
MINUS = "\u2212"  # how the explorer signs a part that lowers the score

pytestmark = needs_chromium


@pytest.fixture(scope="module")
def server(tmp_path_factory, analysed_store):
    """`koc serve` on a copy of the analysed store, with a hostile user id
    referred by the campaign's top referrer."""
    work = tmp_path_factory.mktemp("explorer")
    store_path = work / "store.duckdb"
    shutil.copy(analysed_store, store_path)
    store = EmbeddedStore(store_path, memory_limit="512MB")
    top = store.top_referrers(Window(), "invites", 1)
    referrer = top["id"][0].as_py()
    rows = [["hostile-1", "join", referrer, HOSTILE, "2026-06-01 10:00:00", "", ""]]
    ingest_file(store, write_csv(work / "hostile.csv", rows), quarantine=Quarantine(work / "q.csv"))
    store.save_snapshot(analyze(store).to_saved())
    store.close()
    env = {"KOC_STORE_URL": str(store_path), "KOC_API_KEYS": ""}
    with koc_serve(env, "--no-access-log") as served:
        yield {"base": served.base, "referrer": referrer}


@pytest.fixture
def page(browser, server, tmp_path, request):
    """A fresh page on the explorer; every request it makes is recorded."""
    page = recorded_page(browser, f"{server['base']}/explorer")
    yield page
    close_recorded(page, tmp_path / f"{request.node.name}.png")


def view_json(server, **params) -> dict:
    return httpx.get(f"{server['base']}/v1/explorer/view", params=params, timeout=60).json()


def test_the_page_loads_from_this_server_only_and_draws_the_view(page, server):
    assert all(url.startswith(server["base"]) for url in page.requests), page.requests
    expected = view_json(server, view="searchlight")
    drawn = page.evaluate("window.explorer.nodes.getIds()")
    assert sorted(drawn) == sorted(n["id"] for n in expected["nodes"])
    assert page.get_attribute("body", "data-nodes") == str(expected["showing"])
    assert f"showing {expected['showing']:,} of {expected['total']:,}" in page.inner_text("#status")
    # KOCs ringed, INVITED dashed, arrows to the invitee
    koc = next(n["id"] for n in expected["nodes"] if n["koc"])
    assert page.evaluate(f"window.explorer.nodes.get({koc!r}).borderWidth") == 5
    drawn_edges = page.evaluate("window.explorer.edges.get().map(e => [e.id, e.dashes, e.arrows])")
    dashed = {i for i, dashes, _ in drawn_edges if dashes}
    assert dashed == {
        f"INVITED:{e['source']}->{e['target']}" for e in expected["edges"] if e["kind"] == "INVITED"
    }
    assert all(arrows == "to" for _, _, arrows in drawn_edges)
    canvas = page.locator("#graph canvas")
    assert canvas.count() == 1 and canvas.bounding_box()["width"] > 500
    assert page.locator("#leaderboard tr").count() == 20


def test_search_focuses_a_user(page, server):
    page.fill("#search", server["referrer"])
    page.click("#search-form button")
    page.wait_for_selector("body[data-view='ego']")
    page.wait_for_function(
        "id => document.getElementById('details-id')?.textContent === id", arg=server["referrer"]
    )
    assert page.evaluate("window.explorer.network.getSelectedNodes()") == [server["referrer"]]
    assert "Referral chain" in page.inner_text("#details")
    # The learned score explained: its horizon, the baseline, each part with its sign.
    user = httpx.get(f"{server['base']}/v1/users/{server['referrer']}", timeout=60).json()
    assert user["score_kind"] == "learned"
    shown = [p for p in user["score"] if abs(p["points"]) >= 0.05]
    assert shown[0]["points"] > 0 and shown[-1]["points"] < 0  # raised and lowered
    signed = [
        f"{p['label']}: {'+' if p['points'] > 0 else MINUS}{abs(p['points']):.1f}" for p in shown
    ]
    still = len(user["score"]) - len(shown)
    text = [line for line in page.inner_text("#score-explanation").splitlines() if line]
    assert text[1:] == [
        "Learned score: predicts the next 30 days",
        f"baseline: {user['score_baseline']:.1f} (the same for everyone)",
        *signed,
        *([f"{still} other features: about 0"] if still else []),
    ]
    # Its second answer, who will bring the most users themselves, beside it.
    sharing = user["metrics"]["sharing_score"]
    details = page.inner_text("#details")
    assert sharing > 0 and f"Sharing score (own invites next)\n{sharing:.1f}" in details


def test_clicking_a_node_expands_it(page, server):
    page.evaluate("window.explorer.loadView('community', {community: 0})")
    page.wait_for_selector("body[data-view='community']")
    before = page.evaluate("window.explorer.nodes.length")
    # the node with most ties outside the view: clicking it must bring some in
    target = page.evaluate(
        """() => { const ids = window.explorer.nodes.getIds();
                    const pos = window.explorer.network.getPositions(ids);
                    return ids.map(id => [id, pos[id]]); }"""
    )
    expanded = None
    box = page.locator("#graph").bounding_box()
    for uid, _ in target[:10]:
        page.evaluate(f"window.explorer.network.focus({uid!r}, {{scale: 1.5, animation: false}})")
        dom = page.evaluate(
            f"""() => {{ const p = window.explorer.network.getPositions([{uid!r}])[{uid!r}];
                         return window.explorer.network.canvasToDOM(p); }}"""
        )
        page.mouse.click(box["x"] + dom["x"], box["y"] + dom["y"])
        page.wait_for_function(
            "id => document.getElementById('details-id')?.textContent === id", arg=uid
        )
        page.wait_for_function(
            "() => /expanded/.test(document.getElementById('status').textContent)"
        )
        if page.evaluate("window.explorer.nodes.length") > before:
            expanded = uid
            break
    assert expanded is not None
    network = httpx.get(f"{server['base']}/v1/users/{expanded}/network?hops=1&limit=200").json()
    drawn = set(page.evaluate("window.explorer.nodes.getIds()"))
    assert {n["id"] for n in network["nodes"]} <= drawn


def test_a_filter_changes_the_view(page, server):
    before = int(page.get_attribute("body", "data-nodes"))
    page.fill("#min-score", "60")
    page.uncheck("#show-flagged")
    page.click("#apply")
    page.wait_for_function(f"() => document.body.dataset.nodes !== '{before}'")
    shown = page.evaluate("window.explorer.nodes.get().map(n => n.raw)")
    assert 0 < len(shown) < before
    assert all(n["koc"] or (n["koc_score"] >= 60 and not n["flagged"]) for n in shown)
    page.check("input[name=view][value=map]")
    page.wait_for_selector("body[data-view='map']")
    assert page.evaluate("window.explorer.nodes.getIds()")[0].startswith("community ")
    # Circles of one or two users are counted in a note, not drawn.
    atlas = view_json(server, view="map", min_score=60, show_flagged="false")
    assert atlas["note"] and page.inner_text("#view-note") == atlas["note"]
    assert page.evaluate("window.explorer.nodes.length") == atlas["showing"]


def test_a_hostile_id_stays_text(page):
    page.fill("#search", HOSTILE)
    page.click("#search-form button")
    page.wait_for_function(
        "id => document.getElementById('details-id')?.textContent === id", arg=HOSTILE
    )
    assert page.locator("#details img").count() == 0
    assert page.locator("img[src=x]").count() == 0
    tip = page.evaluate(f"window.explorer.nodes.get({HOSTILE!r}).title.textContent")
    assert tip.startswith(HOSTILE)
    page.wait_for_timeout(300)
    assert page.dialogs == []  # no alert(1) ran
