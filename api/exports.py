"""The reward export: a KOC list as CSV or XLSX for reward operations, with a
manifest naming the snapshot, the parameters and the time.

- Only users not flagged, or approved on review, are exported.
- Text cells beginning with `=`, `+`, `-`, `@` (or a tab or carriage return,
  which Excel also reads as a formula start) get a leading `'`, so a hostile
  user id cannot become a formula in the reward team's spreadsheet.
- CSV is UTF-8 with a BOM so Excel opens Chinese text correctly; its
  manifest is a sidecar JSON file. XLSX carries the manifest as a sheet,
  its columns as wide as their text (a Chinese character counts two) and
  its header row frozen (api.sheets).
- Headers, reasons and the manifest's words are in the export's language
  (`lang`, the reader's by default); the manifest's keys stay English for
  scripts. Beside each KOC's numbers: its name, and the staff member
  (归属成员) and channel (渠道) of its own first join (`Store.first_joins`).

>>> neutralise("=HYPERLINK(\\"http://x\\")")
'\\'=HYPERLINK("http://x")'
>>> neutralise(-3)
-3
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from api.i18n import LANGS, N_, Lang, _, current_lang, notes_text, use_lang
from api.reasons import rules_in_words, shown_reason
from api.sheets import csv_bytes, xlsx_bytes
from graph.analysis.kocs import KocList
from graph.review import approved_ids
from graph.store import SavedSnapshot, Store

FORMATS = ("csv", "xlsx")
# (key, header): headers in the export's language with `_`.
COLUMNS = (
    ("rank", N_("rank")),
    ("user_id", N_("user id")),
    ("name", N_("customer name")),
    ("staff_id", N_("staff member")),
    ("channel", N_("channel")),
    ("koc_score", N_("KOC score")),
    ("reward_tier", N_("reward tier")),
    ("invites", N_("invites")),
    ("effective_invites", N_("effective invites")),
    ("reach", N_("reach")),
    ("conversions", N_("conversions")),
    ("gmv", N_("GMV")),
    ("community", N_("community")),
    ("why", N_("why")),
    ("flags", N_("flags")),
)
# What each manifest entry is, in the manifest sheet (its key stays beside it).
MANIFEST_LABELS = {
    "export": N_("what this file is"),
    "exported_at": N_("exported at (UTC)"),
    "snapshot_id": N_("analysis snapshot"),
    "snapshot_computed_at": N_("snapshot computed at (UTC)"),
    "snapshot_watermark": N_("last ingest batch the snapshot saw"),
    "analysis_params": N_("analysis parameters"),
    "strategy": N_("how the KOCs were picked"),
    "k": N_("KOCs asked for"),
    "quota": N_("quota per community"),
    "sharers": N_("share of k picked as sharers (learned score)"),
    "seed": N_("random seed"),
    "excluded": N_("users excluded on request"),
    "reward_tiers": N_("reward tiers (lowest KOC score of each)"),
    "lang": N_("language of the file"),
    "columns": N_("column keys"),
    "headers": N_("column headers"),
    "rows": N_("KOCs in the file"),
    "withheld_flagged": N_("withheld: flagged and not approved on review"),
    "eligible_users": N_("users who could be picked"),
    "users": N_("users in the analysis"),
    "notes": N_("notes on the picks"),
}
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


# Characters a spreadsheet cell cannot hold (XLSX refuses the whole file):
# stores written before ingest refused them may still have some.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def neutralise(value: Any) -> Any:
    """A text cell made safe: one a spreadsheet would run as a formula becomes
    plain text, and control characters become U+FFFD, so one row can never
    break an export."""
    if not isinstance(value, str):
        return value
    value = _CONTROL.sub("\ufffd", value)
    return "'" + value if value.startswith(_FORMULA_STARTS) else value


def reward_tier(score: float, tiers: dict[str, float]) -> str:
    """The first tier (highest minimum first) whose minimum the score reaches."""
    for name, floor in sorted(tiers.items(), key=lambda kv: -kv[1]):
        if score >= floor:
            return name
    return ""


@dataclass
class KocExport:
    headers: list[str]
    rows: list[list[Any]]  # already neutralised
    manifest: dict[str, Any]

    def filename(self, fmt: str) -> str:
        m = self.manifest
        return f"kocs-{m['snapshot_id'][:8]}-{m['strategy']}-k{m['k']}.{fmt}"


@dataclass
class Contacts:
    """What the store knows of the exported users beyond the snapshot: their
    names and how each came in (the staff member and channel of its own
    first join). Users it has nothing on are left out."""

    names: dict[str, str] = field(default_factory=dict)
    staff: dict[str, str | None] = field(default_factory=dict)
    channels: dict[str, str | None] = field(default_factory=dict)


def read_contacts(store: Store, ids: list[str]) -> Contacts:
    """Two bounded reads for `ids`: their names and their first joins."""
    joins = store.first_joins(ids)
    joined = joins["id"].to_pylist()
    return Contacts(
        names=store.user_names(ids),
        staff=dict(zip(joined, joins["staff_id"].to_pylist(), strict=True)),
        channels=dict(zip(joined, joins["channel"].to_pylist(), strict=True)),
    )


def store_export(
    store: Store,
    kocs: KocList,
    snapshot: SavedSnapshot,
    tiers: dict[str, float],
    lang: Lang | None = None,
) -> KocExport:
    """`build_export` with the reviews, names and joins read from `store`."""
    contacts = read_contacts(store, [r.user_id for r in kocs.rows])
    return build_export(kocs, snapshot, approved_ids(store), tiers, lang, contacts)


def _flag_rules(snapshot: SavedSnapshot, picked: list[str]) -> dict[str, str | None]:
    """The rules that flagged each picked user (comma-separated), if any."""
    users = snapshot.users
    mine = users.filter(pc.is_in(users["id"], value_set=pa.array(picked, pa.string())))
    rules = (
        mine["flag_rules"].to_pylist()
        if "flag_rules" in mine.column_names
        else [None] * mine.num_rows
    )
    return dict(zip(mine["id"].to_pylist(), rules, strict=True))


def build_export(
    kocs: KocList,
    snapshot: SavedSnapshot,
    approved: set[str],
    tiers: dict[str, float],
    lang: Lang | None = None,
    contacts: Contacts | None = None,
) -> KocExport:
    """The rows and manifest of a KOC list in `lang` (the reader's language
    by default). `approved` holds the users approved on review, whose flags
    no longer withhold them; `contacts` the names and joins (none: blank)."""
    lang = lang or current_lang()
    if lang not in LANGS:
        raise ValueError(f"lang must be one of {', '.join(LANGS)}, not {lang!r}")
    contacts = contacts or Contacts()
    rules = _flag_rules(snapshot, [r.user_id for r in kocs.rows])
    rows, withheld = [], []
    with use_lang(lang):
        for r in kocs.rows:
            flagged_by = rules.get(r.user_id)
            if flagged_by and r.user_id not in approved:
                withheld.append(r.user_id)  # never reward a flagged user not cleared on review
                continue
            flags = (
                _("{rules} (approved on review)", rules=rules_in_words(flagged_by.split(",")))
                if flagged_by
                else ""
            )
            rows.append(
                [
                    len(rows) + 1,
                    r.user_id,
                    contacts.names.get(r.user_id, ""),
                    contacts.staff.get(r.user_id) or "",
                    contacts.channels.get(r.user_id) or "",
                    round(r.koc_score, 2),
                    reward_tier(r.koc_score, tiers),
                    r.invites,
                    r.effective_invites,
                    r.reach,
                    r.conversions,
                    round(r.gmv, 2),
                    r.community,
                    shown_reason(r, kocs.params.strategy),
                    flags,
                ]
            )
        headers = [_(header) for _key, header in COLUMNS]
        manifest = _manifest(kocs, snapshot, tiers, lang, headers, len(rows), withheld)
    return KocExport(headers, [[neutralise(v) for v in row] for row in rows], manifest)


def _manifest(
    kocs: KocList,
    snapshot: SavedSnapshot,
    tiers: dict[str, float],
    lang: Lang,
    headers: list[str],
    rows: int,
    withheld: list[str],
) -> dict[str, Any]:
    """The export's manifest: keys for scripts, words in `lang`."""
    return {
        "export": _("searchlight KOC list"),
        "exported_at": datetime.now(UTC).isoformat(),
        "snapshot_id": snapshot.id,
        "snapshot_computed_at": snapshot.computed_at.isoformat(),
        "snapshot_watermark": snapshot.watermark,
        "analysis_params": snapshot.params,
        "strategy": kocs.params.strategy,
        "k": kocs.params.k,
        "quota": kocs.params.quota,
        "sharers": kocs.params.sharers if kocs.params.strategy == "score" else None,
        "seed": kocs.params.seed,
        "excluded": list(kocs.params.exclude),
        "reward_tiers": dict(tiers),
        "lang": lang,
        "columns": [key for key, _header in COLUMNS],
        "headers": headers,
        "rows": rows,
        "withheld_flagged": withheld,
        "eligible_users": kocs.eligible,
        "users": kocs.users,
        "notes": notes_text(kocs.notes),
    }


