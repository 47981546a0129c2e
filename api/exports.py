"""The reward export: a KOC list as CSV or XLSX for reward operations, with a
manifest naming the snapshot, the parameters and the time.

- Only users not flagged, or approved on review, are exported.
- Text cells beginning with `=`, `+`, `-`, `@` (or a tab or carriage return,
  which Excel also reads as a formula start) get a leading `'`, so a hostile
  user id cannot become a formula in the reward team's spreadsheet.
- CSV is UTF-8 with a BOM so Excel opens Chinese text correctly; its
  manifest is a sidecar JSON file. XLSX carries the manifest as a sheet.

>>> neutralise("=HYPERLINK(\\"http://x\\")")
'\\'=HYPERLINK("http://x")'
>>> neutralise(-3)
-3
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from graph.analysis.kocs import KocList
from graph.store import SavedSnapshot

FORMATS = ("csv", "xlsx")
LANGS = ("en", "zh")
# (key, English header, Chinese header)
COLUMNS = (
    ("rank", "rank", "排名"),
    ("user_id", "user id", "用户ID"),
    ("koc_score", "KOC score", "KOC分数"),
    ("reward_tier", "reward tier", "奖励等级"),
    ("invites", "invites", "邀请人数"),
    ("effective_invites", "effective invites", "有效邀请人数"),
    ("reach", "reach", "下游总人数"),
    ("conversions", "conversions", "转化人数"),
    ("gmv", "GMV", "带来GMV"),
    ("community", "community", "社群"),
    ("why", "why", "入选理由"),
    ("flags", "flags", "风险标记"),
)
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


def build_export(
    kocs: KocList,
    snapshot: SavedSnapshot,
    approved: set[str],
    tiers: dict[str, float],
    lang: str = "en",
) -> KocExport:
    """The rows and manifest of a KOC list. `approved` holds the users
    approved on review, whose flags no longer withhold them."""
    if lang not in LANGS:
        raise ValueError(f"lang must be one of {', '.join(LANGS)}, not {lang!r}")
    picked = [r.user_id for r in kocs.rows]
    users = snapshot.users
    mine = users.filter(pc.is_in(users["id"], value_set=pa.array(picked, pa.string())))
    rules = dict(
        zip(
            mine["id"].to_pylist(),
            mine["flag_rules"].to_pylist()
            if "flag_rules" in mine.column_names
            else [None] * mine.num_rows,
            strict=True,
        )
    )
    rows, withheld = [], []
    for r in kocs.rows:
        flagged_by = rules.get(r.user_id)
        if flagged_by and r.user_id not in approved:
            withheld.append(r.user_id)  # never reward a flagged user not cleared by a reviewer
            continue
        flags = f"{flagged_by.replace(',', ', ')} (approved on review)" if flagged_by else ""
        rows.append(
            [
                len(rows) + 1,
                r.user_id,
                round(r.koc_score, 2),
                reward_tier(r.koc_score, tiers),
                r.invites,
                r.effective_invites,
                r.reach,
                r.conversions,
                round(r.gmv, 2),
                r.community,
                r.reason + (" [quota spill]" if r.quota_spill else ""),
                flags,
            ]
        )
    headers = [en if lang == "en" else zh for _, en, zh in COLUMNS]
    manifest = {
        "export": "searchlight KOC list",
        "exported_at": datetime.now(UTC).isoformat(),
        "snapshot_id": snapshot.id,
        "snapshot_computed_at": snapshot.computed_at.isoformat(),
        "snapshot_watermark": snapshot.watermark,
        "analysis_params": snapshot.params,
        "strategy": kocs.params.strategy,
        "k": kocs.params.k,
        "quota": kocs.params.quota,
        "seed": kocs.params.seed,
        "excluded": list(kocs.params.exclude),
        "reward_tiers": dict(tiers),
        "lang": lang,
        "columns": [key for key, _, _ in COLUMNS],
        "rows": len(rows),
        "withheld_flagged": withheld,
        "eligible_users": kocs.eligible,
        "users": kocs.users,
        "notes": list(kocs.notes),
    }
    return KocExport(headers, [[neutralise(v) for v in row] for row in rows], manifest)


def to_csv(export: KocExport) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(export.headers)
    writer.writerows(export.rows)
    return codecs.BOM_UTF8 + buffer.getvalue().encode("utf-8")


def manifest_json(export: KocExport) -> bytes:
    return json.dumps(export.manifest, ensure_ascii=False, indent=2).encode("utf-8")


def to_xlsx(export: KocExport) -> bytes:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet("KOCs" if export.manifest["lang"] == "en" else "KOC名单")
    sheet.append(export.headers)
    for row in export.rows:
        sheet.append(row)
    about = book.create_sheet("manifest")
    about.append(["key", "value"])
    for key, value in export.manifest.items():
        text = value if isinstance(value, str | int | float) or value is None else None
        if text is None:
            text = json.dumps(value, ensure_ascii=False)
        about.append([key, neutralise(text)])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


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
