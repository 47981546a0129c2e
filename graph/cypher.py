"""Every Cypher statement the Neo4j store runs, in one place to read and review.

Written for Neo4j 5.26 (Cypher 5) and checked there by `EXPLAIN` in the
tests (no errors, no deprecations). Rules every statement here keeps:

- values travel as parameters (`$name`), never inside the text; the only
  text that varies is the ORDER BY of `TOP_REFERRERS`, chosen from a fixed
  table keyed by a validated name;
- writes are `UNWIND $rows AS row ...` batches, run by the store in managed
  write transactions (the driver retries transient errors);
- the time window is `$since <= t < $until` and the campaign filter
  `$campaigns IS NULL OR campaign IN $campaigns`, as in the embedded store;
- times in rows cross Bolt as integers, microseconds since the epoch
  (`_time` and `_micros` convert): the driver's own temporal conversion
  costs about 0.3 ms a value in Python, minutes for a million rows.

Graph model (DESIGN.md, "Graph model"):

    (:Event {id, type, inviter_id, invitee_id, occurred_at, campaign, channel,
             staff_id, amount, device_id, ip, invitee_name, line, batch_id})   the event log
    (:User {id, first_seen, joined_at, referred_by, converted_at, amount,
            churned_at, away_from, away_until, name, review_status, snapshot_id,
            <analysis columns>})   away_*: the churn periods, as lists
    (:User)-[:REFERRED {event_id, at, campaign, channel, staff_id}]->(:User)
    (:User)-[:INVITED {count, first_at, last_at}]->(:User)
    (:Batch {id, source, status, started_at, applied_at, received, accepted, duplicates,
            conflicts})
    (:WriterLock {id})      held by the one process writing a batch or a snapshot
    (:Review {user_id, status, note, reviewer, reviewed_at})
    (:Snapshot {id, computed_at, watermark, params, summary, status, exported_at})
    (:SnapshotPart {snapshot_id, table, seq, data})   its tables, as Arrow IPC
    (:Flag {snapshot_id, user_id, rule})              what the live rankings check
"""

from __future__ import annotations

from graph.cypher_dashboard import (  # noqa: F401  (re-exported)
    CAMPAIGN_DAYS,
    CAMPAIGN_JOINS,
    CAMPAIGN_LAST_SHARED,
)
from graph.cypher_gds import (  # noqa: F401  (the GDS engine's, listed here too)
    GDS_DROP,
    GDS_PROJECT_ALL,
    GDS_PROJECT_WINDOW,
    GDS_PROPERTY,
    GDS_USER_IDS,
    GDS_USERS,
    GDS_VERSION,
)
from graph.cypher_ingest import (  # noqa: F401  (re-exported)
    ANY_EVENT,
    APPLY_BATCH,
    BATCH_USERS,
    CHANGE_MARKER,
    COUNT_BATCH_EVENTS,
    CREATE_EVENTS,
    CREATE_INVITED,
    CREATE_REFERRED,
    CREATE_USERS,
    DELETE_BATCH_EVENTS,
    DELETE_TIES_INTO,
    DELETE_USERS_WITHOUT_EVENTS,
    DROP_BATCH,
    INVITER_FIRSTS,
    MERGE_EVENTS,
    MERGE_USERS,
    NEXT_BATCH,
    SCOPE_EVENTS,
    START_BATCH,
    UNFINISHED_BATCHES,
    WATERMARK,
)
from graph.cypher_joins import FIRST_JOINS  # noqa: F401  (re-exported)
from graph.cypher_live import (  # noqa: F401  (re-exported)
    LIVE_CHURNS,
    LIVE_CONVERTS,
    LIVE_REFERRED,
    LIVE_USERS,
)
from graph.cypher_maintenance import (  # noqa: F401  (re-exported)
    ALL_EVENTS,
    ALL_USER_IDS,
    DELETE_EVENTS,
    EVENTS_OUTSIDE,
    RENAME_EVENTS,
    SCHEMA_VERSION_READ,
    SCHEMA_VERSION_WRITE,
)
from graph.cypher_names import (  # noqa: F401  (re-exported)
    EVENT_NAMES,
    SEARCH_USERS,
    SET_USER_NAMES,
    USER_NAMES,
)
from graph.cypher_snapshots import (  # noqa: F401  (re-exported)
    CLEAR_WRITTEN_BACK,
    DELETE_SNAPSHOT_ROWS,
    DROP_SNAPSHOT,
    FINISH_SNAPSHOT,
    LATEST_SNAPSHOT,
    READ_SNAPSHOT,
    READ_SNAPSHOT_PARTS,
    RECORD_EXPORT,
    SNAPSHOT_IDS,
    SNAPSHOTS_TO_PRUNE,
    START_SNAPSHOT,
    UNFINISHED_SNAPSHOTS,
    WRITE_BACK_USERS,
    WRITE_FLAGS,
    WRITE_SNAPSHOT_PART,
)
from graph.cypher_window import USER_PAGE as _USER_PAGE
from graph.cypher_window import churned as _churned
from graph.cypher_window import micros as _micros
from graph.cypher_window import window as _window

