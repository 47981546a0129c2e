"""The embedded store's campaign dashboard read (`Store.campaign_facts`): a
window's first joins, one row a user, and its other events counted per
calendar day, as SQL over the event log and the derived tables."""

from __future__ import annotations

import duckdb

from graph.embedded_reads import window_filter
from graph.store import CampaignFacts, Window

# The first join of every user who joined in the window (the attributed join:
# earliest, then smallest event_id, as graph.derive's `referred`), kept when
# its campaign passes the filter: `referred` holds it when it names an
# inviter; the log, for the few without one (searched among the window's
# joins only: the first join is one of them). Its tier counts the REFERRED
# edges above the user, no edge twice (a referral loop ends the count), at
# most three.
_JOINS = """
WITH firsts AS (
    SELECT invitee_id AS user_id, "at" AS occurred_at, referrer_id AS inviter_id, campaign,
        channel, staff_id
    FROM referred WHERE "at" >= $since AND "at" < $until
    UNION ALL
    SELECT invitee_id, occurred_at, inviter_id, campaign, channel, staff_id FROM events
    WHERE type = 'join' AND occurred_at >= $since AND occurred_at < $until
      AND invitee_id IN (SELECT id FROM users
                         WHERE joined_at >= $since AND joined_at < $until
                           AND referred_by IS NULL)
    QUALIFY row_number() OVER (PARTITION BY invitee_id ORDER BY occurred_at, event_id) = 1
), bought AS (
    SELECT invitee_id, min(occurred_at) AS first_at FROM events e
    WHERE type = 'convert' AND {where}
    GROUP BY invitee_id
)
SELECT f.user_id, timezone($zone, f.occurred_at)::DATE AS day, f.inviter_id, f.channel,
    f.staff_id,
    (CASE WHEN f.inviter_id IS NULL THEN 0
          WHEN up2.referrer_id IS NULL THEN 1
          WHEN up3.referrer_id IS NULL OR up2.referrer_id = f.user_id THEN 2
          ELSE 3 END)::TINYINT AS tier,
    timezone($zone, b.first_at)::DATE AS converted_day
FROM firsts f
LEFT JOIN referred up2 ON up2.invitee_id = f.inviter_id
LEFT JOIN referred up3 ON up3.invitee_id = up2.referrer_id
LEFT JOIN bought b ON b.invitee_id = f.user_id
WHERE true {campaign}
"""

_DAYS = """
WITH ev AS (
    SELECT type, inviter_id, amount, timezone($zone, occurred_at)::DATE AS day
    FROM events e WHERE {where}
), per_day AS (
    SELECT day,
        count(*) FILTER (WHERE type = 'churn') AS churned,
        count(*) FILTER (WHERE type = 'convert') AS conversions,
        coalesce(sum(amount) FILTER (WHERE type = 'convert'), 0)::DOUBLE AS gmv,
        count(DISTINCT inviter_id) FILTER (WHERE type IN ('invite', 'join')) AS sharers
    FROM ev GROUP BY day
), lasts AS (
    SELECT day, count(*) AS last_shared FROM (
        SELECT max(day) AS day FROM ev
        WHERE type IN ('invite', 'join') AND inviter_id IS NOT NULL
        GROUP BY inviter_id)
    GROUP BY day
)
SELECT p.day, p.churned, p.conversions, p.gmv, p.sharers,
    coalesce(l.last_shared, 0) AS last_shared
FROM per_day p LEFT JOIN lasts l ON l.day = p.day
ORDER BY p.day
"""


def campaign_facts(con: duckdb.DuckDBPyConnection, window: Window, zone: str) -> CampaignFacts:
    """`Store.campaign_facts`, both reads in one transaction so a batch
    committed meanwhile is in both or neither."""
    where, params = window_filter(window)
    params["zone"] = zone
    campaign = "AND list_contains($campaigns::VARCHAR[], f.campaign)" if window.campaigns else ""
    con.execute("BEGIN TRANSACTION")
    try:
        joins = con.sql(
            _JOINS.format(where=where, campaign=campaign), params=params
        ).to_arrow_table()
        days = con.sql(_DAYS.format(where=where), params=params).to_arrow_table()
    finally:
        con.execute("COMMIT")
    return CampaignFacts(joins=joins, days=days)
