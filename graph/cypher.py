"""Every Cypher statement the Neo4j store runs, in one place to read and review.

Written for Neo4j 5 (Cypher 5). Rules every statement here keeps:

- values travel as parameters (`$name`), never inside the text; the only
  text that varies is the ORDER BY of `TOP_REFERRERS`, chosen from a fixed
  table keyed by a validated name;
- writes are `UNWIND $rows AS row ...` batches, run by the store in managed
  write transactions (the driver retries transient errors);
- the time window is `$since <= t < $until` and the campaign filter
  `$campaigns IS NULL OR campaign IN $campaigns`, as in the embedded store.

Graph model (DESIGN.md, "Graph model"):

    (:Event {id, type, inviter_id, invitee_id, occurred_at, campaign, channel,
             staff_id, amount, device_id, ip, line, batch_id})   the event log
    (:User {id, first_seen, joined_at, referred_by, converted_at, amount,
            churned_at, review_status, snapshot_id, <analysis columns>})
    (:User)-[:REFERRED {event_id, at, campaign, channel, staff_id}]->(:User)
    (:User)-[:INVITED {count, first_at, last_at}]->(:User)
    (:Batch {id, source, status, started_at, applied_at, received, accepted, duplicates})
    (:Review {user_id, status, note, reviewer, reviewed_at})
    (:Snapshot {id, computed_at, watermark, params, summary, status, *_schema})
    (:Community {snapshot_id, ...}), (:Flag {snapshot_id, user_id, rule, reason, evidence})
"""

from __future__ import annotations

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
    "CREATE INDEX event_invitee IF NOT EXISTS FOR (e:Event) ON (e.invitee_id)",
    "CREATE INDEX event_inviter IF NOT EXISTS FOR (e:Event) ON (e.inviter_id)",
    "CREATE INDEX event_batch IF NOT EXISTS FOR (e:Event) ON (e.batch_id)",
    "CREATE INDEX event_time IF NOT EXISTS FOR (e:Event) ON (e.occurred_at)",
    "CREATE INDEX referred_at IF NOT EXISTS FOR ()-[r:REFERRED]-() ON (r.at)",
    "CREATE INDEX user_snapshot IF NOT EXISTS FOR (u:User) ON (u.snapshot_id)",
    "CREATE INDEX review_user IF NOT EXISTS FOR (r:Review) ON (r.user_id)",
    "CREATE INDEX community_snapshot IF NOT EXISTS FOR (c:Community) ON (c.snapshot_id)",
    "CREATE INDEX flag_snapshot IF NOT EXISTS FOR (f:Flag) ON (f.snapshot_id)",
)

# -- ingest --------------------------------------------------------------------

NEXT_BATCH = "OPTIONAL MATCH (b:Batch) RETURN coalesce(max(b.id), 0) + 1 AS batch_id"

START_BATCH = """
CREATE (b:Batch {id: $batch_id, source: $source, status: 'applying', started_at: $now})
"""

# MERGE on the event id: an id already stored (or earlier in this batch) is a
# duplicate and leaves the stored event as it was; new events carry the batch.
WRITE_EVENTS = """
UNWIND $rows AS row
MERGE (e:Event {id: row.event_id})
ON CREATE SET e.type = row.type, e.inviter_id = row.inviter_id,
    e.invitee_id = row.invitee_id, e.occurred_at = row.occurred_at,
    e.campaign = row.campaign, e.channel = row.channel, e.staff_id = row.staff_id,
    e.amount = row.amount, e.device_id = row.device_id, e.ip = row.ip,
    e.line = row.line, e.batch_id = $batch_id
"""

COUNT_BATCH_EVENTS = "MATCH (e:Event {batch_id: $batch_id}) RETURN count(e) AS accepted"

# The users a batch touched: its invitees, and its inviters (the store takes
# the invitees out of the inviters: list membership in Cypher is linear).
BATCH_USERS = """
MATCH (e:Event {batch_id: $batch_id})
RETURN collect(DISTINCT e.invitee_id) AS invitees, collect(DISTINCT e.inviter_id) AS inviters
"""

