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
        # Where the event came from: its line in the source (header = line 1),
        # so a later question about an event can be traced to the file.
        pa.field("line", pa.int64(), nullable=False),
    ]
)

DEFAULT_TIMEZONE = "Asia/Shanghai"