def to_csv(export: KocExport) -> bytes:
    return csv_bytes(export.headers, export.rows)


def manifest_json(export: KocExport) -> bytes:
    return json.dumps(export.manifest, ensure_ascii=False, indent=2).encode("utf-8")


def to_xlsx(export: KocExport) -> bytes:
    """The KOCs' sheet and the manifest's, in the export's language."""
    with use_lang(export.manifest.get("lang") or current_lang()):
        about = []
        for key, value in export.manifest.items():
            text = value if isinstance(value, str | int | float) or value is None else None
            if text is None:
                text = json.dumps(value, ensure_ascii=False)
            label = _(MANIFEST_LABELS[key]) if key in MANIFEST_LABELS else key
            about.append([key, neutralise(text), label])
        header = [_("manifest key"), _("manifest value"), _("what it is")]
        sheets = [(_("KOCs"), export.headers, export.rows), (_("manifest"), header, about)]
    return xlsx_bytes(sheets)


def write_export(export: KocExport, fmt: str, out: Path) -> list[Path]:
    """Write the export (and, for CSV, its sidecar manifest); the paths written."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "xlsx":
        out.write_bytes(to_xlsx(export))
        return [out]
    sidecar = out.with_name(out.name + ".manifest.json")
    out.write_bytes(to_csv(export))
    sidecar.write_bytes(manifest_json(export))
    return [out, sidecar]
