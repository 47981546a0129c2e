"""The Cypher of `Store.live_facts` (graph.neo4j_store): the whole graph and
the convert events, all time, re-exported by `graph.cypher`.

Each is a paged columnar read (USER_PAGE: a page of users in id order, one
record of lists a page, times as epoch microseconds). `collect` drops nulls,
so where a column may hold one (a campaign, a period still open) the rows
are collected as lists and taken apart again, keeping the columns aligned.
The INVITED ties are `graph.cypher`'s READ_INVITED_TIES.
"""

from __future__ import annotations

from graph.cypher_window import OPEN_PERIOD_END, USER_PAGE
from graph.cypher_window import micros as _micros

LIVE_USERS = f"""
{USER_PAGE}
RETURN page[-1].id AS last,
    [u IN page | u.id] AS id,
    [u IN page | {_micros("u.first_seen")}] AS first_seen,
    [u IN page | {_micros("u.joined_at")}] AS joined_at,
    [u IN page | u.referred_by] AS referred_by,
    [u IN page | {_micros("u.converted_at")}] AS converted_at,
    [u IN page | coalesce(u.amount, 0.0)] AS amount,
    [u IN page | {_micros("u.churned_at")}] AS churned_at,
    [u IN page | u.name] AS name
"""

LIVE_REFERRED = f"""
{USER_PAGE}
CALL (page) {{
    UNWIND page AS b
    MATCH (a:User)-[r:REFERRED]->(b)
    RETURN collect([a.id, b.id, {_micros("r.at")}, r.campaign]) AS rows
}}
RETURN page[-1].id AS last,
    [x IN rows | x[0]] AS referrer_id, [x IN rows | x[1]] AS invitee_id,
    [x IN rows | x[2]] AS at, [x IN rows | x[3]] AS campaign
"""

# One row per churn period (graph.derive's `churns`), kept on the user as
# `away_from` / `away_until`; an open period (still away) ends at
# OPEN_PERIOD_END there and is null here.
LIVE_CHURNS = f"""
{USER_PAGE}
CALL (page) {{
    UNWIND page AS u
    WITH u WHERE u.away_from IS NOT NULL
    UNWIND range(0, size(u.away_from) - 1) AS i
    WITH u.id AS id, {_micros("u.away_from[i]")} AS since, {_micros("u.away_until[i]")} AS until
    RETURN collect([id, since, CASE WHEN until = {OPEN_PERIOD_END} THEN null ELSE until END])
        AS rows
}}
RETURN page[-1].id AS last,
    [x IN rows | x[0]] AS user_id, [x IN rows | x[1]] AS churned_at,
    [x IN rows | x[2]] AS returned_at
"""

# Every convert event, found through its invitee (the event_invitee index):
# each event's invitee is a user.
LIVE_CONVERTS = f"""
{USER_PAGE}
CALL (page) {{
    UNWIND page AS b
    MATCH (e:Event {{invitee_id: b.id}})
    WHERE e.type = 'convert'
    RETURN collect([b.id, {_micros("e.occurred_at")}, e.campaign]) AS rows
}}
RETURN page[-1].id AS last,
    [x IN rows | x[0]] AS invitee_id, [x IN rows | x[1]] AS occurred_at,
    [x IN rows | x[2]] AS campaign
"""
