"""Cypher of `Store.first_joins` (re-exported by graph.cypher, whose rules
it keeps): how users came in, for the reward export."""

from __future__ import annotations

# Each id's own first join (earliest, then smallest event id, as
# attribution takes it), found through the event_invitee index; as columns
# (list comprehensions keep the nulls that collect() would drop).
FIRST_JOINS = """
UNWIND $ids AS id
MATCH (e:Event {invitee_id: id})
WHERE e.type = 'join'
WITH id, e ORDER BY e.occurred_at, e.id
WITH id, collect(e)[0] AS first
WITH collect({id: id, staff_id: first.staff_id, channel: first.channel}) AS rows
RETURN [r IN rows | r.id] AS id, [r IN rows | r.staff_id] AS staff_id,
    [r IN rows | r.channel] AS channel
"""
