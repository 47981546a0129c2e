"""Several events from one row: the `[[events]]` of a mapping file.

An SCRM customer export holds, in one row, a contact's join (添加时间), its
churn (流失状态 = 已流失, at 删除时间) and an order (订单金额). A mapping
with `[[events]]` makes one event per entry from each row: each entry fixes
its event's type, adds its own columns and defaults over the shared ones
(`[columns]`, `[defaults]`), and may hold a `when` condition on the row::

    [columns]                          # shared by every event
    invitee_id = "外部联系人ID"
    invitee_name = "客户昵称"

    [[events]]
    type = "join"
    columns = { occurred_at = "添加时间" }

    [[events]]
    type = "churn"
    columns = { occurred_at = "删除时间" }
    when = { column = "流失状态", equals = "已流失" }

A shared `amount` goes to convert events only, a shared `inviter_id` to
invites and joins only (`CARRIED_BY`): no other type carries them.
A row whose condition does not hold is skipped for that event, which is not
a rejection. An entry with `optional = true` is left out, with a note, when
the file lacks a column it reads (an export without its order columns);
without it, such a file is refused. Conditions become SQL over a whole batch (`condition_sql`), in
the validation query: columns, not rows.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field

from loaders.canonical import EVENT_TYPES, FIELDS
from loaders.errors import MappingError

# Shared fields only some event types carry; the others leave them out.
CARRIED_BY: dict[str, tuple[str, ...]] = {
    "amount": ("convert",),
    "inviter_id": ("invite", "join"),
}
_EVENT_KEYS = ("type", "columns", "defaults", "when", "optional")
_TESTS = ("equals", "positive", "present")
# A cell as a number, as `amount` is read: thousands separators and ¥ allowed.
_NUMBER = "try_cast(regexp_replace({}, '[,\\s¥￥]', '', 'g') AS DECIMAL(18, 4))"


@dataclass(frozen=True)
class Condition:
    """A test on one column of the row, on its trimmed text:

    - `equals`: the cell is one of these values (exact text);
    - `positive`: the cell is a number above 0 (an empty cell, 0 or a
      negative number does not hold; text that is no number rejects the
      event, naming the cell, rather than skipping it unseen);
    - `present`: the cell is not empty.
    """

    column: str
    equals: tuple[str, ...] = ()
    positive: bool = False
    present: bool = False

    def __post_init__(self) -> None:
        if not self.column.strip():
            raise MappingError("a `when` condition needs the column it tests")
        chosen = sum((bool(self.equals), self.positive, self.present))
        if chosen != 1:
            raise MappingError(
                "the `when` condition on {column!r} needs exactly one test of equals = VALUE "
                "(or a list), positive = true, present = true",
                column=self.column,
            )


@dataclass(frozen=True)
class EventSpec:
    """One `[[events]]` entry: the event type it makes, its own columns and
    defaults (over the shared ones), the conditions that must all hold, and
    whether a file without its columns may leave it out."""

    type: str
    columns: dict[str, str] = field(default_factory=dict)
    defaults: dict[str, str] = field(default_factory=dict)
    when: tuple[Condition, ...] = ()
    optional: bool = False

    def __post_init__(self) -> None:
        if self.type not in EVENT_TYPES:
            raise MappingError(
                "event type {type!r} is not one of {types}",
                type=self.type,
                types=", ".join(EVENT_TYPES),
            )
        for name in [*self.columns, *self.defaults]:
            if name == "type":
                raise MappingError(
                    "the {type} event: its type is fixed by `type`; it maps no type column and "
                    "sets no type default",
                    type=self.type,
                )
            if name not in FIELDS:
                raise MappingError(
                    "the {type} event: unknown field {name!r}; fields are: {fields}",
                    type=self.type,
                    name=name,
                    fields=", ".join(FIELDS),
                )


def parse_events(value: object) -> tuple[EventSpec, ...]:
    """The `events` of a mapping file (a list of tables) as `EventSpec`s."""
    if not isinstance(value, list) or not value or not all(isinstance(e, dict) for e in value):
        raise MappingError("[[events]] must be a list of tables, one per event")
    specs = []
    for number, entry in enumerate(value, start=1):
        where = f"[[events]] entry {number}"
        unknown = sorted(set(entry) - set(_EVENT_KEYS))
        if unknown:
            raise MappingError(
                "{where}: unknown key(s) {unknown}; expected {keys}",
                where=where,
                unknown=", ".join(unknown),
                keys=", ".join(_EVENT_KEYS),
            )
        if not isinstance(entry.get("type"), str):
            raise MappingError(
                "{where}: needs type = one of {types}", where=where, types=", ".join(EVENT_TYPES)
            )
        sections = {}
        for key in ("columns", "defaults"):
            table = entry.get(key, {})
            if not isinstance(table, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in table.items()
            ):
                raise MappingError(
                    "{where}: {key} must map names to text values", where=where, key=key
                )
            sections[key] = table
        optional = entry.get("optional", False)
        if not isinstance(optional, bool):
            raise MappingError("{where}: `optional` must be true or false", where=where)
        when = _conditions(entry.get("when"), where)
        specs.append(EventSpec(entry["type"], when=when, optional=optional, **sections))
    return tuple(specs)


def _conditions(value: object, where: str) -> tuple[Condition, ...]:
    if value is None:
        return ()
    items = value if isinstance(value, list) else [value]
    out = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("column"), str):
            raise MappingError(
                "{where}: `when` must be a table like {{column = ..., equals = ...}}", where=where
            )
        unknown = sorted(set(item) - {"column", *_TESTS})
        if unknown:
            raise MappingError(
                "{where}: unknown test(s) {unknown} in `when`; tests are {tests}",
                where=where,
                unknown=", ".join(unknown),
                tests=", ".join(_TESTS),
            )
        equals = item.get("equals", ())
        equals = (equals,) if isinstance(equals, str) else equals
        if not isinstance(equals, list | tuple) or not all(isinstance(v, str) for v in equals):
            raise MappingError("{where}: `equals` must be text or a list of texts", where=where)
        for flag in ("positive", "present"):
            if not isinstance(item.get(flag, False), bool):
                raise MappingError(
                    "{where}: `{flag}` must be true or false", where=where, flag=flag
                )
        out.append(
            Condition(
                item["column"],
                tuple(equals),
                item.get("positive", False),
                item.get("present", False),
            )
        )
    return tuple(out)


def condition_sql(
    conditions: tuple[Condition, ...],
    cell: Callable[[str], str],
    param: Callable[[object], str],
    numbers_checked: Collection[str] = (),
) -> tuple[str, list[str]]:
    """SQL for the conditions of one event: a predicate keeping the rows for
    which every condition holds (or cannot be decided), and the problem
    expressions (NULL or `column: reason`) for the undecidable ones.

    `cell(column)` is the SQL of a column's trimmed text; `param(value)` binds
    a value and returns its placeholder (names never enter the SQL text).
    A column in `numbers_checked` (the event's amount) is named by the
    amount's own check, so its `positive` test adds no problem."""
    keep, problems = [], []
    for cond in conditions:
        value = f"nullif({cell(cond.column)}, '')"
        if cond.equals:
            keep.append(f"list_contains({param(list(cond.equals))}::VARCHAR[], {value})")
        elif cond.present:
            keep.append(f"{value} IS NOT NULL")
        else:
            number = _NUMBER.format(value)
            keep.append(f"({value} IS NOT NULL AND ({number} IS NULL OR {number} > 0))")
            if cond.column in numbers_checked:
                continue
            problems.append(
                f"CASE WHEN {value} IS NOT NULL AND {number} IS NULL THEN "
                f"{param(cond.column + ': not a number ')} || '''' || left({value}, 60) || '''' "
                f"|| {param(' (the event is made only when it is above 0)')} END"
            )
    return " AND ".join(keep) or "true", problems
