"""Validation: raw text batches in, canonical events and rejected rows out.

Each row is either accepted (typed as `EVENT_SCHEMA`) or rejected with every
reason that applies, as `field: reason` pairs. Rejected rows keep the original
row (as a JSON object of its columns, or the raw JSONL line) so the quarantine
loses nothing. The work is one DuckDB query per batch: columns, not rows.

Rules (DESIGN.md, "Canonical event"):

- `type` after value mapping must be one of invite, join, convert, churn;
- `invitee_id` and `occurred_at` are required; `inviter_id` for invites
  (a join with no inviter is a user of unknown attribution, not an error);
- an inviter equal to the invitee on an invite or join is a self-referral;
- times: ISO 8601 with or without offset, `YYYY-MM-DD HH:MM[:SS]`,
  `YYYY/MM/DD HH:MM[:SS]`, epoch seconds (9-10 digits) or milliseconds
  (12-13 digits); naive times are in `timezone`; stored in UTC;
- `amount` is required on convert, a non-negative number (thousands
  separators and a leading ¥ are allowed);
- times must fall in `TimeBounds` (default 2000-01-01 up to 2100-01-01
  UTC) and a written offset must stay within ±14:00: a year 1
  or 10000, or a `+99:00`, is a broken export, and stored it would poison
  every read of the store;
- ids are trimmed text; an id in scientific notation (1.23E+18) was rounded
  by a spreadsheet and is rejected rather than stored wrong. Ids and the
  event id may not hold control characters (NUL, tabs, line breaks: they
  break exports, URLs and terminals); ids, the event id, campaign and
  channel may not exceed `MAX_ID_LENGTH` (256 characters);
- `invitee_name`, a display name, may hold no control characters either
  and at most `MAX_ID_LENGTH` characters.

An event of a mapping's `[[events]]` (`loaders.row_events`) is checked by a
`Validator` of its own: its `when` conditions filter the rows in the same
query, before any check, and an event id read from a column gets
`:<type>` appended, so each event of a row keeps an id of its own.

`event_id`, when absent, is the MD5 of every other canonical field
(`loaders.canonical.hashed_event_id_sql`), so the same event read twice gets
the same id and two orders at the same second with different amounts stay two.
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from loaders.canonical import EVENT_SCHEMA, EVENT_TYPES, FIELDS, hashed_event_id_sql
from loaders.errors import MappingError
from loaders.mapping import Mapping
from loaders.readers import LINE, RAW_JSON
from loaders.row_events import Condition, condition_sql

REJECTED_SCHEMA = pa.schema(
    [
        pa.field("line", pa.int64()),
        pa.field("field", pa.string()),
        pa.field("reason", pa.string()),
        pa.field("row", pa.string()),
    ]
)

_ID_FIELDS = ("inviter_id", "invitee_id", "staff_id", "device_id")
# Ids may hold no control characters; these and the labels at most MAX_ID_LENGTH.
_CLEAN_FIELDS = ("event_id", *_ID_FIELDS, "invitee_name")
_SHORT_FIELDS = (*_CLEAN_FIELDS, "campaign", "channel")
MAX_ID_LENGTH = 256
MAX_OFFSET_MINUTES = 14 * 60  # real UTC offsets run from -12:00 to +14:00


@dataclass(frozen=True)
class TimeBounds:
    """Event times accepted at ingest: `earliest` <= time < `latest`."""

    earliest: datetime = datetime(2000, 1, 1, tzinfo=UTC)
    latest: datetime = datetime(2100, 1, 1, tzinfo=UTC)

    def __post_init__(self) -> None:
        if self.earliest.tzinfo is None or self.latest.tzinfo is None:
            raise ValueError("event time bounds need a time zone (e.g. 2000-01-01T00:00:00Z)")
        if self.earliest >= self.latest:
            raise ValueError("the earliest event time must come before the latest")


DEFAULT_TIME_BOUNDS = TimeBounds()


def check_timezone(name: str) -> str:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise MappingError(
            "unknown time zone {name!r} (use an IANA name like Asia/Shanghai)", name=name
        ) from exc
    return name


@dataclass
class Checked:
    accepted: pa.Table
    rejected: pa.Table
    skipped: int = 0  # rows the `when` conditions left out


def _quoted(value_sql: str) -> str:
    # Echo at most 60 characters of a bad value back in its reason.
    return f"'''' || left({value_sql}, 60) || ''''"


class Validator:
    """Checks batches of one source against one mapping and time zone."""

    def __init__(
        self,
        header: list[str],
        columns: dict[str, str],
        mapping: Mapping,
        timezone: str,
        bounds: TimeBounds = DEFAULT_TIME_BOUNDS,
        *,
        when: tuple[Condition, ...] = (),
        id_suffix: str | None = None,
    ) -> None:
        """`when`: conditions on header columns; rows failing them are left
        out (`Checked.skipped`). `id_suffix`: appended to event ids read
        from a column, as `:<suffix>`."""
        self._header = header
        self._bounds = bounds
        self._when, self._id_suffix = when, id_suffix
        self._con = duckdb.connect()
        # Naive times are read in the configured zone by the TIMESTAMPTZ cast.
        self._con.execute(f"SET TimeZone = '{check_timezone(timezone)}'")
        self._con.execute("SET threads = 2")
        self._con.execute("SET memory_limit = '512MB'")
        used = [*columns.values(), *(c.column for c in when)]
        self._trimmed = sorted({self._header.index(c) for c in used})
        self._sql, self._params = self._build(columns, mapping)

    def close(self) -> None:
        self._con.close()

    def _build(self, columns: dict[str, str], mapping: Mapping) -> tuple[str, dict]:
        position = {name: i for i, name in enumerate(self._header)}
        params: dict[str, object] = {}

        def param(value: object) -> str:
            name = f"p{len(params)}"
            params[name] = value
            return f"${name}"

        selects = []
        for fld in FIELDS:
            default = mapping.defaults.get(fld)
            if fld in columns:
                # t{i}: the column trimmed of Unicode whitespace (see `check`).
                expr = f"nullif(t{position[columns[fld]]}, '')"
                if default is not None:
                    expr = f"coalesce({expr}, {param(default)}::VARCHAR)"
            else:
                expr = f"{param(default)}::VARCHAR"
            if fld == "event_id" and self._id_suffix:
                expr = f"({expr}) || {param(':' + self._id_suffix)}"
            selects.append(f"{expr} AS raw_{fld}")
        keep, condition_problems = condition_sql(
            self._when,
            lambda column: f"t{position[column]}",
            param,
            numbers_checked=[columns["amount"]] if "amount" in columns else [],
        )

        types = f"map({param(list(mapping.types))}::VARCHAR[], {param(list(mapping.types.values()))}::VARCHAR[])"
        known_types = f"{param(list(EVENT_TYPES))}::VARCHAR[]"
        if RAW_JSON in self._header:
            row_json = f"c{position[RAW_JSON]}"
        else:
            pairs = ", ".join(
                f"{param(name)}, c{i}" for i, name in enumerate(self._header) if name != LINE
            )
            row_json = f"json_object({pairs})"

        earliest, latest = self._bounds.earliest, self._bounds.latest
        control = r"'[\x00-\x1F\x7F]'"
        name_checks = "\n".join(
            f"""CASE WHEN {f"regexp_matches(raw_{f}, {control})" if f in _CLEAN_FIELDS else "false"}
                  THEN '{f}: control character (NUL, tab, line break, ...) in the {"name" if f == "invitee_name" else "id"}'
                  WHEN length(raw_{f}) > {MAX_ID_LENGTH}
                  THEN '{f}: longer than {MAX_ID_LENGTH} characters' END,"""
            for f in _SHORT_FIELDS
        )
        id_checks = "\n".join(
            # The cheap contains() guards the regex (spreadsheets write E+18):
            # CASE runs the inner test only on the rows that pass the outer one.
            f"""CASE WHEN contains(raw_{f}, '+') THEN
                  CASE WHEN regexp_full_match(raw_{f}, '[0-9](\\.[0-9]+)?[eE]\\+[0-9]+')
                  THEN '{f}: id in scientific notation ' || {_quoted(f"raw_{f}")}
                       || ' was rounded by a spreadsheet; export ids as text' END END,"""
            for f in _ID_FIELDS
        )
        sql = f"""
        WITH src AS (
            SELECT *, {", ".join(selects)}, c{position[LINE]} AS line
            FROM batch WHERE {keep}
        ), typed AS (
            SELECT *,
                coalesce({types}[raw_type], {types}[lower(raw_type)], lower(raw_type)) AS type,
                CASE
                    WHEN raw_occurred_at IS NULL THEN NULL
                    -- dates and ISO times have '-' or '/': skip the epoch tests
                    WHEN contains(raw_occurred_at, '-') OR contains(raw_occurred_at, '/')
                        THEN try_cast(raw_occurred_at AS TIMESTAMPTZ)
                    WHEN regexp_full_match(raw_occurred_at, '[0-9]{{12,13}}')
                        THEN timezone('UTC', epoch_ms(raw_occurred_at::BIGINT))
                    WHEN regexp_full_match(raw_occurred_at, '[0-9]{{9,10}}(\\.[0-9]+)?')
                        THEN to_timestamp(raw_occurred_at::DOUBLE)
                    ELSE try_cast(raw_occurred_at AS TIMESTAMPTZ)
                END AS occurred_at,
                try_cast(regexp_replace(raw_amount, '[,\\s¥￥]', '', 'g') AS DECIMAL(18, 4))
                    AS amount,
                -- a written offset after a clock time (+08:00, -0530, +99:00); the
                -- cheap tail test keeps the regexes off rows that cannot hold one
                CASE WHEN contains(right(raw_occurred_at, 6), '+')
                          OR contains(right(raw_occurred_at, 6), '-') THEN
                    try_cast(regexp_extract(raw_occurred_at,
                        '[0-9]:[0-9]{{2}}(:[0-9]{{2}}(\\.[0-9]+)?)?\\s*[+-]([0-9]{{2}}):?[0-9]{{2}}$', 3)
                        AS INTEGER) * 60
                    + try_cast(regexp_extract(raw_occurred_at,
                        '[0-9]:[0-9]{{2}}(:[0-9]{{2}}(\\.[0-9]+)?)?\\s*[+-][0-9]{{2}}:?([0-9]{{2}})$', 3)
                        AS INTEGER)
                END AS offset_minutes
            FROM src
        ), checked AS (
            SELECT *, list_filter([
                CASE WHEN raw_type IS NULL THEN 'type: missing'
                     WHEN NOT list_contains({known_types}, type)
                     THEN 'type: unknown type ' || {_quoted("raw_type")}
                          || ' (expected invite, join, convert or churn; map others with --map-type)'
                END,
                CASE WHEN raw_invitee_id IS NULL THEN 'invitee_id: missing' END,
                CASE WHEN raw_inviter_id IS NULL AND type = 'invite'
                     THEN 'inviter_id: missing (required for invite)' END,
                CASE WHEN raw_inviter_id = raw_invitee_id AND type IN ('invite', 'join')
                     THEN 'inviter_id: self-referral (inviter_id equals invitee_id)' END,
                CASE WHEN raw_occurred_at IS NULL THEN 'occurred_at: missing'
                     WHEN occurred_at IS NULL
                     THEN 'occurred_at: unparseable timestamp ' || {_quoted("raw_occurred_at")}
                     WHEN offset_minutes > {MAX_OFFSET_MINUTES}
                     THEN 'occurred_at: ' || {_quoted("raw_occurred_at")}
                          || ' has no real UTC offset (real ones stay within ±14:00)'
                     WHEN occurred_at < {param(earliest)}::TIMESTAMPTZ
                          OR occurred_at >= {param(latest)}::TIMESTAMPTZ
                     THEN 'occurred_at: ' || {_quoted("raw_occurred_at")} || ' is outside '
                          || {param(f"{earliest:%Y-%m-%d} .. {latest:%Y-%m-%d}")}
                          || ' (KOC_EVENT_EARLIEST, KOC_EVENT_LATEST)'
                END,
                CASE WHEN raw_amount IS NULL AND type = 'convert'
                     THEN 'amount: missing (required for convert)'
                     WHEN raw_amount IS NOT NULL AND amount IS NULL
                     THEN 'amount: not a number ' || {_quoted("raw_amount")}
                     WHEN amount < 0 THEN 'amount: negative amount ' || {_quoted("raw_amount")}
                END,
                {id_checks}
                {name_checks}
                {"".join(p + "," for p in condition_problems)}
            ], lambda x: x IS NOT NULL) AS problems,
            -- each field as stored, for the hashed event id
            type AS f_type, raw_inviter_id AS f_inviter_id, raw_invitee_id AS f_invitee_id,
            occurred_at AS f_occurred_at, raw_campaign AS f_campaign,
            raw_channel AS f_channel, raw_staff_id AS f_staff_id, amount AS f_amount,
            raw_device_id AS f_device_id, raw_ip AS f_ip
            FROM typed
        )
        SELECT
            coalesce(raw_event_id, {hashed_event_id_sql("f_{}")}) AS event_id,
            type, f_inviter_id AS inviter_id, f_invitee_id AS invitee_id,
            occurred_at,
            f_campaign AS campaign, f_channel AS channel, f_staff_id AS staff_id,
            amount, f_device_id AS device_id, f_ip AS ip, raw_invitee_name AS invitee_name, line,
            CASE WHEN len(problems) > 0 THEN array_to_string(problems, '; ') END AS reason,
            CASE WHEN len(problems) > 0 THEN array_to_string(
                list_transform(problems, lambda p: split_part(p, ':', 1)), ', ') END AS field,
            -- built for rejected rows only: CASE evaluates THEN on matching rows
            CASE WHEN len(problems) > 0 THEN {row_json} END AS row
        FROM checked
        """
        return sql, params

    def check(self, raw: pa.RecordBatch) -> Checked:
        # Trimming in Arrow covers every Unicode space (U+3000 from Chinese
        # input methods too) and is cheaper than in SQL.
        arrays = [*raw.columns, *(pc.utf8_trim_whitespace(raw.column(i)) for i in self._trimmed)]
        names = [f"c{i}" for i in range(raw.num_columns)] + [f"t{i}" for i in self._trimmed]
        batch = pa.Table.from_arrays(arrays, names)  # noqa: F841 - scanned by name in the query
        result = self._con.sql(self._sql, params=self._params).to_arrow_table()
        skipped = raw.num_rows - result.num_rows
        if result["reason"].null_count == result.num_rows:
            # All valid, the common case: no filtering copy.
            accepted = result.select(EVENT_SCHEMA.names).cast(EVENT_SCHEMA)
            return Checked(accepted, REJECTED_SCHEMA.empty_table(), skipped)
        ok = pc.is_null(result["reason"])
        accepted = result.filter(ok).select(EVENT_SCHEMA.names).cast(EVENT_SCHEMA)
        rejected = result.filter(pc.invert(ok)).select(REJECTED_SCHEMA.names)
        return Checked(accepted, rejected.cast(REJECTED_SCHEMA), skipped)
