"""Benchmark: the explorer page with 1M users loaded — how long until a
1,500-node view is drawn and answers a click, in headless Chromium (Debian's
package, driven by Playwright) on this machine.

    python bench/explorer_page.py               # 1M users
    python bench/explorer_page.py --users 100k

The store is a copy of bench/analyze.py's analysed store; `koc serve` serves
it (warm-up off, so the first view is measured cold). Each run opens the page
fresh and reads the page's performance marks:

- server: the view request's time to first byte (the KOC picks, the 1-2 hop
  neighbourhoods, the layout; cached after the first run);
- download + parse, add to vis-network's data sets, first paint;
- a click on a node until its details are shown (the page is interactive).

Target (issue 7): a 1,500-node view interactive within 3 s.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from serving import analysed_copy, served  # noqa: E402

CHROMIUM = os.environ.get("KOC_TEST_CHROMIUM", "/usr/bin/chromium")
# The 1M warm-up (snapshot, default KOC list, default view) takes about 10 s.
WARM_UP_WAIT_S = 25


def run(page_url: str, browser) -> dict:
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    started = time.perf_counter()
    page.goto(page_url)
    page.wait_for_selector("body[data-ready='1']", timeout=300_000)
    page.wait_for_function("performance.getEntriesByName('view-painted').length > 0")
    drawn = time.perf_counter() - started
    marks = page.evaluate(
        "Object.fromEntries(performance.getEntriesByType('mark').map(m => [m.name, m.startTime]))"
    )
    timing = page.evaluate(
        """() => { const r = performance.getEntriesByType('resource')
                     .find(e => e.name.includes('/v1/explorer/view'));
                   return {ttfb: r.responseStart - r.requestStart,
                           download: r.responseEnd - r.responseStart,
                           bytes: r.encodedBodySize}; }"""
    )
    nodes = int(page.get_attribute("body", "data-nodes"))
    # interactive: click the first KOC and wait for its details
    koc = page.evaluate("window.explorer.nodes.get().find(n => n.raw.koc).id")
    box = page.locator("#graph").bounding_box()
    dom = page.evaluate(
        f"""() => {{ const p = window.explorer.network.getPositions([{koc!r}])[{koc!r}];
                     return window.explorer.network.canvasToDOM(p); }}"""
    )
    # nodes overlap at a hub: whichever the click lands on must answer
    hit = page.evaluate(f"window.explorer.network.getNodeAt({json.dumps(dom)})") or koc
    clicked = time.perf_counter()
    page.mouse.click(box["x"] + dom["x"], box["y"] + dom["y"])
    try:
        page.wait_for_function(
            "id => document.getElementById('details-id')?.textContent === id", arg=hit
        )
    except Exception:
        details = page.inner_text("#details")[:300]
        raise SystemExit(f"clicked {hit!r}; the details say: {details!r}") from None
    click_s = time.perf_counter() - clicked
    page.close()
    return {
        "nodes": nodes,
        "to_drawn_s": round(drawn, 2),
        "server_ttfb_s": round(timing["ttfb"] / 1000, 2),
        "download_s": round(timing["download"] / 1000, 3),
        "view_kb": round(timing["bytes"] / 1024),
        # vis-network paints while the data sets fill, so the two are one stage
        "add_and_paint_s": round(
            (max(marks["view-added"], marks["view-painted"]) - marks["view-received"]) / 1000, 3
        ),
        "click_to_details_s": round(click_s, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", default="1m")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--warm", action="store_true", help="server as deployed: warm-up on, measured after it"
    )
    parser.add_argument("--workdir", type=Path, default=Path("bench/out"))
    args = parser.parse_args()
    env = {"KOC_API_KEYS": "", "KOC_WARM_UP": "true" if args.warm else "false"}
    with (
        analysed_copy(args.workdir, args.users, "explorer") as store,
        served(store, env, "--no-access-log") as server,
    ):
        if args.warm:
            time.sleep(WARM_UP_WAIT_S)
        from playwright.sync_api import sync_playwright

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            for n in range(args.runs):
                row = run(f"http://127.0.0.1:{server.port}/explorer", browser)
                first = "after warm-up" if args.warm else "cold"
                server_state = first if n == 0 else "cached"
                row = {"users": args.users, "run": n + 1, "server": server_state, **row}
                print(json.dumps(row), flush=True)
            browser.close()


if __name__ == "__main__":
    main()
