"""The service's answer cache, counted in bytes: least recently used entries
go first once their approximate sizes pass the budget (KOC_CACHE_MB), and
pinned entries (the latest snapshot and its graph) are kept outside the
budget, so no amount of paging can push them out."""

from __future__ import annotations

import dataclasses
import itertools
import sys
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

import numpy as np
import pyarrow as pa

MISSING = object()
# Past this many items a container's size is estimated from a sample of them.
_SAMPLE = 64
_DEPTH = 6


def approx_bytes(value: Any, depth: int = 0) -> int:
    """About how much memory `value` holds: Arrow buffers and numpy arrays by
    their `nbytes`, bytes and text by length, dataclasses, dicts and
    sequences by their parts (large ones from a sample), anything else by
    `sys.getsizeof`. Shared buffers are counted each time they are reached."""
    if isinstance(value, bytes | bytearray | memoryview | str):
        return sys.getsizeof(value)
    if isinstance(value, np.ndarray):
        return int(value.nbytes) + 112
    if isinstance(value, pa.Table | pa.RecordBatch | pa.Array | pa.ChunkedArray):
        return int(value.get_total_buffer_size())
    if depth >= _DEPTH:
        return sys.getsizeof(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return sys.getsizeof(value) + sum(
            approx_bytes(getattr(value, f.name), depth + 1) for f in dataclasses.fields(value)
        )
    if isinstance(value, dict):
        items = [
            approx_bytes(k, depth + 1) + approx_bytes(v, depth + 1)
            for k, v in _sample(value.items(), len(value))
        ]
        return sys.getsizeof(value) + _scaled(items, len(value))
    if isinstance(value, list | tuple | set | frozenset):
        items = [approx_bytes(v, depth + 1) for v in _sample(value, len(value))]
        return sys.getsizeof(value) + _scaled(items, len(value))
    if hasattr(value, "__dict__"):
        return sys.getsizeof(value) + approx_bytes(vars(value), depth + 1)
    return sys.getsizeof(value)


def _sample(items: Any, n: int) -> list:
    """All of `items`, or about _SAMPLE of them spread over a sequence (the
    first ones of a set or a dict's items)."""
    if n <= _SAMPLE:
        return list(items)
    if isinstance(items, list | tuple):
        return list(items[:: n // _SAMPLE][:_SAMPLE])
    return list(itertools.islice(items, _SAMPLE))


def _scaled(sizes: list[int], n: int) -> int:
    return sum(sizes) if len(sizes) == n else sum(sizes) * n // max(1, len(sizes))


class SizedCache:
    """Values by key within a byte budget. Not thread-safe: the caller locks."""

    def __init__(self, budget: int, pinned: Callable[[Hashable], bool]) -> None:
        self.budget = budget
        self._pinned = pinned
        self._kept: dict[Hashable, Any] = {}
        self._lru: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self.bytes = 0  # what the unpinned entries hold

    def get(self, key: Hashable) -> Any:
        """The value, or `MISSING`; a hit counts as a use."""
        if key in self._kept:
            return self._kept[key]
        entry = self._lru.get(key)
        if entry is None:
            return MISSING
        self._lru.move_to_end(key)
        return entry[0]

    def put(self, key: Hashable, value: Any) -> None:
        """Keep `value`, evicting the least recently used entries past the
        budget; one that alone is over the budget is not kept at all."""
        if self._pinned(key):
            self._kept[key] = value
            return
        size = approx_bytes(value)
        self._drop(key)
        if size > self.budget:
            return
        self._lru[key] = (value, size)
        self.bytes += size
        while self.bytes > self.budget:
            self._drop(next(iter(self._lru)))

    def _drop(self, key: Hashable) -> None:
        entry = self._lru.pop(key, None)
        if entry is not None:
            self.bytes -= entry[1]

    def clear(self) -> None:
        self._kept.clear()
        self._lru.clear()
        self.bytes = 0

    def __len__(self) -> int:
        return len(self._kept) + len(self._lru)
