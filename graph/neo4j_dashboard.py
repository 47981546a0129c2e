"""The Neo4j store's campaign dashboard read (`Store.campaign_facts`), in the
embedded store's columns and types (graph.cypher_dashboard has the Cypher)."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from graph import cypher
from graph.neo4j_reads import pages
from graph.neo4j_runner import QueryRunner
from graph.store import CampaignFacts

_TIME = pa.timestamp("us", tz="UTC")
_JOIN_PAGE = pa.schema(
    [("user_id", pa.string()), ("at", _TIME), ("inviter_id", pa.string())]
    + [("channel", pa.string()), ("staff_id", pa.string()), ("tier", pa.int8())]
    + [("converted_at", _TIME)]
)
_DAYS = pa.schema(
    [("day", pa.date32()), ("churned", pa.int64()), ("conversions", pa.int64())]
    + [("gmv", pa.float64()), ("sharers", pa.int64()), ("last_shared", pa.int64())]
)


def local_day(instants: pa.ChunkedArray | pa.Array, zone: str) -> pa.ChunkedArray | pa.Array:
    """UTC instants as calendar days (date32) in `zone`."""
    return pc.local_timestamp(instants.cast(pa.timestamp("us", tz=zone))).cast(pa.date32())


def campaign_facts(runner: QueryRunner, params: dict[str, Any], zone: str) -> CampaignFacts:
    """`params`: the window's (graph.neo4j_reads.window_params)."""
    params = {**params, "zone": zone}
    read = pages(runner, cypher.CAMPAIGN_JOINS, params, _JOIN_PAGE)
    joins = pa.table(
        {
            "user_id": read["user_id"],
            "day": local_day(read["at"], zone),
            "inviter_id": read["inviter_id"],
            "channel": read["channel"],
            "staff_id": read["staff_id"],
            "tier": read["tier"],
            "converted_day": local_day(read["converted_at"], zone),
        }
    )
    counted = {r["day"]: r for r in runner.read(cypher.CAMPAIGN_DAYS, params)}
    lasts = {r["day"]: r["last_shared"] for r in runner.read(cypher.CAMPAIGN_LAST_SHARED, params)}
    days = sorted(counted)
    columns = {
        "day": pa.array(days, pa.string()).cast(pa.date32()),
        **{
            name: pa.array([counted[d][name] for d in days], _DAYS.field(name).type)
            for name in ("churned", "conversions", "gmv", "sharers")
        },
        "last_shared": pa.array([lasts.get(d, 0) for d in days], pa.int64()),
    }
    return CampaignFacts(joins=joins, days=pa.table(columns, schema=_DAYS))
