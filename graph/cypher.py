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
             staff_id, amount, device_id, ip, line, batch_id})   the event log
    (:User {id, first_seen, joined_at, referred_by, converted_at, amount,
            churned_at, away_from, away_until, review_status, snapshot_id,
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

from graph.cypher_gds import (  # noqa: F401  (the GDS engine's, listed here too)
    GDS_DROP,
    GDS_PROJECT_ALL,
    GDS_PROJECT_WINDOW,
    GDS_PROPERTY,
    GDS_USER_IDS,
    GDS_USERS,
    GDS_VERSION,
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
from graph.cypher_window import epoch_time as _time
from graph.cypher_window import micros as _micros
from graph.cypher_window import window as _window
from loaders.canonical import CONTENT_FIELDS

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

# -- ingest --------------------------------------------------------------------

NEXT_BATCH = "OPTIONAL MATCH (b:Batch) RETURN coalesce(max(b.id), 0) + 1 AS batch_id"

START_BATCH = """
CREATE (b:Batch {id: $batch_id, source: $source, status: 'applying', started_at: $now})
"""

# Batches a writer started and never finished (it died): the next writer
# takes them out before it writes.
UNFINISHED_BATCHES = """
MATCH (b:Batch {status: 'applying'})
RETURN b.id AS batch_id, b.source AS source
ORDER BY batch_id
"""

ANY_EVENT = "MATCH (e:Event) RETURN count(e) > 0 AS found"

# A first load: the store holds no event, and the batch is free of repeats
# (the store drops them before), so events are created without a lookup.
_EVENT_PROPERTIES = f"""type: row.type, inviter_id: row.inviter_id,
    invitee_id: row.invitee_id, occurred_at: {_time("row.occurred_at")},
    campaign: row.campaign, channel: row.channel, staff_id: row.staff_id, amount: row.amount,
    device_id: row.device_id, ip: row.ip, line: row.line, batch_id: $batch_id"""

CREATE_EVENTS = f"""
UNWIND $rows AS row
CREATE (:Event {{id: row.id, {_EVENT_PROPERTIES}}})
"""

# Null-safe: one side null and the other not, or both set and unequal.
_EVENT_DIFFERS = " OR ".join(
    f"((e.{f} IS NULL) <> (row.{f} IS NULL) OR e.{f} <> row.{f})"
    for f in CONTENT_FIELDS
    if f != "occurred_at"  # compared as microseconds in MERGE_EVENTS
)

# MERGE on the event id: an id already stored leaves the stored event as
# it was; new events carry the batch. The stored version of an id repeated
# with other content comes back (a conflict, graph.conflicts); one repeated
# as it was is a duplicate and returns nothing.
MERGE_EVENTS = f"""
UNWIND $rows AS row
MERGE (e:Event {{id: row.id}})
ON CREATE SET e += {{{_EVENT_PROPERTIES}}}
WITH e, row
WHERE e.batch_id <> $batch_id
  AND ({_micros("e.occurred_at")} <> row.occurred_at OR {_EVENT_DIFFERS})
RETURN e.id AS event_id, e.type AS type, e.inviter_id AS inviter_id,
    e.invitee_id AS invitee_id, {_micros("e.occurred_at")} AS occurred_at,
    e.campaign AS campaign, e.channel AS channel, e.staff_id AS staff_id, e.amount AS amount,
    e.device_id AS device_id, e.ip AS ip,
    'batch ' + toString(e.batch_id) + ', line ' + toString(e.line) AS origin
"""

COUNT_BATCH_EVENTS = "MATCH (e:Event {batch_id: $batch_id}) RETURN count(e) AS accepted"

# The users a batch touched, for taking it out again.
BATCH_USERS = """
MATCH (e:Event {batch_id: $batch_id})
RETURN e.invitee_id AS invitee, e.inviter_id AS inviter
"""

# What deriving a set of users needs from the log: every event in which
# they are the invitee, and when each first invited anyone.
SCOPE_EVENTS = f"""
UNWIND $ids AS uid
MATCH (e:Event {{invitee_id: uid}})
RETURN e.id AS event_id, e.type AS type, e.inviter_id AS inviter_id, uid AS invitee_id,
    {_micros("e.occurred_at")} AS occurred_at, e.campaign AS campaign, e.channel AS channel,
    e.staff_id AS staff_id, e.amount AS amount
"""

INVITER_FIRSTS = f"""
UNWIND $ids AS uid
MATCH (e:Event {{inviter_id: uid}})
WITH uid, min(e.occurred_at) AS first
RETURN uid AS id, {_micros("first")} AS first_as_inviter
"""

# The derived graph, written from what `graph.derive` computed. Users first
# (new referrers must exist before their edges), then the edges into the
# derived users are replaced.
_USER_PROPERTIES = f"""first_seen: {_time("row.first_seen")}, joined_at: {_time("row.joined_at")},
    referred_by: row.referred_by, converted_at: {_time("row.converted_at")},
    amount: row.amount, churned_at: {_time("row.churned_at")},
    away_from: [t IN row.away_from | {_time("t")}],
    away_until: [t IN row.away_until | {_time("t")}]"""


def _churned(u: str) -> str:
    """Whether user `u` was away (churned) at `$until`: inside one of its
    churn periods (graph.derive's `churns`, kept on the node as lists)."""
    return (
        f"any(i IN range(0, size(coalesce({u}.away_from, [])) - 1) "
        f"WHERE {u}.away_from[i] < $until AND {u}.away_until[i] >= $until)"
    )


CREATE_USERS = f"""
UNWIND $rows AS row
CREATE (:User {{id: row.id, {_USER_PROPERTIES}}})
"""

# `=` with every derived property named keeps the analysis columns; a null
# removes what no longer holds (e.g. churned_at after a re-join).
MERGE_USERS = f"""
UNWIND $rows AS row
MERGE (u:User {{id: row.id}})
SET u += {{{_USER_PROPERTIES}}}
"""

DELETE_TIES_INTO = """
UNWIND $ids AS uid
MATCH (:User {id: uid})<-[t:REFERRED|INVITED]-(:User)
DELETE t
"""

# One writer at a time (the lease), and the ties into a user are deleted
# before they are written again, so a user never has two REFERRED edges.
CREATE_REFERRED = f"""
UNWIND $rows AS row
MATCH (b:User {{id: row.invitee_id}})
MATCH (a:User {{id: row.referrer_id}})
CREATE (a)-[:REFERRED {{event_id: row.event_id, at: {_time("row.at")}, campaign: row.campaign,
                       channel: row.channel, staff_id: row.staff_id}}]->(b)
"""

CREATE_INVITED = f"""
UNWIND $rows AS row
MATCH (a:User {{id: row.inviter_id}})
MATCH (b:User {{id: row.invitee_id}})
CREATE (a)-[:INVITED {{count: row.count, first_at: {_time("row.first_at")},
                      last_at: {_time("row.last_at")}}}]->(b)
"""

# The batch's last event time is kept on it: the latest over all applied
# batches answers "when was the last event" without a scan of the log.
APPLY_BATCH = """
MATCH (b:Batch {id: $batch_id})
CALL (b) { MATCH (e:Event {batch_id: b.id}) RETURN max(e.occurred_at) AS last_event_at }
SET b.status = 'applied', b.applied_at = $now, b.received = $received,
    b.accepted = $accepted, b.duplicates = $duplicates, b.conflicts = $conflicts,
    b.last_event_at = last_event_at
"""

# Taking a batch out: its new events go, in bounded chunks; then the
# touched users are derived again and users left with no event removed.
DELETE_BATCH_EVENTS = """
MATCH (e:Event {batch_id: $batch_id})
WITH e LIMIT $limit
DETACH DELETE e
RETURN count(*) AS deleted
"""

DELETE_USERS_WITHOUT_EVENTS = """
UNWIND $ids AS uid
MATCH (u:User {id: uid})
WHERE NOT EXISTS { MATCH (:Event {invitee_id: uid}) }
  AND NOT EXISTS { MATCH (:Event {inviter_id: uid}) }
DETACH DELETE u
"""

DROP_BATCH = "MATCH (b:Batch {id: $batch_id}) DELETE b"

WATERMARK = """
OPTIONAL MATCH (b:Batch {status: 'applied'})
RETURN coalesce(max(b.id), 0) AS watermark
"""

# What the API's cache watches: any ingest, analysis or review changes it.
CHANGE_MARKER = """
CALL () {
    OPTIONAL MATCH (b:Batch {status: 'applied'}) RETURN coalesce(max(b.id), 0) AS watermark
}
CALL () {
    OPTIONAL MATCH (s:Snapshot {status: 'saved'})
    RETURN s.id AS snapshot ORDER BY s.computed_at DESC, s.id LIMIT 1
}
CALL () { MATCH (r:Review) RETURN count(r) AS reviews }
RETURN watermark, snapshot, reviews
"""

# -- reads ---------------------------------------------------------------------


# Large reads come back as columns, a page of users at a time in id order
# (the uniqueness constraint's index gives the order): one record of lists
# a page, which the driver unpacks in Rust, instead of a Python object a row.
_USER_PAGE = """MATCH (u:User) WHERE u.id > $after
WITH u ORDER BY u.id LIMIT $page
WITH collect(u) AS page"""

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
    coalesce(u.amount, 0.0) AS amount, u.churned_at AS churned_at
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
