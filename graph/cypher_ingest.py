"""The Cypher of ingest (`graph.neo4j_ingest`): batches, events, and the
derived users and ties written back, re-exported by `graph.cypher` so every
statement is still read and checked in one place."""

from __future__ import annotations

from graph.cypher_window import epoch_time as _time
from graph.cypher_window import micros as _micros
from loaders.canonical import CONTENT_FIELDS

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
    device_id: row.device_id, ip: row.ip, invitee_name: row.invitee_name, line: row.line,
    batch_id: $batch_id"""

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
# they are the invitee (with its name and ingest order, for the user's
# name), and when each first invited anyone.
SCOPE_EVENTS = f"""
UNWIND $ids AS uid
MATCH (e:Event {{invitee_id: uid}})
RETURN e.id AS event_id, e.type AS type, e.inviter_id AS inviter_id, uid AS invitee_id,
    {_micros("e.occurred_at")} AS occurred_at, e.campaign AS campaign, e.channel AS channel,
    e.staff_id AS staff_id, e.amount AS amount, e.invitee_name AS invitee_name,
    e.batch_id AS batch_id, e.line AS line
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
    away_until: [t IN row.away_until | {_time("t")}], name: row.name"""


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