# User state from the log, for a batch of user ids (DESIGN.md, "Graph model"):
# first seen as invitee or inviter; joined, converted (and summed amounts);
# churned unless a join came after the last churn.
DERIVE_USERS = """
UNWIND $ids AS uid
MERGE (u:User {id: uid})
WITH u
CALL {
    WITH u
    OPTIONAL MATCH (e:Event {invitee_id: u.id})
    RETURN min(e.occurred_at) AS first_as_invitee,
        min(CASE WHEN e.type = 'join' THEN e.occurred_at END) AS joined_at,
        max(CASE WHEN e.type = 'join' THEN e.occurred_at END) AS last_join,
        min(CASE WHEN e.type = 'convert' THEN e.occurred_at END) AS converted_at,
        sum(CASE WHEN e.type = 'convert' THEN coalesce(e.amount, 0.0) ELSE 0.0 END) AS amount,
        max(CASE WHEN e.type = 'churn' THEN e.occurred_at END) AS last_churn
}
CALL {
    WITH u
    OPTIONAL MATCH (x:Event {inviter_id: u.id})
    RETURN min(x.occurred_at) AS first_as_inviter
}
SET u.first_seen = CASE
        WHEN first_as_invitee IS NULL THEN first_as_inviter
        WHEN first_as_inviter IS NULL OR first_as_invitee <= first_as_inviter
            THEN first_as_invitee
        ELSE first_as_inviter END,
    u.joined_at = joined_at,
    u.converted_at = converted_at,
    u.amount = amount,
    u.churned_at = CASE
        WHEN last_churn IS NOT NULL AND (last_join IS NULL OR last_churn >= last_join)
            THEN last_churn END
"""

# The attributed first join of each invitee: earliest time, then smallest
# event id; REFERRED when that join names an inviter.
DERIVE_REFERRED = """
UNWIND $ids AS iid
MATCH (b:User {id: iid})
OPTIONAL MATCH ()-[old:REFERRED]->(b)
DELETE old
WITH DISTINCT b
CALL {
    WITH b
    MATCH (j:Event {invitee_id: b.id})
    WHERE j.type = 'join'
    WITH j ORDER BY j.occurred_at, j.id LIMIT 1
    WITH j WHERE j.inviter_id IS NOT NULL
    MATCH (a:User {id: j.inviter_id})
    CREATE (a)-[:REFERRED {event_id: j.id, at: j.occurred_at, campaign: j.campaign,
                           channel: j.channel, staff_id: j.staff_id}]->(b)
}
WITH b
OPTIONAL MATCH (r:User)-[:REFERRED]->(b)
SET b.referred_by = r.id
"""

# Every other inviter-invitee pair from invites and joins.
DERIVE_INVITED = """
UNWIND $ids AS iid
MATCH (b:User {id: iid})
OPTIONAL MATCH ()-[old:INVITED]->(b)
DELETE old
WITH DISTINCT b
CALL {
    WITH b
    OPTIONAL MATCH (ref:User)-[:REFERRED]->(b)
    WITH b, ref.id AS referrer
    MATCH (e:Event {invitee_id: b.id})
    WHERE e.type IN ['invite', 'join'] AND e.inviter_id IS NOT NULL
      AND (referrer IS NULL OR e.inviter_id <> referrer)
    WITH b, e.inviter_id AS inviter, count(*) AS n,
         min(e.occurred_at) AS first_at, max(e.occurred_at) AS last_at
    MATCH (a:User {id: inviter})
    CREATE (a)-[:INVITED {count: n, first_at: first_at, last_at: last_at}]->(b)
}
"""

APPLY_BATCH = """
MATCH (b:Batch {id: $batch_id})
SET b.status = 'applied', b.applied_at = $now, b.received = $received,
    b.accepted = $accepted, b.duplicates = $duplicates
"""

# Undoing a failed batch: its new events go, in bounded chunks; then the
# touched users are derived again and users left with no event removed.
DELETE_BATCH_EVENTS = """
MATCH (e:Event {batch_id: $batch_id})
WITH e LIMIT $limit
DETACH DELETE e
RETURN count(*) AS deleted
"""

DELETE_ORPHAN_USERS = """
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
CALL { OPTIONAL MATCH (b:Batch {status: 'applied'}) RETURN coalesce(max(b.id), 0) AS watermark }
CALL {
    OPTIONAL MATCH (s:Snapshot {status: 'saved'})
    RETURN s.id AS snapshot ORDER BY s.computed_at DESC, s.id LIMIT 1
}
CALL { MATCH (r:Review) RETURN count(r) AS reviews }
RETURN watermark, snapshot, reviews
"""

# -- reads ---------------------------------------------------------------------

_IN_WINDOW = """{t} >= $since AND {t} < $until
    AND ($campaigns IS NULL OR {c} IN $campaigns)"""


def _window(time: str, campaign: str) -> str:
    return _IN_WINDOW.format(t=time, c=campaign)


# Every user seen before the window's end; converted and amount counted in
# the window, churn as of its end.
READ_USERS = f"""
MATCH (u:User)
WHERE u.first_seen < $until
CALL {{
    WITH u
    OPTIONAL MATCH (e:Event {{invitee_id: u.id}})
    WHERE e.type = 'convert' AND {_window("e.occurred_at", "e.campaign")}
    RETURN count(e) > 0 AS converted, coalesce(sum(e.amount), 0.0) AS amount
}}
RETURN u.id AS id, converted, amount,
    (u.churned_at IS NOT NULL AND u.churned_at < $until) AS churned
ORDER BY id
"""

