"""The derived graph (DESIGN.md, "Graph model") from the event log, in SQL.

Both stores derive users, REFERRED edges and INVITED ties with these
statements: the embedded store on its own tables, the Neo4j store on a
local DuckDB holding the events of the users a batch touched (so the two
stores cannot disagree on what a log means).

- `referred`: the attributed first join of each invitee (earliest time, then
  smallest event_id), when that join names an inviter;
- `invited`: every other inviter-invitee pair from invites and joins;
- `users`: first seen (as invitee or inviter), joined, referred by,
  converted (earliest) with amounts summed, churned unless a join came
  after the last churn (the user came back), and its name: the
  `invitee_name` of its latest event that carries one (by time, then
  ingest order: batch, line), so a later event without a name keeps it;
- `churns`: every period a user was away, from a churn (the first of a
  run) to the next join after it (`returned_at`, null while still away), so
  a window ending inside a period reads the user as churned even after it
  came back (`CHURNED_AT_SQL`).
"""

from __future__ import annotations

import duckdb

# The derived tables, in the embedded store's column order.
DERIVED_TABLES = """
CREATE TABLE IF NOT EXISTS users (
    id VARCHAR NOT NULL, first_seen TIMESTAMPTZ NOT NULL, joined_at TIMESTAMPTZ,
    referred_by VARCHAR, converted_at TIMESTAMPTZ, amount DECIMAL(18, 4) NOT NULL,
    churned_at TIMESTAMPTZ,
    -- after churned_at: schema version 3 added it (graph.embedded_migrations)
    name VARCHAR
);
CREATE TABLE IF NOT EXISTS referred (
    referrer_id VARCHAR NOT NULL, invitee_id VARCHAR NOT NULL, event_id VARCHAR NOT NULL,
    "at" TIMESTAMPTZ NOT NULL, campaign VARCHAR, channel VARCHAR, staff_id VARCHAR
);
CREATE TABLE IF NOT EXISTS churns (
    user_id VARCHAR NOT NULL, churned_at TIMESTAMPTZ NOT NULL, returned_at TIMESTAMPTZ
);
CREATE TABLE IF NOT EXISTS invited (
    inviter_id VARCHAR NOT NULL, invitee_id VARCHAR NOT NULL, count BIGINT NOT NULL,
    first_at TIMESTAMPTZ NOT NULL, last_at TIMESTAMPTZ NOT NULL
);
"""

# Users away at the end of a window (`$until`): inside one of their churn periods.
CHURNED_AT_SQL = """SELECT DISTINCT user_id FROM churns
    WHERE churned_at < $until AND (returned_at IS NULL OR returned_at >= $until)"""

# A user's name over its events as invitee (grouped by invitee_id): the
# latest `invitee_name` given, by time, then ingest order (batch, line).
LATEST_NAME_SQL = """arg_max(invitee_name, (occurred_at, batch_id, line))
            FILTER (WHERE invitee_name IS NOT NULL)"""

