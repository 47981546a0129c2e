"""Column mapping: how a source's own headers and values become canonical fields.

SCRM tools export with their own headers (邀请人ID, 客户ID, 添加时间) and their own
event words (添加, 流失). A `Mapping` says which column holds which canonical
field, how to translate `type` values, and which constants to use where a
column is absent or a cell is empty.

A mapping file is TOML (or JSON with the same keys)::

    [columns]           # canonical field = source column
    inviter_id = "邀请人ID"
    invitee_id = "客户ID"
    occurred_at = "添加时间"

    [types]             # source value = canonical type
    "添加" = "join"
    "流失" = "churn"

    [defaults]          # canonical field = value used when empty or absent
    type = "join"
    campaign = "2024-spring"

Columns named like a canonical field (case-insensitive) are used without
being mapped. A mapping file may also make several events from each row
(`[[events]]`, see `loaders.row_events`) and list the columns of the export
that it knows and leaves unused (`unused = [...]`), so the ingest report can
tell them from columns it does not know.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from loaders.canonical import EVENT_TYPES, FIELDS, REQUIRED_COLUMNS
from loaders.errors import MappingError
from loaders.row_events import CARRIED_BY, EventSpec, parse_events

_SECTIONS = ("columns", "types", "defaults", "events", "unused")


def _clean_header(name: str) -> str:
    return name.replace("\ufeff", "").strip()


def header_column(header: Sequence[str], wanted: str) -> str | None:
    """The header's column named `wanted` (BOM and spaces aside, then
    case-insensitive), or None."""
    cleaned = {_clean_header(h): h for h in header}
    folded = {c.casefold(): h for c, h in cleaned.items()}
    name = _clean_header(wanted)
    return cleaned.get(name) or folded.get(name.casefold())


@dataclass(frozen=True)
class Mapping:
    columns: dict[str, str] = field(default_factory=dict)
    types: dict[str, str] = field(default_factory=dict)
    defaults: dict[str, str] = field(default_factory=dict)
    # Several events per row (loaders.row_events); none: one event per row.
    events: tuple[EventSpec, ...] = ()
    # Columns of the export the mapping knows and deliberately leaves unused.
    unused: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        self._check_events()
        for name in list(self.columns) + list(self.defaults):
            if name not in FIELDS:
                raise MappingError(
                    "unknown field {name!r} in mapping; fields are: {fields}",
                    name=name,
                    fields=", ".join(FIELDS),
                )
        for value, target in self.types.items():
            if target not in EVENT_TYPES:
                raise MappingError(
                    "type value {value!r} maps to {target!r}, which is not one of {types}",
                    value=value,
                    target=target,
                    types=", ".join(EVENT_TYPES),
                )
        if "type" in self.defaults and self.defaults["type"] not in EVENT_TYPES:
            target = self.types.get(self.defaults["type"])
            if target is None:
                raise MappingError(
                    "default type {default!r} is not one of {types}",
                    default=self.defaults["type"],
                    types=", ".join(EVENT_TYPES),
                )

    def _check_events(self) -> None:
        if not self.events:
            return
        if "type" in self.columns or "type" in self.defaults or self.types:
            raise MappingError(
                "a mapping with [[events]] fixes each event's type: it maps no type column "
                "and has no [types] or type default"
            )
        types = [e.type for e in self.events]
        repeated = sorted({t for t in types if types.count(t) > 1})
        if repeated:
            raise MappingError(
                "[[events]] makes {types} more than once; each entry makes another type of event",
                types=", ".join(repeated),
            )

    def merged(self, other: Mapping) -> Mapping:
        """This mapping with `other`'s entries taking precedence. `other`'s
        columns and defaults are shared ones: an event's own entries still
        win for that event."""
        return Mapping(
            columns={**self.columns, **other.columns},
            types={**self.types, **other.types},
            defaults={**self.defaults, **other.defaults},
            events=other.events or self.events,
            unused=other.unused or self.unused,
        )

    def per_event(self) -> list[tuple[EventSpec | None, Mapping]]:
        """The single-event mapping of each event a row makes: the shared
        entries (`amount` for convert events only) under the event's own,
        its type as the type default. Without [[events]]: this mapping.

        Shared fields only some types carry (`row_events.CARRIED_BY`: an
        amount, an inviter) go to those types' events only."""
        if not self.events:
            return [(None, self)]
        out = []
        for spec in self.events:
            drop = [f for f, types in CARRIED_BY.items() if spec.type not in types]
            columns = {f: c for f, c in self.columns.items() if f not in drop}
            defaults = {f: v for f, v in self.defaults.items() if f not in drop}
            mapping = Mapping(
                columns={**columns, **spec.columns},
                defaults={**defaults, **spec.defaults, "type": spec.type},
            )
            out.append((spec, mapping))
        return out

    def resolve(self, header: Sequence[str], source: str) -> dict[str, str]:
        """Map each canonical field to the source column that holds it.

        Raises `MappingError` naming the file when a mapped column is not in
        the header or a required field has neither a column nor a default.
        """
        cleaned = {_clean_header(h): h for h in header}
        folded = {c.casefold(): h for c, h in cleaned.items()}
        resolved: dict[str, str] = {}
        for fld, column in self.columns.items():
            wanted = _clean_header(column)
            found = cleaned.get(wanted) or folded.get(wanted.casefold())
            if found is None:
                raise MappingError(
                    "{source}: column {column!r} (mapped to {target}) is not in the file; its "
                    "columns are: {columns}",
                    source=source,
                    column=column,
                    target=fld,
                    columns=", ".join(cleaned) or "(none)",
                )
            resolved[fld] = found
        taken = set(resolved.values())
        for fld in FIELDS:
            if fld in resolved:
                continue
            found = folded.get(fld.casefold())
            if found is not None and found not in taken:
                resolved[fld] = found
        missing = [f for f in REQUIRED_COLUMNS if f not in resolved and f not in self.defaults]
        if missing:
            raise MappingError(
                "{source}: required column(s) missing after mapping: {missing}; its columns "
                "are: {columns} (map one with --map FIELD=COLUMN)",
                source=source,
                missing=", ".join(missing),
                columns=", ".join(cleaned) or "(none)",
            )
        return resolved