READ_REFERRED = f"""
MATCH (a:User)-[r:REFERRED]->(b:User)
WHERE {_window("r.at", "r.campaign")}
RETURN a.id AS referrer_id, b.id AS invitee_id, r.at AS at
"""

READ_INVITED = f"""
MATCH (e:Event)
WHERE e.type IN ['invite', 'join'] AND e.inviter_id IS NOT NULL
  AND {_window("e.occurred_at", "e.campaign")}
OPTIONAL MATCH (r:User)-[:REFERRED]->(:User {{id: e.invitee_id}})
WITH e, r
WHERE r IS NULL OR r.id <> e.inviter_id
RETURN DISTINCT e.inviter_id AS inviter_id, e.invitee_id AS invitee_id
"""

# Devices that more than one user joined on in the window.
READ_DEVICES = f"""
MATCH (e:Event)
WHERE e.type = 'join' AND e.device_id IS NOT NULL
  AND {_window("e.occurred_at", "e.campaign")}
WITH DISTINCT e.device_id AS device_id, e.invitee_id AS user_id
WITH device_id, collect(user_id) AS users
WHERE size(users) > 1
UNWIND users AS user_id
RETURN user_id, device_id
ORDER BY device_id, user_id
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
    (b.churned_at IS NULL OR b.churned_at >= $until)
    AND NOT (coalesce(b.flagged, false) AND coalesce(b.snapshot_id = $latest_snapshot, false)
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
CALL { MATCH (u:User) RETURN count(u) AS users }
CALL { MATCH ()-[r:REFERRED]->() RETURN count(r) AS referred_edges }
CALL { MATCH ()-[t:INVITED]->() RETURN count(t) AS invited_ties }
CALL { MATCH (b:Batch {status: 'applied'}) RETURN count(b) AS batches }
CALL { MATCH (e:Event) RETURN min(e.occurred_at) AS first_event_at,
                              max(e.occurred_at) AS last_event_at }
RETURN users, referred_edges, invited_ties, batches, first_event_at, last_event_at
"""

EVENTS_BY_TYPE = "MATCH (e:Event) RETURN e.type AS type, count(*) AS events ORDER BY type"

CAMPAIGNS = """
MATCH (e:Event) WHERE e.campaign IS NOT NULL
RETURN DISTINCT e.campaign AS campaign ORDER BY campaign
"""

# -- analysis snapshots and write-back ---------------------------------------------

START_SNAPSHOT = """
CREATE (s:Snapshot {id: $snapshot_id, computed_at: $computed_at, watermark: $watermark,
    params: $params, summary: $summary, status: 'saving', users_schema: $users_schema,
    communities_schema: $communities_schema, flags_schema: $flags_schema})
"""

# Analysis results onto the users, so operators can style and filter by them
# in Neo4j Browser or Bloom; `latest_snapshot` reads them back.
WRITE_BACK_USERS = """
UNWIND $rows AS row
MATCH (u:User {id: row.id})
SET u += row.values, u.snapshot_id = $snapshot_id
"""

WRITE_COMMUNITIES = """
UNWIND $rows AS row
CREATE (c:Community {snapshot_id: $snapshot_id})
SET c += row
"""

WRITE_FLAGS = """
UNWIND $rows AS row
CREATE (f:Flag {snapshot_id: $snapshot_id})
SET f += row
"""

FINISH_SNAPSHOT = "MATCH (s:Snapshot {id: $snapshot_id}) SET s.status = 'saved'"

# Older snapshots keep their summary; their communities and flags go.
DELETE_OLD_SNAPSHOT_ROWS = """
CALL {
    MATCH (c:Community) WHERE c.snapshot_id <> $snapshot_id
    RETURN c AS old LIMIT $limit
    UNION
    MATCH (f:Flag) WHERE f.snapshot_id <> $snapshot_id
    RETURN f AS old LIMIT $limit
}
DETACH DELETE old
RETURN count(*) AS deleted
"""

LATEST_SNAPSHOT = """
MATCH (s:Snapshot {status: 'saved'})
RETURN s.id AS id, s.computed_at AS computed_at, s.watermark AS watermark,
    s.params AS params, s.summary AS summary, s.users_schema AS users_schema,
    s.communities_schema AS communities_schema, s.flags_schema AS flags_schema
ORDER BY s.computed_at DESC, s.id
LIMIT 1
"""

READ_SNAPSHOT_USERS = """
MATCH (u:User {snapshot_id: $snapshot_id})
RETURN [k IN $columns | u[k]] AS values
ORDER BY u.id
"""

READ_SNAPSHOT_COMMUNITIES = """
MATCH (c:Community {snapshot_id: $snapshot_id})
RETURN [k IN $columns | c[k]] AS values
ORDER BY c.community
"""

READ_SNAPSHOT_FLAGS = """
MATCH (f:Flag {snapshot_id: $snapshot_id})
RETURN [k IN $columns | f[k]] AS values
ORDER BY f.user_id, f.rule
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
