"""The review queue: flagged users with their evidence and the reviewers'
decisions (DESIGN.md, Fraud screening).

Flags come from the latest analysis snapshot; decisions live in the store and
outlast snapshots. A flagged user without a decision is `pending`. Until
approved, a flagged user stays out of the KOC lists and reward exports, and
the users it was credited with are not effective invites (from the next
analysis on).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from graph.store import REVIEW_STATUSES, Review, SavedSnapshot, Store, StoreError


class NotFlaggedError(StoreError):
    """The user is not flagged in the latest snapshot: nothing to review."""


@dataclass
class QueueEntry:
    user_id: str
    risk: float
    status: str  # pending, approved or declined
    flags: list[dict] = field(default_factory=list)  # rule, reason, evidence
    note: str | None = None
    reviewer: str | None = None
    reviewed_at: str | None = None


def review_queue(
    store: Store, snapshot: SavedSnapshot | None, status: str | None = None
) -> list[QueueEntry]:
    """Flagged users of the snapshot, highest risk first (then id)."""
    if status is not None and status not in REVIEW_STATUSES:
        raise StoreError(
            "unknown review status {status!r}; one of {choices}",
            status=status,
            choices=", ".join(REVIEW_STATUSES),
        )
    if snapshot is None or snapshot.flags is None or not snapshot.flags.num_rows:
        return []
    flags = snapshot.flags
    flagged = pc.unique(flags["user_id"])
    users = snapshot.users
    risk_rows = users.filter(pc.is_in(users["id"], value_set=flagged)).select(["id", "risk"])
    risk = dict(zip(risk_rows["id"].to_pylist(), risk_rows["risk"].to_pylist(), strict=True))
    decisions = {r["user_id"]: r for r in store.reviews().to_pylist()}
    entries: dict[str, QueueEntry] = {}
    for row in flags.to_pylist():
        uid = row["user_id"]
        entry = entries.get(uid)
        if entry is None:
            decided = decisions.get(uid)
            entry = entries[uid] = QueueEntry(
                user_id=uid,
                risk=float(risk.get(uid, 0.0)),
                status=decided["status"] if decided else "pending",
                note=decided["note"] if decided else None,
                reviewer=decided["reviewer"] if decided else None,
                reviewed_at=decided["reviewed_at"].isoformat() if decided else None,
            )
        entry.flags.append(
            {"rule": row["rule"], "reason": row["reason"], "evidence": json.loads(row["evidence"])}
        )
    queue = [e for e in entries.values() if status is None or e.status == status]
    queue.sort(key=lambda e: (-e.risk, e.user_id))
    return queue


def approved_ids(store: Store) -> set[str]:
    """Users whose current decision is approved: their flags no longer count."""
    reviews = store.reviews()
    return set(reviews.filter(pc.equal(reviews["status"], "approved"))["user_id"].to_pylist())


def review_user(
    store: Store,
    snapshot: SavedSnapshot | None,
    user_id: str,
    decision: str,
    note: str,
    reviewer: str,
) -> Review:
    """Approve or decline a flagged user."""
    if decision not in ("approved", "declined"):
        raise StoreError("a review approves or declines, not {decision!r}", decision=decision)
    if not note.strip():
        raise StoreError("a review needs a note saying why")
    if not reviewer.strip():
        raise StoreError("a review needs the reviewer's name")
    if snapshot is None or snapshot.flags is None:
        raise NotFlaggedError(
            "no analysis with fraud screening yet: run one first (koc analyze, or POST /v1/analyses)"
        )
    flagged = pc.any(pc.equal(snapshot.flags["user_id"], pa.scalar(user_id, pa.string())))
    if not flagged.as_py():
        raise NotFlaggedError(
            "user {user_id!r} is not flagged in the latest analysis ({snapshot}); only "
            "flagged users are reviewed",
            user_id=user_id,
            snapshot=snapshot.id[:8],
        )
    return store.record_review(user_id, decision, note.strip(), reviewer.strip())
