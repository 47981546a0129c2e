"""A re-sent event id with other content through the API: reported and
quarantined, never applied."""

from __future__ import annotations

import csv
import json

from tests.api.conftest import ADMIN
from tests.api.test_app import event, service


def test_a_resent_id_with_another_amount_is_a_conflict_not_a_duplicate(client):
    order = {**event(1, None, "api-buyer", kind="convert"), "amount": "10"}
    first = client.post("/v1/events", json=[order], headers=ADMIN).json()
    assert first["accepted"] == 1 and first["conflicts"] == 0
    resent = [{**order, "amount": "5000000", "inviter_id": "api-other"}, order]
    report = client.post("/v1/events", json=resent, headers=ADMIN).json()
    assert (report["accepted"], report["duplicates"], report["conflicts"]) == (0, 1, 1)
    assert report["rejected"] == 0
    (shown,) = report["rejections"]
    assert shown["line"] == 1 and shown["field"] == "event_id"
    assert "with a different inviter_id, amount" in shown["reason"]
    with open(report["quarantine"], encoding="utf-8-sig", newline="") as f:
        (row,) = list(csv.DictReader(f))
    versions = json.loads(row["row"])
    assert (float(versions["stored"]["amount"]), float(versions["received"]["amount"])) == (
        10.0,
        5_000_000.0,
    )
    assert service(client).store.user("api-buyer").amount == 10.0
