"""The store contract for windows given in another time zone: the API and
the CLI read naive times in the configured zone (a `ZoneInfo`), so a store
must answer for the instant, whatever zone names it.

Last in the package on purpose: with the Neo4j driver, a `ZoneInfo`
datetime sent as a query parameter can crash the Python process, which
would take the tests after it down too."""

from __future__ import annotations

from datetime import timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from graph.store import Window
from tests.conftest import HEADER
from tests.graph.contract.reads import referred, top, users
from tests.graph.contract.test_windows import EVENTS, EXPECTED

ZONES = {"Asia/Shanghai": ZoneInfo("Asia/Shanghai"), "UTC+8": timezone(timedelta(hours=8))}


@pytest.mark.parametrize("zone", ZONES)
@pytest.mark.parametrize("name", ["June", "one day of June, bounds", "618"])
def test_windows_in_another_zone_mean_the_same_instants(feed, zone, name):
    feed.load(EVENTS, [*HEADER, "device_id"])
    want = EXPECTED[name]
    utc_window = want["window"]
    window = Window(
        since=utc_window.since and utc_window.since.astimezone(ZONES[zone]),
        until=utc_window.until and utc_window.until.astimezone(ZONES[zone]),
        campaigns=utc_window.campaigns,
    )
    assert window == utc_window  # the same instants, named in another zone
    tables = feed.store.read_graph(window)
    assert (users(tables), referred(tables)) == (want["users"], want["referred"])
    assert top(feed.store, window) == want["top"]
    assert feed.store.referrer_count(window) == len(want["top"])
