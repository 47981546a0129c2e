"""Lookups by id in Arrow tables sorted once: binary search with no copy of
the ids, and one row read as scalars.

>>> import pyarrow as pa
>>> table = sorted_by_id(pa.table({"id": ["b", "a", "c"], "n": [2, 1, 3]}))
>>> ids = SortedIds(single_array(table["id"]))
>>> ids.find("b"), ids.find("z"), row_at(table, ids.find("c"))
(1, -1, {'id': 'c', 'n': 3})
"""

from __future__ import annotations

import bisect

import pyarrow as pa
import pyarrow.compute as pc


class SortedIds:
    """Binary search over a sorted Arrow string array: O(log n) lookups with
    no copy of the ids (each probe reads one value)."""

    def __init__(self, ids: pa.Array) -> None:
        self.ids = ids

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> str:
        return self.ids[i].as_py()

    def find(self, value: str) -> int:
        """The position of `value`, or -1."""
        at = bisect.bisect_left(self, value)
        return at if at < len(self.ids) and self[at] == value else -1

    def span(self, value: str) -> tuple[int, int]:
        """Where the run of `value` lies: [start, end), empty if absent."""
        return bisect.bisect_left(self, value), bisect.bisect_right(self, value)


def sorted_by_id(table: pa.Table, column: str = "id") -> pa.Table:
    """`table` ordered by `column` in binary order: itself (no copy) if it
    already is."""
    ids = table[column]
    if len(ids) < 2 or pc.all(pc.less_equal(ids[:-1], ids[1:])).as_py():
        return table
    return table.take(pc.sort_indices(ids))


def single_array(column: pa.ChunkedArray) -> pa.Array:
    """One array of a column, without a copy when it has one chunk."""
    return column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()


def row_at(table: pa.Table, position: int) -> dict:
    """One row as a dict: a scalar per column is several times faster than
    `slice(...).to_pylist()` on a wide, chunked table."""
    return {
        name: column[position].as_py()
        for name, column in zip(table.column_names, table.columns, strict=True)
    }