# -- connection and schema -----------------------------------------------------

SERVER_VERSION = """
CALL dbms.components() YIELD name, versions, edition
RETURN name, versions[0] AS version, edition
"""

# Idempotent: every statement says IF NOT EXISTS.
SCHEMA = (
    "CREATE CONSTRAINT user_id IF NOT EXISTS FOR (u:User) REQUIRE u.id IS UNIQUE",
    "CREATE CONSTRAINT event_id IF NOT EXISTS FOR (e:Event) REQUIRE e.id IS UNIQUE",
    "CREATE CONSTRAINT batch_id IF NOT EXISTS FOR (b:Batch) REQUIRE b.id IS UNIQUE",
    "CREATE CONSTRAINT snapshot_id IF NOT EXISTS FOR (s:Snapshot) REQUIRE s.id IS UNIQUE",
    "CREATE CONSTRAINT writer_lock IF NOT EXISTS FOR (w:WriterLock) REQUIRE w.id IS UNIQUE",
    "CREATE INDEX event_invitee IF NOT EXISTS FOR (e:Event) ON (e.invitee_id)",
    "CREATE INDEX event_inviter IF NOT EXISTS FOR (e:Event) ON (e.inviter_id)",
    "CREATE INDEX event_batch IF NOT EXISTS FOR (e:Event) ON (e.batch_id)",
    "CREATE INDEX event_type IF NOT EXISTS FOR (e:Event) ON (e.type)",
    "CREATE INDEX batch_status IF NOT EXISTS FOR (b:Batch) ON (b.status)",
    "CREATE INDEX snapshot_status IF NOT EXISTS FOR (s:Snapshot) ON (s.status)",
    "CREATE INDEX referred_at IF NOT EXISTS FOR ()-[r:REFERRED]-() ON (r.at)",
    "CREATE INDEX review_user IF NOT EXISTS FOR (r:Review) ON (r.user_id)",
    "CREATE INDEX snapshot_part IF NOT EXISTS FOR (p:SnapshotPart) ON (p.snapshot_id, p.table)",
    "CREATE INDEX flag_user IF NOT EXISTS FOR (f:Flag) ON (f.snapshot_id, f.user_id)",
)

# The node a writer locks for as long as it writes (see WRITER_LEASE).
ENSURE_WRITER_LOCK = "MERGE (:WriterLock {id: 'writer'})"

# Run in a transaction that stays open while a batch or a snapshot is
# written: its write lock keeps every other writer out, and the server
# drops it when the writer's connection goes, even after a kill -9. (MERGE,
# so a database emptied under an open store still has its lock.)
WRITER_LEASE = """
MERGE (w:WriterLock {id: 'writer'})
SET w.holder = $holder, w.since = $now
"""

# -- reads ---------------------------------------------------------------------

# Large reads come back as columns, a page of users at a time
# (graph.cypher_window's USER_PAGE).

# Every user seen before the window's end, churned as of its end; converted
# and amount all time (the store reads them from the log for a bounded window).
READ_USERS = f"""
{_USER_PAGE}
WITH page, [u IN page WHERE u.first_seen < $until] AS seen
RETURN page[-1].id AS last,
    [u IN seen | u.id] AS id,
    [u IN seen | u.converted_at IS NOT NULL] AS converted,
    [u IN seen | coalesce(u.amount, 0.0)] AS amount,
    [u IN seen | {_churned("u")}] AS churned
"""

