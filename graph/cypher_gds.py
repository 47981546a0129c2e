"""The Cypher the Graph Data Science engine sends (`graph.gds`), re-exported
by `graph.cypher` so every statement is still read and checked in one place.

A projection is one Cypher aggregation (`gds.graph.project`) over the same
users and ties, in the same window and campaign filter, as the store's
`read_graph`; nothing of the event log leaves the server. Each tie a -> b
(referrer or inviter a, invitee b) is projected as the kinds asked for:

- `CREDITS`  b -> a, directed: PageRank's credit flows to inviters;
- `TIE`      a - b, undirected, each pair once, no self-ties: k-core,
             communities, betweenness and components;
- `SPREADS`  a -> b, directed: the independent cascade of influence.

Rows of the UNION are distinct, so a pair is projected once per kind, as
the Python engine's `distinct` does.
"""

from __future__ import annotations

from graph.cypher_window import window

GDS_VERSION = "RETURN gds.version() AS version"

_PROJECT = """
CALL () {{
    MATCH (u:User) WHERE u.first_seen < $until
    RETURN u AS source, null AS target, null AS kind
    UNION
    CALL () {{
        {referred}
        UNION
        {invited}
    }}
    WITH a, b WHERE a.first_seen < $until AND b.first_seen < $until
    UNWIND $kinds AS kind
    WITH a, b, kind WHERE kind <> 'TIE' OR a <> b
    WITH a, b, kind, kind = 'CREDITS' OR (kind = 'TIE' AND b.id < a.id) AS flip
    RETURN CASE WHEN flip THEN b ELSE a END AS source,
        CASE WHEN flip THEN a ELSE b END AS target, kind
}}
WITH gds.graph.project($graph, source, target, {{relationshipType: kind}},
    {{undirectedRelationshipTypes: $undirected}}) AS g
RETURN g.nodeCount AS nodes, g.relationshipCount AS relationships
"""

_REFERRED = f"""MATCH (a:User)-[r:REFERRED]->(b:User)
        WHERE {window("r.at", "r.campaign")}
        RETURN a, b"""

# Without a window the INVITED ties; with one, the pairs the log says met
# inside it (the referrer's own pair excepted), as READ_INVITED.
_INVITED_TIES = """MATCH (a:User)-[:INVITED]->(b:User)
        RETURN a, b"""

_INVITED = f"""MATCH (e:Event)
        WHERE e.type IN ['invite', 'join'] AND e.inviter_id IS NOT NULL
          AND {window("e.occurred_at", "e.campaign")}
        WITH DISTINCT e.inviter_id AS inviter_id, e.invitee_id AS invitee_id
        MATCH (a:User {{id: inviter_id}})
        MATCH (b:User {{id: invitee_id}})
        WHERE b.referred_by IS NULL OR a.id <> b.referred_by
        RETURN a, b"""

GDS_PROJECT_ALL = _PROJECT.format(referred=_REFERRED, invited=_INVITED_TIES)
GDS_PROJECT_WINDOW = _PROJECT.format(referred=_REFERRED, invited=_INVITED)

# A projected graph's users: GDS's node id beside the user's id, as columns.
GDS_USERS = """
CALL gds.graph.nodeProperty.stream($graph, $property) YIELD nodeId
RETURN collect(nodeId) AS node, collect(gds.util.asNode(nodeId).id) AS id
"""

# One computed node property, as columns.
GDS_PROPERTY = """
CALL gds.graph.nodeProperty.stream($graph, $property) YIELD nodeId, propertyValue
RETURN collect(nodeId) AS node, collect(propertyValue) AS value
"""

GDS_DROP = """
CALL gds.graph.drop($graph, false) YIELD graphName
RETURN graphName
"""

# GDS node ids (a few, e.g. CELF's seeds) as user ids, in the order given.
GDS_USER_IDS = """
UNWIND $nodes AS node
RETURN collect(gds.util.asNode(node).id) AS id
"""