def _pairs(items: Iterable[str], what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise MappingError("{what} {item!r} is not of the form KEY=VALUE", what=what, item=item)
        out[key.strip()] = value.strip()
    return out


def mapping_from_options(
    columns: Iterable[str] = (),
    types: Iterable[str] = (),
    defaults: Iterable[str] = (),
    mapping_file: Path | None = None,
    preset: Mapping | None = None,
) -> Mapping:
    """Build a mapping from CLI options; options override the mapping file or
    the preset (`loaders.presets.load_preset`), of which there is one at most."""
    if preset is not None and mapping_file:
        raise MappingError("give --preset or --mapping, not both")
    base = load_mapping_file(mapping_file) if mapping_file else (preset or Mapping())
    given = Mapping(
        columns=_pairs(columns, "--map"),
        types=_pairs(types, "--map-type"),
        defaults=_pairs(defaults, "--set"),
    )
    return base.merged(given)


def load_mapping_file(path: Path) -> Mapping:
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise MappingError(
            "mapping file {path}: cannot be read ({reason})", path=path, reason=exc.strerror
        ) from exc
    try:
        data = json.loads(text) if Path(path).suffix.lower() == ".json" else tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise MappingError(
            "mapping file {path}: not valid ({error})", path=path, error=exc
        ) from exc
    try:
        return mapping_from_data(data)
    except MappingError as exc:
        raise MappingError("mapping file {path}: {error}", path=path, error=exc) from exc


def mapping_from_data(data: object) -> Mapping:
    """A mapping from a mapping file's parsed TOML or JSON."""
    if not isinstance(data, dict):
        raise MappingError("not a table of sections")
    unknown = set(data) - set(_SECTIONS)
    if unknown:
        raise MappingError(
            "unknown section(s) {unknown}; expected {sections}",
            unknown=", ".join(sorted(unknown)),
            sections=", ".join(_SECTIONS),
        )
    sections: dict[str, dict[str, str]] = {}
    for section in ("columns", "types", "defaults"):
        value = data.get(section, {})
        if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        ):
            raise MappingError("[{section}] must map names to text values", section=section)
        sections[section] = value
    unused = data.get("unused", [])
    if not isinstance(unused, list) or not all(isinstance(c, str) for c in unused):
        raise MappingError("`unused` must be a list of column names")
    events = parse_events(data["events"]) if "events" in data else ()
    return Mapping(**sections, events=events, unused=tuple(unused))
