"""The Cypher of `Store.campaign_facts` (graph.neo4j_store, through
graph.neo4j_dashboard), re-exported by `graph.cypher`: the embedded store's
graph.embedded_dashboard, statement for statement.

- CAMPAIGN_JOINS: a paged columnar read (USER_PAGE): of each page, the users
  whose first join lies in the window — that join (earliest, then smallest
  id: the attributed join), kept when its campaign passes the filter, with
  the REFERRED edges above the user (a path uses no edge twice, so a loop
  ends the count; at most three) and the user's first convert in the window.
  Times as epoch microseconds; the caller makes them calendar days.
- CAMPAIGN_DAYS, CAMPAIGN_LAST_SHARED: the window's events counted per
  calendar day in `$zone`, the day as text (YYYY-MM-DD).
"""

from __future__ import annotations

from graph.cypher_window import USER_PAGE, micros, window

CAMPAIGN_JOINS = f"""
{USER_PAGE}
CALL (page) {{
    UNWIND page AS u
    WITH u WHERE u.joined_at >= $since AND u.joined_at < $until
    CALL (u) {{
        MATCH (e:Event {{invitee_id: u.id}})
        WHERE e.type = 'join'
        RETURN e ORDER BY e.occurred_at, e.id LIMIT 1
    }}
    WITH u, e
    WHERE e.occurred_at >= $since AND e.occurred_at < $until
      AND ($campaigns IS NULL OR e.campaign IN $campaigns)
    CALL (u) {{
        OPTIONAL MATCH (c:Event {{invitee_id: u.id}})
        WHERE c.type = 'convert' AND {window("c.occurred_at", "c.campaign")}
        RETURN min(c.occurred_at) AS bought
    }}
    WITH u, e, bought,
        CASE WHEN e.inviter_id IS NULL THEN 0
             ELSE COUNT {{ (:User)-[:REFERRED*1..3]->(u) }} END AS tier
    RETURN collect([u.id, {micros("e.occurred_at")}, e.inviter_id, e.channel, e.staff_id, tier,
                    {micros("bought")}]) AS rows
}}
RETURN page[-1].id AS last,
    [x IN rows | x[0]] AS user_id, [x IN rows | x[1]] AS at, [x IN rows | x[2]] AS inviter_id,
    [x IN rows | x[3]] AS channel, [x IN rows | x[4]] AS staff_id, [x IN rows | x[5]] AS tier,
    [x IN rows | x[6]] AS converted_at
"""

_LOCAL_DAY = "toString(date(datetime({{datetime: {t}, timezone: $zone}})))"

CAMPAIGN_DAYS = f"""
MATCH (e:Event)
WHERE {window("e.occurred_at", "e.campaign")}
WITH {_LOCAL_DAY.format(t="e.occurred_at")} AS day, e
WITH day,
    sum(CASE WHEN e.type = 'churn' THEN 1 ELSE 0 END) AS churned,
    sum(CASE WHEN e.type = 'convert' THEN 1 ELSE 0 END) AS conversions,
    sum(CASE WHEN e.type = 'convert' THEN coalesce(e.amount, 0.0) ELSE 0.0 END) AS gmv,
    count(DISTINCT CASE WHEN e.type IN ['invite', 'join'] THEN e.inviter_id END) AS sharers
RETURN day, churned, conversions, gmv, sharers
ORDER BY day
"""

# Each inviter of the window on the last day it shared (a later local time
# is a later or the same local day).
CAMPAIGN_LAST_SHARED = f"""
MATCH (e:Event)
WHERE e.type IN ['invite', 'join'] AND e.inviter_id IS NOT NULL
  AND {window("e.occurred_at", "e.campaign")}
WITH e.inviter_id AS inviter, max(e.occurred_at) AS last
WITH {_LOCAL_DAY.format(t="last")} AS day, count(*) AS last_shared
RETURN day, last_shared
ORDER BY day
"""
