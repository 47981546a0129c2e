"""Benchmark: peak memory of reading the XLSX files nearest each reader limit.

Each case is a file just inside the limits of `loaders/limits.py`, built to
make one cost as large as it may be; each is read to the end through the
ingest pipeline (reader and validation, no store: `open_events` and its
batches) in a process of its own, whose peak resident memory (`wait4`
rusage) and time are reported. The largest of these is the bound
docs/ingest.md states for any accepted file.

    python bench/xlsx_memory.py                 # every case
    python bench/xlsx_memory.py --cases strings-count

Files are built in --workdir (default bench/out, git-ignored) and reused.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from loaders.limits import (  # noqa: E402
    MAX_CELL_CHARS,
    MAX_COLUMNS,
    XLSX_MAX_ROWS,
    XLSX_MAX_SHARED_STRINGS,
    XLSX_MAX_SHARED_STRINGS_BYTES,
)
from tests.loaders.xlsx_files import row, shared, text, write_xlsx  # noqa: E402

_CANONICAL = ["type", "invitee_id", "occurred_at"]
_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def column(n: int) -> str:
    name = ""
    while n > 0:
        n, rest = divmod(n - 1, 26)
        name = _LETTERS[rest] + name
    return name


def header(names: list[str]) -> str:
    return row(1, *(text(f"{column(j)}1", name) for j, name in enumerate(names, start=1)))


def event(n: int, *extra: str) -> list[str]:
    """The canonical cells of row n (a valid join), then `extra` cells."""
    return [
        text(f"A{n}", "join"),
        text(f"B{n}", f"u{n}"),
        text(f"C{n}", "2024-05-01 12:00:00"),
        *extra,
    ]


def strings_count(path: Path) -> None:
    """The most shared strings, each as long as the byte limit then allows
    (17 characters): the string table is held whole. Its rows are those of
    `most_rows`, so this is the worst case of both."""
    count = XLSX_MAX_SHARED_STRINGS
    width = (XLSX_MAX_SHARED_STRINGS_BYTES - 100) // count - len("<si><t></t></si>")
    strings = (f"{n:0{width}d}" for n in range(count))
    write_xlsx(path, [header(_ELEVEN), *_rows(lambda n: n * 4 % count)], strings, level=1)


def strings_bytes(path: Path) -> None:
    """The shared-string table at its byte limit in strings of Excel's
    longest cell, every one of 1,000 columns showing them: 32 million
    characters a row."""
    count = XLSX_MAX_SHARED_STRINGS_BYTES // (MAX_CELL_CHARS + 20)
    names = [*_CANONICAL, *(f"x{j}" for j in range(MAX_COLUMNS - 3))]

    def rows() -> Iterator[str]:
        for n in range(2, 202):
            cells = (shared(f"{column(j)}{n}", (n * j) % count) for j in range(4, MAX_COLUMNS + 1))
            yield row(n, *event(n, *cells))

    strings = (os.urandom(MAX_CELL_CHARS).hex()[:MAX_CELL_CHARS] for _ in range(count))
    write_xlsx(path, [header(names), *rows()], strings, level=1)


def most_rows(path: Path) -> None:
    """Excel's most rows, 11 columns of events, inviter ids as shared strings
    (a spreadsheet's own export of a large campaign)."""
    count = XLSX_MAX_ROWS // 3 + 1
    strings = (f"u{n}" for n in range(count))
    write_xlsx(path, [header(_ELEVEN), *_rows(lambda n: n // 3)], strings, level=1)


_ELEVEN = [*_CANONICAL, "inviter_id", "event_id", "campaign", "channel", "staff_id"]
_ELEVEN += ["amount", "device_id", "ip"]


def _rows(inviter: Callable[[int], int]) -> Iterator[str]:
    """Rows 2 to Excel's last of 11 columns, the inviter shared string
    `inviter(row)`, the rest inline strings and a number."""
    for n in range(2, XLSX_MAX_ROWS + 1):
        yield row(
            n,
            *event(n),
            shared(f"D{n}", inviter(n)),
            text(f"E{n}", f"e-{n}"),
            text(f"F{n}", "spring"),
            text(f"G{n}", "wx"),
            text(f"H{n}", "staff-7"),
            f'<c r="I{n}"><v>{n % 500}.5</v></c>',
            text(f"J{n}", f"d{n % 9_000}"),
            text(f"K{n}", f"10.0.{n % 250}.{n % 200}"),
        )


CASES: dict[str, Callable[[Path], None]] = {
    "strings-count": strings_count,
    "strings-bytes": strings_bytes,
    "most-rows": most_rows,
}

_CHILD = """
import sys
from loaders.pipeline import open_events
stream = open_events(sys.argv[1])
rows = sum(t.num_rows for t in stream.batches(None))
stream.close()
print(rows, stream.rows_rejected)
"""


def measure(path: Path) -> tuple[str, float, int]:
    started = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(path)], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    out = child.stdout.read() if child.stdout else ""
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    if status:
        raise SystemExit(f"{path.name}: reader failed (status {status})")
    return out.strip(), seconds, usage.ru_maxrss * 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", nargs="*", default=list(CASES), choices=list(CASES))
    parser.add_argument("--workdir", type=Path, default=ROOT / "bench" / "out")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    print("| case | file | sheet + strings unpacked | accepted, rejected | s | peak RSS |")
    print("|---|---:|---:|---|---:|---:|")
    for name in args.cases:
        path = args.workdir / f"xlsx-limit-{name}.xlsx"
        if not path.exists():
            CASES[name](path)
        with zipfile.ZipFile(path) as book:
            unpacked = sum(i.file_size for i in book.infolist())
        out, seconds, peak = measure(path)
        print(
            f"| {name} | {path.stat().st_size / 2**20:,.0f} MiB | {unpacked / 2**20:,.0f} MiB "
            f"| {out} | {seconds:.1f} | {peak / 2**20:,.0f} MiB |",
            flush=True,
        )


if __name__ == "__main__":
    main()
