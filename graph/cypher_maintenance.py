"""The Cypher of store maintenance: the schema version, migrations
(`graph.neo4j_migrations`) and `koc repair`, re-exported by `graph.cypher`
so every statement is still read and checked in one place."""

from __future__ import annotations

from graph.cypher_window import micros as _micros

# Stores with events and no marker were written at version 1.
SCHEMA_VERSION_READ = """
OPTIONAL MATCH (m:Meta {id: 'schema'})
CALL () { MATCH (e:Event) RETURN count(e) > 0 AS found }
RETURN m.version AS version, found
"""

SCHEMA_VERSION_WRITE = "MERGE (m:Meta {id: 'schema'}) SET m.version = $version"

# Every event, with what its hashed id covers (a migration's input).
ALL_EVENTS = f"""
MATCH (e:Event)
RETURN e.id AS event_id, e.type AS type, e.inviter_id AS inviter_id,
    e.invitee_id AS invitee_id, {_micros("e.occurred_at")} AS occurred_at,
    e.campaign AS campaign, e.channel AS channel, e.staff_id AS staff_id, e.amount AS amount,
    e.device_id AS device_id, e.ip AS ip
"""

RENAME_EVENTS = """
UNWIND $rows AS row
MATCH (e:Event {id: row.old})
SET e.id = row.new
WITH e, row WHERE e.type = 'join'
OPTIONAL MATCH (:User {id: e.invitee_id})<-[r:REFERRED]-()
WHERE r.event_id = row.old
SET r.event_id = row.new
"""

ALL_USER_IDS = "MATCH (u:User) RETURN u.id AS id ORDER BY id"

# -- repair --------------------------------------------------------------------

EVENTS_OUTSIDE = """
MATCH (e:Event)
WHERE e.occurred_at < $earliest OR e.occurred_at >= $latest
RETURN e.id AS event_id, e.type AS type, e.inviter_id AS inviter_id,
    e.invitee_id AS invitee_id, toString(e.occurred_at) AS occurred_at,
    e.campaign AS campaign, e.channel AS channel, e.staff_id AS staff_id, e.amount AS amount,
    e.device_id AS device_id, e.ip AS ip, e.invitee_name AS invitee_name, e.line AS line,
    e.batch_id AS batch_id
"""

DELETE_EVENTS = """
UNWIND $ids AS id
MATCH (e:Event {id: id})
DETACH DELETE e
"""
