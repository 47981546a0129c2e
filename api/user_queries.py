"""What the user page and the network view answer (GET /v1/users/{id} and
/v1/users/{id}/network): from the live index and the user lookup when both
are built (`in_memory`: on the event loop), else from the store."""

from __future__ import annotations

import json
from datetime import datetime

import pyarrow as pa
import pyarrow.compute as pc

from api import models
from api.names import names_at, names_of
from api.reasons import flags_in_words, reason_in_words
from api.score_view import explain_score
from api.service import Service
from graph.analysis.snapshot_tables import USER_COLUMNS
from graph.live_index import LiveIndex
from graph.store import Store
from graph.user_lookup import UserLookup

# What a network shows of each user from the latest snapshot.
NETWORK_COLUMNS = ["koc_score", "community", "flagged"]
# How far up a referral chain the user page walks.
CHAIN_LIMIT = 100

InMemory = tuple[LiveIndex, UserLookup]


def user_lookup(service: Service) -> UserLookup:
    """The latest snapshot's users, flags and reviews by id, once per version."""
    return service.cached(
        ("user-lookup",), lambda: UserLookup(service.snapshot(), service.reviews())
    )


def in_memory(service: Service) -> InMemory | None:
    """The live index and the user lookup when both are built for this
    version: user reads can then be answered on the event loop, touching
    neither the store nor a lock anyone holds for long."""
    index = service.live_index()
    lookup = service.peek(("user-lookup",))
    if index is None or lookup is None or not lookup.aligned_with(index):
        return None
    return index, lookup


def live_reader(service: Service) -> Store | LiveIndex:
    """Who answers user reads: the live index when built, else the store."""
    index = service.live_index()
    return service.store if index is None else index


def user(
    service: Service, user_id: str, memory: InMemory | None = None, full_names: bool = False
) -> models.UserDetail:
    """A user page; `memory` answers it without the store (`in_memory`);
    names masked unless `full_names` (api.names)."""
    index, lookup = memory or (service.live_index(), user_lookup(service))
    if index is None:
        record = service.store.user(user_id)  # UserNotFoundError: 404
        chain = service.store.referral_chain(user_id, CHAIN_LIMIT)
        row = lookup.row(user_id)
    else:
        code = index.code(user_id)  # UserNotFoundError: 404
        record, chain = index.record_at(code), index.chain_at(code, CHAIN_LIMIT)
        row = lookup.row_at(int(lookup.aligned(index)[code]))
    shown = [user_id, *([record.referred_by] if record.referred_by else []), *chain]
    names = names_of(service, shown, full_names, index or service.store)
    snapshot = lookup.snapshot
    decided = lookup.review(user_id)
    explained = explain_score(snapshot, row)
    return models.UserDetail(
        id=record.id,
        name=names.get(record.id),
        first_seen=record.first_seen,
        joined_at=record.joined_at,
        converted_at=record.converted_at,
        amount=record.amount,
        churned_at=record.churned_at,
        referred_by=record.referred_by,
        referred_by_name=names.get(record.referred_by) if record.referred_by else None,
        chain=chain,
        chain_names=[names.get(uid) for uid in chain],
        snapshot_id=snapshot.id if snapshot else None,
        in_snapshot=row is not None,
        metrics=_metrics(row),
        koc_score=row["koc_score"] if row else None,
        score_kind=explained.kind,
        score_horizon_days=explained.horizon_days,
        score_baseline=explained.baseline,
        score=explained.parts,
        top_reason=(reason_in_words(row) or None) if row else None,
        community=row["community"] if row else None,
        flagged=bool(row and row.get("flagged")),
        risk=row.get("risk") if row else None,
        flags=_flags(lookup, user_id) if row else [],
        review=models.ReviewOut(**decided) if decided else None,
    )


def _metrics(row: dict | None) -> dict | None:
    """The snapshot's metrics of the user, times as ISO text."""
    if not row:
        return None
    return {
        name: (row[name].isoformat() if isinstance(row[name], datetime) else row[name])
        for name in USER_COLUMNS
        if name in row
    }


def _flags(lookup: UserLookup, user_id: str) -> list[models.Flag]:
    """The user's flags with their evidence, in the reader's words."""
    found = [
        {"rule": f["rule"], "reason": f["reason"], "evidence": json.loads(f["evidence"])}
        for f in lookup.flags(user_id)
    ]
    return [models.Flag(**f) for f in flags_in_words(found)]


def network(
    service: Service,
    user_id: str,
    hops: int,
    limit: int,
    memory: InMemory | None = None,
    full_names: bool = False,
) -> models.Network:
    """A user's network; `memory` answers it without the store (`in_memory`);
    names masked unless `full_names` (api.names)."""
    index, lookup = memory or (service.live_index(), user_lookup(service))
    reader = service.store if index is None else index
    ego = reader.ego_network(user_id, hops=hops, limit=limit)
    ids = ego.users["id"]
    names = (
        names_of(service, ids.to_pylist(), full_names, reader)
        if index is None or ego.codes is None
        else names_at(index, ego.codes, full_names)
    )
    rows = (
        lookup.positions(ids.to_pylist())
        if index is None or ego.codes is None
        else lookup.aligned(index)[ego.codes]
    )
    known = lookup.columns(rows, NETWORK_COLUMNS)
    nodes = pa.table(
        {
            "id": ids,
            "name": pa.array([names.get(uid) for uid in ids.to_pylist()], pa.string()),
            "hop": ego.users["hop"],
            "koc_score": known["koc_score"],
            "community": known["community"],
            "flagged": pc.fill_null(known["flagged"].cast(pa.bool_()), False),
        }
    )
    # Validated from plain lists in one call: a model per node would cost
    # more than finding the network.
    return models.Network.model_validate(
        {
            "center": user_id,
            "hops": hops,
            "limit": limit,
            "truncated": ego.truncated,
            "nodes": nodes.to_pylist(),
            "ties": ego.ties.to_pylist(),
        }
    )