READ_CONVERSIONS = f"""
MATCH (e:Event {{type: 'convert'}})
WHERE {_window("e.occurred_at", "e.campaign")}
WITH e.invitee_id AS id, sum(coalesce(e.amount, 0.0)) AS amount
RETURN collect(id) AS id, collect(amount) AS amount
"""

READ_REFERRED = f"""
{_USER_PAGE}
CALL (page) {{
    UNWIND page AS b
    MATCH (a:User)-[r:REFERRED]->(b)
    WHERE {_window("r.at", "r.campaign")}
    RETURN collect(a.id) AS referrer_id, collect(b.id) AS invitee_id,
        collect({_micros("r.at")}) AS at
}}
RETURN page[-1].id AS last, referrer_id, invitee_id, at
"""

# Without a window, the INVITED ties are the answer; with one, the log says
# which pairs met inside it (the referrer's own pair excepted).
READ_INVITED_TIES = f"""
{_USER_PAGE}
CALL (page) {{
    UNWIND page AS b
    MATCH (a:User)-[:INVITED]->(b)
    RETURN collect(a.id) AS inviter_id, collect(b.id) AS invitee_id
}}
RETURN page[-1].id AS last, inviter_id, invitee_id
"""

READ_INVITED = f"""
{_USER_PAGE}
CALL (page) {{
    UNWIND page AS b
    MATCH (e:Event {{invitee_id: b.id}})
    WHERE e.type IN ['invite', 'join'] AND e.inviter_id IS NOT NULL
      AND (b.referred_by IS NULL OR e.inviter_id <> b.referred_by)
      AND {_window("e.occurred_at", "e.campaign")}
    WITH DISTINCT e.inviter_id AS inviter_id, b.id AS invitee_id
    RETURN collect(inviter_id) AS inviter_id, collect(invitee_id) AS invitee_id
}}
RETURN page[-1].id AS last, inviter_id, invitee_id
"""

# Devices that more than one user joined on in the window.
READ_DEVICES = f"""
MATCH (e:Event {{type: 'join'}})
WHERE e.device_id IS NOT NULL AND {_window("e.occurred_at", "e.campaign")}
WITH DISTINCT e.device_id AS device_id, e.invitee_id AS user_id
WITH device_id, collect(user_id) AS users
WHERE size(users) > 1
UNWIND users AS user_id
RETURN user_id, device_id
ORDER BY device_id, user_id
"""

LAST_EVENT_OF_BATCHES = """
MATCH (b:Batch {status: 'applied'})
RETURN max(b.last_event_at) AS last
"""

LAST_EVENT = f"""
MATCH (e:Event)
WHERE {_window("e.occurred_at", "e.campaign")}
RETURN max(e.occurred_at) AS last
"""

# Live counts per referrer. Effective: not churned at the window's end and
# not judged fraudulent (flagged in the latest snapshot, not approved).
_TOP_REFERRERS = f"""
MATCH (a:User)-[r:REFERRED]->(b:User)
WHERE {_window("r.at", "r.campaign")}
WITH a, b,
    EXISTS {{
        MATCH (c:Event {{invitee_id: b.id}})
        WHERE c.type = 'convert' AND {_window("c.occurred_at", "c.campaign")}
    }} AS converted,
    NOT {_churned("b")}
    AND NOT (EXISTS {{ MATCH (:Flag {{snapshot_id: $latest_snapshot, user_id: b.id}}) }}
             AND coalesce(b.review_status, 'pending') <> 'approved') AS effective
WITH a.id AS id, count(*) AS invites,
    sum(CASE WHEN effective THEN 1 ELSE 0 END) AS effective_invites,
    sum(CASE WHEN converted THEN 1 ELSE 0 END) AS conversions
RETURN id, invites, effective_invites, conversions
ORDER BY {{by}} DESC, id
SKIP $offset LIMIT $limit
"""
TOP_REFERRERS = {
    by: _TOP_REFERRERS.replace("{by}", by) for by in ("invites", "effective_invites", "conversions")
}