# {invitees} / {users} filter the log to the touched ids, or are empty when
# the whole graph is derived; {as_inviter} is where first-as-inviter times
# come from (the log itself unless the caller has them aggregated).
_REFRESH = """
DELETE FROM referred WHERE invitee_id IN (SELECT id FROM scope_invitees);
INSERT INTO referred
SELECT inviter_id, invitee_id, event_id, occurred_at, campaign, channel, staff_id
FROM (
    SELECT * FROM events WHERE type = 'join' {invitees}
    QUALIFY row_number() OVER (PARTITION BY invitee_id ORDER BY occurred_at, event_id) = 1
)
WHERE inviter_id IS NOT NULL;

DELETE FROM invited WHERE invitee_id IN (SELECT id FROM scope_invitees);
INSERT INTO invited
SELECT e.inviter_id, e.invitee_id, count(*), min(e.occurred_at), max(e.occurred_at)
FROM events e
LEFT JOIN referred r ON r.invitee_id = e.invitee_id
WHERE e.type IN ('invite', 'join') AND e.inviter_id IS NOT NULL {e_invitees}
  AND (r.referrer_id IS NULL OR r.referrer_id <> e.inviter_id)
GROUP BY e.inviter_id, e.invitee_id;

DELETE FROM churns WHERE user_id IN (SELECT id FROM scope_users);
INSERT INTO churns
SELECT invitee_id, occurred_at, returned_at FROM (
    SELECT invitee_id, type, occurred_at,
        lag(type) OVER own AS previous,
        min(occurred_at) FILTER (WHERE type = 'join') OVER (own
            ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING) AS returned_at
    FROM events
    WHERE type IN ('join', 'churn') {users}
      AND invitee_id IN (SELECT invitee_id FROM events WHERE type = 'churn' {users})
    -- a join at the same instant as a churn comes before it: the churn wins
    WINDOW own AS (PARTITION BY invitee_id ORDER BY occurred_at, type = 'churn', event_id)
)
WHERE type = 'churn' AND previous IS DISTINCT FROM 'churn';

DELETE FROM users WHERE id IN (SELECT id FROM scope_users);
INSERT INTO users
WITH own AS (
    SELECT invitee_id AS id,
        min(occurred_at) AS first_as_invitee,
        min(occurred_at) FILTER (WHERE type = 'join') AS joined_at,
        max(occurred_at) FILTER (WHERE type = 'join') AS last_join,
        min(occurred_at) FILTER (WHERE type = 'convert') AS converted_at,
        coalesce(sum(amount) FILTER (WHERE type = 'convert'), 0) AS amount,
        max(occurred_at) FILTER (WHERE type = 'churn') AS last_churn,
        {LATEST_NAME_SQL} AS name
    FROM events WHERE true {users}
    GROUP BY invitee_id
), as_inviter AS ({as_inviter})
SELECT coalesce(o.id, i.id), least(o.first_as_invitee, i.first_as_inviter), o.joined_at,
    r.referrer_id, o.converted_at, coalesce(o.amount, 0),
    -- churned unless a join came after the last churn (the user came back)
    CASE WHEN o.last_churn IS NOT NULL AND (o.last_join IS NULL OR o.last_churn >= o.last_join)
         THEN o.last_churn END,
    o.name
FROM own o
FULL JOIN as_inviter i ON i.id = o.id
LEFT JOIN referred r ON r.invitee_id = coalesce(o.id, i.id);
"""

_AS_INVITER = """
    SELECT inviter_id AS id, min(occurred_at) AS first_as_inviter
    FROM events WHERE inviter_id IS NOT NULL {inviter_users}
    GROUP BY inviter_id"""

# Where the caller has first-as-inviter times aggregated elsewhere (the
# Neo4j store asks the server for them instead of every such event).
FROM_INVITER_FIRSTS = "SELECT id, first_as_inviter FROM inviter_firsts"


def derive(con: duckdb.DuckDBPyConnection, *, scoped: bool, as_inviter: str | None = None) -> None:
    """Refresh `users`, `referred` and `invited` from `events` on `con`.

    scoped: only for the ids in the tables `scope_invitees(id)` (edges into
    them) and `scope_users(id)` (user rows), which the caller fills; else
    everything, from the whole log (the tables are expected empty).
    """
    if scoped:
        filters = dict(
            invitees="AND invitee_id IN (SELECT id FROM scope_invitees)",
            e_invitees="AND e.invitee_id IN (SELECT id FROM scope_invitees)",
            users="AND invitee_id IN (SELECT id FROM scope_users)",
            inviter_users="AND inviter_id IN (SELECT id FROM scope_users)",
        )
    else:
        con.execute("CREATE OR REPLACE TEMP TABLE scope_invitees (id VARCHAR)")
        con.execute("CREATE OR REPLACE TEMP TABLE scope_users (id VARCHAR)")
        filters = dict(invitees="", e_invitees="", users="", inviter_users="")
    source = as_inviter or _AS_INVITER.format(inviter_users=filters["inviter_users"])
    con.execute(_REFRESH.format(as_inviter=source, LATEST_NAME_SQL=LATEST_NAME_SQL, **filters))
