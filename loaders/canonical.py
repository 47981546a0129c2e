"""The canonical event: the one table every source is read into.

See DESIGN.md, "Canonical event". Every loader produces Arrow batches with
exactly `EVENT_SCHEMA`; the stores only ever see this shape.
"""

from __future__ import annotations

import pyarrow as pa

EVENT_TYPES: tuple[str, ...] = ("invite", "join", "convert", "churn")

# Fields a source file may carry, in canonical order.
FIELDS: tuple[str, ...] = (
    "event_id",
    "type",
    "inviter_id",
    "invitee_id",
    "occurred_at",
    "campaign",
    "channel",
    "staff_id",
    "amount",
    "device_id",
    "ip",
    "invitee_name",
)

# Columns a file must have (after mapping and defaults) to be read at all.
REQUIRED_COLUMNS: tuple[str, ...] = ("type", "invitee_id", "occurred_at")

# Amounts are money (CNY); four decimals leave room for fen and rates.
AMOUNT_TYPE = pa.decimal128(18, 4)

EVENT_SCHEMA = pa.schema(
    [
        pa.field("event_id", pa.string(), nullable=False),
        pa.field("type", pa.string(), nullable=False),
        pa.field("inviter_id", pa.string()),
        pa.field("invitee_id", pa.string(), nullable=False),
        pa.field("occurred_at", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("campaign", pa.string()),
        pa.field("channel", pa.string()),
        pa.field("staff_id", pa.string()),
        pa.field("amount", AMOUNT_TYPE),
        pa.field("device_id", pa.string()),
        pa.field("ip", pa.string()),
        # The invitee's display name (a WeCom nickname, 客户昵称): a label,
        # not part of what the event is (see CONTENT_FIELDS).
        pa.field("invitee_name", pa.string()),
        # Where the event came from: its line in the source (header = line 1),
        # so a later question about an event can be traced to the file.
        pa.field("line", pa.int64(), nullable=False),
    ]
)

DEFAULT_TIMEZONE = "Asia/Shanghai"

# Fields that label an event without being part of it: a nickname changes
# while the event stays the same event, so these are neither hashed into an
# id nor compared for conflicts.
LABEL_FIELDS: tuple[str, ...] = ("invitee_name",)

# Every canonical field but the id itself and the labels: what makes two
# events the same event. An id given twice with different values here is a
# conflict.
CONTENT_FIELDS: tuple[str, ...] = tuple(
    f for f in FIELDS if f != "event_id" and f not in LABEL_FIELDS
)


def hashed_event_id_sql(column: str = "{}") -> str:
    """DuckDB SQL for the id of an event that came without one: the MD5 of
    every other canonical field but the labels (time as UTC epoch microseconds, the amount
    at its four decimals), so two orders of different amounts at the same
    second stay two events and the same row read twice is one.

    `column` names the columns, `{}` standing for the field name
    (`"raw_{}"` reads `raw_type`, `raw_amount`, ...); those must already be
    typed (`occurred_at` a TIMESTAMPTZ, `amount` a DECIMAL(18, 4)).
    """
    parts = []
    for name in CONTENT_FIELDS:
        col = column.format(name)
        if name == "occurred_at":
            parts.append(f"epoch_us({col})::VARCHAR")
        elif name == "amount":
            parts.append(f"coalesce({col}::DECIMAL(18, 4)::VARCHAR, '')")
        else:
            parts.append(f"coalesce({col}, '')")
    return f"md5(concat_ws(chr(31), {', '.join(parts)}))"


def legacy_hashed_event_id_sql(column: str = "{}") -> str:
    """The id stores of schema version 1 hashed (type, inviter, invitee, time
    and campaign only), to recognise such ids when migrating them."""
    col = column.format
    return (
        f"md5(concat_ws(chr(31), {col('type')}, coalesce({col('inviter_id')}, ''), "
        f"{col('invitee_id')}, epoch_us({col('occurred_at')})::VARCHAR, "
        f"coalesce({col('campaign')}, '')))"
    )
