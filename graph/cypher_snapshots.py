"""The Cypher of analysis snapshots and their write-back onto users
(`graph.neo4j_snapshots`), re-exported by `graph.cypher` so every statement
is still read and checked in one place."""

from __future__ import annotations

# A snapshot is written beside the latest one ('saving'), its tables as
# Arrow IPC parts, and becomes the latest in one step (FINISH_SNAPSHOT).
START_SNAPSHOT = """
CREATE (s:Snapshot {id: $snapshot_id, computed_at: $computed_at, watermark: $watermark,
    params: $params, summary: $summary, status: 'saving'})
"""

WRITE_SNAPSHOT_PART = """
CREATE (:SnapshotPart {snapshot_id: $snapshot_id, table: $table, seq: $seq, data: $data})
"""

WRITE_FLAGS = """
UNWIND $rows AS row
CREATE (:Flag {snapshot_id: $snapshot_id, user_id: row.user_id, rule: row.rule})
"""

FINISH_SNAPSHOT = "MATCH (s:Snapshot {id: $snapshot_id}) SET s.status = 'saved'"

# After the switch: analysis results onto the users, so operators can
# style and filter by them in Neo4j Browser or Bloom.
WRITE_BACK_USERS = """
UNWIND $rows AS row
MATCH (u:User {id: row.id})
SET u += row.values, u.snapshot_id = $snapshot_id
"""

# Snapshots that never became the latest (a writer died while saving).
UNFINISHED_SNAPSHOTS = "MATCH (s:Snapshot {status: 'saving'}) RETURN s.id AS snapshot_id"

# Snapshots past the newest $keep that no export names, oldest first.
SNAPSHOTS_TO_PRUNE = """
MATCH (s:Snapshot {status: 'saved'})
WITH s ORDER BY s.computed_at DESC, s.id SKIP $keep
WITH s WHERE s.exported_at IS NULL
RETURN s.id AS snapshot_id ORDER BY s.computed_at, s.id
"""

# An export names this snapshot: pruning keeps it (the first export's time stays).
RECORD_EXPORT = """
MATCH (s:Snapshot {id: $snapshot_id, status: 'saved'})
SET s.exported_at = coalesce(s.exported_at, $now)
RETURN count(s) AS found
"""

# A pruned snapshot's results written back onto users no later snapshot
# covered: $cleared maps each written-back property to null, removing it.
CLEAR_WRITTEN_BACK = """
MATCH (u:User {snapshot_id: $snapshot_id})
WITH u LIMIT $limit
SET u += $cleared
RETURN count(u) AS cleared
"""

DELETE_SNAPSHOT_ROWS = """
CALL () {
    MATCH (p:SnapshotPart {snapshot_id: $snapshot_id})
    RETURN p AS old LIMIT $limit
    UNION
    MATCH (f:Flag {snapshot_id: $snapshot_id})
    RETURN f AS old LIMIT $limit
}
DETACH DELETE old
RETURN count(*) AS deleted
"""

DROP_SNAPSHOT = "MATCH (s:Snapshot {id: $snapshot_id}) DETACH DELETE s"

LATEST_SNAPSHOT = """
MATCH (s:Snapshot {status: 'saved'})
RETURN s.id AS id, s.computed_at AS computed_at, s.watermark AS watermark,
    s.params AS params, s.summary AS summary
ORDER BY s.computed_at DESC, s.id
LIMIT 1
"""

SNAPSHOT_IDS = """
MATCH (s:Snapshot {status: 'saved'})
RETURN s.id AS id ORDER BY s.computed_at DESC, s.id
"""

READ_SNAPSHOT = """
MATCH (s:Snapshot {id: $snapshot_id, status: 'saved'})
RETURN s.id AS id, s.computed_at AS computed_at, s.watermark AS watermark,
    s.params AS params, s.summary AS summary
"""

READ_SNAPSHOT_PARTS = """
MATCH (p:SnapshotPart {snapshot_id: $snapshot_id, table: $table})
RETURN p.data AS data
ORDER BY p.seq
"""
