"""The Cypher of users' names (`UserRecord.name`, kept on `:User` as `name`):
reading them for a set of ids, searching users by id or name
(graph.user_search), and filling them in when a store is migrated;
re-exported by `graph.cypher` so every statement is read and checked in
one place."""

from __future__ import annotations

from graph.cypher_window import micros as _micros

# One record of two lists (columnar); users without a name are left out.
USER_NAMES = """
UNWIND $ids AS uid
MATCH (u:User {id: uid})
WHERE u.name IS NOT NULL
RETURN collect(u.id) AS id, collect(u.name) AS name
"""

# graph.user_search's ranks: 0 id, 1 name, 2 prefix, 3 contains. A scan of
# the users (the name is matched lowercased), cut to $limit rows.
SEARCH_USERS = """
MATCH (u:User)
WHERE u.id STARTS WITH $q OR toLower(u.name) CONTAINS toLower($q)
WITH u.id AS id, u.name AS name, CASE
    WHEN u.id = $q THEN 0
    WHEN toLower(u.name) = toLower($q) THEN 1
    WHEN u.id STARTS WITH $q OR toLower(u.name) STARTS WITH toLower($q) THEN 2
    ELSE 3 END AS rank
RETURN id, name, rank
ORDER BY rank, id
LIMIT $limit
"""

# Migration to version 3 (graph.neo4j_migrations): every event that names
# its invitee, and the names derived from them written onto the users.
EVENT_NAMES = f"""
MATCH (e:Event)
WHERE e.invitee_name IS NOT NULL
RETURN e.invitee_id AS invitee_id, e.invitee_name AS invitee_name,
    {_micros("e.occurred_at")} AS occurred_at, e.batch_id AS batch_id, e.line AS line
"""

SET_USER_NAMES = """
UNWIND $rows AS row
MATCH (u:User {id: row.id})
SET u.name = row.name
"""
