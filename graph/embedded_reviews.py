"""The embedded store's review decisions (`Store.record_review`,
`Store.reviews`), as SQL over its `reviews` table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa

from graph.duckdb_tables import has_table, scalar
from graph.store import Review, StoreError, UserNotFoundError

# The current decision per user: its latest review (times are strictly
# increasing per user, see `record`).
CURRENT_REVIEWS = """
    SELECT user_id, arg_max(status, reviewed_at) AS status, arg_max(note, reviewed_at) AS note,
        arg_max(reviewer, reviewed_at) AS reviewer, max(reviewed_at) AS reviewed_at
    FROM reviews GROUP BY user_id
"""


def record(
    con: duckdb.DuckDBPyConnection, path: Path, user_id: str, status: str, note: str, reviewer: str
) -> Review:
    if status not in ("approved", "declined"):
        raise StoreError(
            "review status must be approved or declined, not {status!r}", status=status
        )
    if not scalar(con, "SELECT count(*) FROM users WHERE id = ?", [user_id]):
        raise UserNotFoundError("no user {user_id!r} in store {path}", user_id=user_id, path=path)
    # Decisions on one user get strictly increasing times, so the latest
    # is well defined even for two within a microsecond.
    last = scalar(con, "SELECT max(reviewed_at) FROM reviews WHERE user_id = ?", [user_id])
    now = datetime.now(UTC)
    if last is not None and now <= last:
        now = last + timedelta(microseconds=1)
    review = Review(user_id, status, note, reviewer, now)
    con.execute(
        "INSERT INTO reviews VALUES (?, ?, ?, ?, ?)",
        [user_id, status, note, reviewer, review.reviewed_at],
    )
    return review


def current(con: duckdb.DuckDBPyConnection) -> pa.Table:
    if not has_table(con, "reviews"):  # a read-only store from before reviews
        return pa.table(
            {
                "user_id": pa.array([], pa.string()),
                "status": pa.array([], pa.string()),
                "note": pa.array([], pa.string()),
                "reviewer": pa.array([], pa.string()),
                "reviewed_at": pa.array([], pa.timestamp("us", tz="UTC")),
            }
        )
    return con.sql(f"{CURRENT_REVIEWS} ORDER BY user_id").to_arrow_table()
