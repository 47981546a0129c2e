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
being mapped.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from loaders.canonical import EVENT_TYPES, FIELDS, REQUIRED_COLUMNS
from loaders.errors import MappingError


def _clean_header(name: str) -> str:
    return name.replace("\ufeff", "").strip()


@dataclass(frozen=True)
class Mapping:
    columns: dict[str, str] = field(default_factory=dict)
    types: dict[str, str] = field(default_factory=dict)
    defaults: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in list(self.columns) + list(self.defaults):
            if name not in FIELDS:
                raise MappingError(
                    f"unknown field {name!r} in mapping; fields are: {', '.join(FIELDS)}"
                )
        for value, target in self.types.items():
            if target not in EVENT_TYPES:
                raise MappingError(
                    f"type value {value!r} maps to {target!r}, which is not one of "
                    f"{', '.join(EVENT_TYPES)}"
                )
        if "type" in self.defaults and self.defaults["type"] not in EVENT_TYPES:
            target = self.types.get(self.defaults["type"])
            if target is None:
                raise MappingError(
                    f"default type {self.defaults['type']!r} is not one of {', '.join(EVENT_TYPES)}"
                )

    def merged(self, other: Mapping) -> Mapping:
        """This mapping with `other`'s entries taking precedence."""
        return Mapping(
            columns={**self.columns, **other.columns},
            types={**self.types, **other.types},
            defaults={**self.defaults, **other.defaults},
        )

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
                    f"{source}: column {column!r} (mapped to {fld}) is not in the file; "
                    f"its columns are: {', '.join(cleaned) or '(none)'}"
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
                f"{source}: required column(s) missing after mapping: {', '.join(missing)}; "
                f"its columns are: {', '.join(cleaned) or '(none)'} "
                f"(map one with --map FIELD=COLUMN)"
            )
        return resolved


def _pairs(items: Iterable[str], what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise MappingError(f"{what} {item!r} is not of the form KEY=VALUE")
        out[key.strip()] = value.strip()
    return out


def mapping_from_options(
    columns: Iterable[str] = (),
    types: Iterable[str] = (),
    defaults: Iterable[str] = (),
    mapping_file: Path | None = None,
) -> Mapping:
    """Build a mapping from CLI options; options override the mapping file."""
    base = load_mapping_file(mapping_file) if mapping_file else Mapping()
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
        raise MappingError(f"mapping file {path}: cannot be read ({exc.strerror})") from exc
    try:
        data = json.loads(text) if Path(path).suffix.lower() == ".json" else tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise MappingError(f"mapping file {path}: not valid ({exc})") from exc
    unknown = set(data) - {"columns", "types", "defaults"}
    if unknown:
        raise MappingError(
            f"mapping file {path}: unknown section(s) {', '.join(sorted(unknown))}; "
            "expected columns, types, defaults"
        )
    sections: dict[str, dict[str, str]] = {}
    for section in ("columns", "types", "defaults"):
        value = data.get(section, {})
        if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        ):
            raise MappingError(f"mapping file {path}: [{section}] must map names to text values")
        sections[section] = value
    try:
        return Mapping(**sections)
    except MappingError as exc:
        raise MappingError(f"mapping file {path}: {exc}") from exc