REFERRER_COUNT = f"""
MATCH (a:User)-[r:REFERRED]->(:User)
WHERE {_window("r.at", "r.campaign")}
RETURN count(DISTINCT a) AS referrers
"""

USER = """
MATCH (u:User {id: $user_id})
RETURN u.id AS id, u.first_seen AS first_seen, u.joined_at AS joined_at,
    u.referred_by AS referred_by, u.converted_at AS converted_at,
    coalesce(u.amount, 0.0) AS amount, u.churned_at AS churned_at, u.name AS name
"""

# REFERRED has at most one edge into a user, so there is one path per
# length; relationship uniqueness ends a loop after one turn.
REFERRAL_CHAIN = """
MATCH (u:User {id: $user_id})
OPTIONAL MATCH path = (u)<-[:REFERRED*1..]-(:User)
WITH path ORDER BY length(path) DESC LIMIT 1
RETURN CASE WHEN path IS NULL THEN [] ELSE [n IN tail(nodes(path)) | n.id] END AS chain
"""

USER_EXISTS = "MATCH (u:User {id: $user_id}) RETURN count(u) AS found"

# One hop of an ego network: the neighbours of a frontier, capped.
EGO_HOP = """
UNWIND $frontier AS fid
MATCH (:User {id: fid})-[:REFERRED|INVITED]-(o:User)
RETURN DISTINCT o.id AS other
ORDER BY other
LIMIT $cap
"""

TIES_AMONG = """
UNWIND $ids AS source
MATCH (:User {id: source})-[r:REFERRED|INVITED]->(b:User)
WHERE b.id IN $ids
RETURN source, b.id AS target, type(r) AS kind
ORDER BY source, target, kind
"""

# -- stats -----------------------------------------------------------------------

STATS = """
CALL () { MATCH (u:User) RETURN count(u) AS users }
CALL () { MATCH ()-[r:REFERRED]->() RETURN count(r) AS referred_edges }
CALL () { MATCH ()-[t:INVITED]->() RETURN count(t) AS invited_ties }
CALL () { MATCH (b:Batch {status: 'applied'}) RETURN count(b) AS batches }
CALL () { MATCH (e:Event) RETURN min(e.occurred_at) AS first_event_at,
                                 max(e.occurred_at) AS last_event_at }
RETURN users, referred_edges, invited_ties, batches, first_event_at, last_event_at
"""

EVENTS_BY_TYPE = "MATCH (e:Event) RETURN e.type AS type, count(*) AS events ORDER BY type"

CAMPAIGNS = """
MATCH (e:Event) WHERE e.campaign IS NOT NULL
RETURN DISTINCT e.campaign AS campaign ORDER BY campaign
"""

# -- reviews ---------------------------------------------------------------------

LAST_REVIEW_AT = "MATCH (r:Review {user_id: $user_id}) RETURN max(r.reviewed_at) AS last"

RECORD_REVIEW = """
MATCH (u:User {id: $user_id})
CREATE (r:Review {user_id: $user_id, status: $status, note: $note, reviewer: $reviewer,
                  reviewed_at: $reviewed_at})
SET u.review_status = $status
RETURN count(r) AS recorded
"""

CURRENT_REVIEWS = """
MATCH (r:Review)
WITH r ORDER BY r.reviewed_at DESC
WITH r.user_id AS user_id, collect(r)[0] AS last
RETURN user_id, last.status AS status, last.note AS note, last.reviewer AS reviewer,
    last.reviewed_at AS reviewed_at
ORDER BY user_id
"""


# -- tests only ------------------------------------------------------------------

# The contract tests start each Neo4j test from an empty database.
DELETE_EVERYTHING = """
MATCH (n)
WITH n LIMIT $limit
DETACH DELETE n
RETURN count(*) AS deleted
"""


def statements() -> set[str]:
    """Every statement text of this module (what the store may send)."""
    found: set[str] = set(SCHEMA) | set(TOP_REFERRERS.values())
    for name, value in globals().items():
        if name.isupper() and not name.startswith("_") and isinstance(value, str):
            found.add(value)
    return found
