"""The hostile-input corpus (issue 18): files a real export can contain or
an attacker can send, written by this script so nothing large is committed.

    python -m tests.hostile.corpus OUT_DIR     # writes every case there

Each case names the item of issue 18 it reproduces and what a correct
ingest ends in: a clean report (`report`: exit 0, every row accounted for)
or a clear error (`error`: exit 1, one `error:` line, nothing applied).
Never a traceback, a hang or a memory blow-up: tests/hostile/test_corpus.py
runs every case through `koc ingest` and the API's upload under a time and
memory limit and checks the store still reads afterwards.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tests.loaders.xlsx_files import row, text, write_xlsx

HEADER = "event_id,type,inviter_id,invitee_id,occurred_at,campaign,amount\n"


@dataclass(frozen=True)
class Case:
    name: str
    item: str  # the item it reproduces
    outcome: str  # "report" or "error"
    write: Callable[[Path], Path]


def _csv(rows: list[str]) -> Callable[[Path], Path]:
    def write(folder: Path) -> Path:
        return _text(folder, HEADER + "".join(r + "\n" for r in rows))

    return write


def _text(folder: Path, content: str | bytes, suffix: str = ".csv") -> Path:
    path = folder / f"case{suffix}"
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def _same_second_orders(folder: Path) -> Path:
    return _csv(
        [
            ",join,hostile-a,hostile-b,2024-05-01 10:00:00,,",
            ",convert,,hostile-b,2024-05-02,,100",
            ",convert,,hostile-b,2024-05-02,,250",
        ]
    )(folder)


def _resent_id(folder: Path) -> Path:
    return _csv(
        [
            "h-1,convert,,hostile-b,2024-05-02 10:00:00,,10",
            "h-1,convert,hostile-z,hostile-b,2024-05-02 10:00:00,,5000000",
        ]
    )(folder)


def _impossible_times(folder: Path) -> Path:
    return _csv(
        [
            ",join,hostile-a,hostile-c,0001-01-01 00:00:00,,",
            ",join,hostile-a,hostile-d,10000-01-01 00:00:00,,",
            ",join,hostile-a,hostile-e,2024-05-01T10:00:00+99:00,,",
            ",join,hostile-a,hostile-f,2024-05-01T10:00:00+08:00,,",
        ]
    )(folder)


def _control_characters(folder: Path) -> Path:
    rows = [
        ',join,hostile-a,"nul\x00id",2024-05-01 10:00:00,,',
        ',join,hostile-a,"bell\x07id",2024-05-01 10:00:00,,',
        ',join,hostile-a,"' + "x" * 300 + '",2024-05-01 10:00:00,,',
        ",join,hostile-a,hostile/slash,2024-05-01 10:00:00,,",
    ]
    return _csv(rows)(folder)


def _deep_json(folder: Path) -> Path:
    deep = '{"a":' * 5000 + "1" + "}" * 5000
    good = json.dumps(
        {
            "type": "join",
            "inviter_id": "hostile-a",
            "invitee_id": "hostile-g",
            "occurred_at": "2024-05-01 10:00:00",
        }
    )
    return _text(folder, good + "\n" + deep + "\n", ".jsonl")


def _undecodable_jsonl(folder: Path) -> Path:
    line = json.dumps(
        {
            "type": "join",
            "inviter_id": "hostile-a",
            "invitee_id": "hostile-h",
            "occurred_at": "2024-05-01 10:00:00",
            "note": "x" * 200,
        }
    )
    body = (line + "\n") * 6000  # past the first MiB, where the encoding is guessed
    return _text(folder, body.encode() + b'{"type": "join", "invitee_id": "\xff\xfe"}\n', ".jsonl")


def _huge_header_field(folder: Path) -> Path:
    return _text(folder, "type," + "h" * 200_000 + "\njoin,x\n")


def _wide_header(folder: Path) -> Path:
    columns = ",".join(f"c{i}" for i in range(1_000_000))
    return _text(folder, "type,invitee_id,occurred_at," + columns + "\n")


def _many_columns(folder: Path) -> Path:
    columns = ",".join(f"c{i}" for i in range(1_500))  # short enough, too many
    return _text(folder, "type,invitee_id,occurred_at," + columns + "\njoin,a,2024-05-01\n")


def _long_header_line(folder: Path) -> Path:
    return _text(folder, "type,invitee_id,occurred_at," + "c," * 3_000_000 + "\n")


def _xlsx_bomb(folder: Path) -> Path:
    # About 100 MB of sheet in a file of about 100 KB: refused by its ratio
    # before anything is parsed, so the rows need not even be numbered well.
    block = row(2, text("A2", "x" * 30)) * 1000
    return write_xlsx(folder / "case.xlsx", [block] * 1500, level=9)


def _garbage(folder: Path) -> Path:
    return _text(folder, bytes(range(256)) * 64, ".csv")


def _empty(folder: Path) -> Path:
    return _text(folder, b"")


def _not_a_zip(folder: Path) -> Path:
    return _text(folder, b"PK\x03\x04 not really a workbook", ".xlsx")


CASES = [
    Case("same-second-orders", "1", "report", _same_second_orders),
    Case("resent-event-id", "2", "report", _resent_id),
    Case("impossible-times", "5", "report", _impossible_times),
    Case("control-characters-and-long-ids", "6, 8", "report", _control_characters),
    Case("deep-json", "7", "report", _deep_json),
    Case("undecodable-jsonl-after-1mib", "7", "report", _undecodable_jsonl),
    Case("header-field-over-csv-limit", "7", "error", _huge_header_field),
    Case("million-column-header", "9", "error", _wide_header),
    Case("header-line-over-limit", "9", "error", _long_header_line),
    Case("too-many-columns", "9", "error", _many_columns),
    Case("xlsx-bomb", "10", "error", _xlsx_bomb),
    Case("binary-garbage", "-", "error", _garbage),
    Case("empty-file", "-", "error", _empty),
    Case("not-a-zip", "-", "error", _not_a_zip),
]


def main(out: Path) -> None:
    for case in CASES:
        folder = out / case.name
        folder.mkdir(parents=True, exist_ok=True)
        path = case.write(folder)
        print(f"{case.name:36} item {case.item:5} {case.outcome:6} {path.stat().st_size:>12,} B")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "hostile-corpus"))
