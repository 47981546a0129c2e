"""Users' names as the API shows them: the latest name the store keeps for
each user (`Store.user_names`, or the live index when it is built), with
phone numbers masked for viewers.

A name often is, or holds, a mainland mobile number (operators save
contacts that way). Viewers see such a number as `138****5678`; admins see
names as they are. The masking happens here, in the API, never in the
store, and the masked text is what the JSON carries, so a page shows what
it gets. A viewer's search matches the masked names, so the hidden digits
cannot find anyone either.

>>> mask_phones("张三 138-1234-5678")
'张三 138****5678'
>>> mask_phones("+86 13812345678"), mask_phones("小红13812345678"), mask_phones("订单 12345678901")
('138****5678', '小红138****5678', '订单 12345678901')
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from api.service import Service
from graph.live_index import LiveIndex
from graph.store import Store
from graph.user_search import MAX_LIMIT, match_of, search_arrays

_D = "[0-9０-９]"  # a digit, ASCII or full-width
_SEP = r"[\s\-‐－.]?"
# A mobile number (RE2, Arrow's regular expressions): 1, then 3-9, then 9
# digits, in groups of 3, 4, 4 (separators optional), after an optional
# country code (+86, 0086, 86), with no digit right before or after. RE2
# has no look-around, so the characters around it are matched (1, 4) and
# written back; the masked form keeps the first three digits (2) and the
# last four (3) as they were written.
_MOBILE = (
    f"(^|[^0-9０-９])(?:(?:[+＋]|00)?86{_SEP})?([1１][3-9３-９]{_D}){_SEP}{_D}{{4}}{_SEP}"
    f"({_D}{{4}})($|[^0-9０-９])"
)
_MASKED = r"\1\2****\3\4"
_HINT = f"[1１][3-9３-９]{_D}"  # how every mobile number starts
# A viewer's search without the live index: the store is asked for this many
# times the rows wanted, then the ones the masked names no longer match go.
_OVERFETCH = 4


def mask_array(names: pa.Array) -> pa.Array:
    """`mask_phones` over a column, in Arrow: names that cannot hold a
    mobile number (no 13x..19x in them) are passed over."""
    hint = pc.fill_null(pc.match_substring_regex(names, _HINT), False)
    if not pc.any(hint).as_py():
        return names
    once = pc.replace_substring_regex(names.filter(hint), _MOBILE, _MASKED)
    # Again for numbers one character apart: the first match took that
    # character as its end, so the second did not match.
    twice = pc.replace_substring_regex(once, _MOBILE, _MASKED)
    return pc.replace_with_mask(names, hint, twice)


def mask_phones(name: str | None) -> str | None:
    """The name with each mainland mobile number in it shown as 138****5678."""
    return name if name is None else mask_array(pa.array([name], pa.string()))[0].as_py()


def names_of(
    service: Service, ids: Iterable[str], full: bool, source: Store | LiveIndex | None = None
) -> dict[str, str]:
    """id -> name of the users of `ids` that have one, masked unless `full`,
    from `source`, else from the live index when built, else the store."""
    if source is None:
        index = service.live_index()
        source = service.store if index is None else index
    return _shown(source.user_names(ids), full)


def names_at(index: LiveIndex, codes: np.ndarray, full: bool) -> dict[str, str]:
    """`names_of` for users given by their codes in the live index."""
    return _shown(index.names_of(codes), full)


def _shown(found: dict[str, str], full: bool) -> dict[str, str]:
    if full or not found:
        return found
    masked = mask_array(pa.array(list(found.values()), pa.string())).to_pylist()
    return dict(zip(found, masked, strict=True))


def name_items(service: Service, items: list[Any], full: bool, key: str = "id") -> list[Any]:
    """Set `name` on each item (a model or a dataclass) from its `key` field."""
    names = names_of(service, [getattr(item, key) for item in items], full)
    for item in items:
        item.name = names.get(getattr(item, key))
    return items


def named_view(service: Service, view: Any, full: bool) -> Any:
    """An explorer view (api.explorer) with its users' names on its nodes;
    the map view's nodes are communities, not users."""
    if view.view != "map":
        name_items(service, view.nodes, full)
    return view


def search(service: Service, q: str, limit: int, full: bool) -> list[dict]:
    """Users matching `q` (graph.user_search), best first: id, name, match;
    for viewers, names are masked before they are matched."""
    index = service.live_index()
    if index is not None:
        if full:
            return index.search_users(q, limit).to_pylist()
        names, lowered = _masked_names(service, index)
        return search_arrays(index.ids, names, q, limit, lowered).to_pylist()
    asked = limit if full else min(limit * _OVERFETCH, MAX_LIMIT)
    rows = service.store.search_users(q, asked).to_pylist()
    if full:
        return rows
    kept = []
    for row in rows:
        name = mask_phones(row["name"])
        match = match_of(row["id"], name, q)
        if match is not None:
            kept.append({"id": row["id"], "name": name, "match": match})
    rank = {m: i for i, m in enumerate(("id", "name", "prefix", "contains"))}
    return sorted(kept, key=lambda r: (rank[r["match"]], r["id"]))[:limit]


def _masked_names(service: Service, index: LiveIndex) -> tuple[pa.Array, pa.Array]:
    """The index's names as viewers see them, and lowercased: made once per
    store version."""

    def make() -> tuple[LiveIndex, pa.Array, pa.Array]:
        names = mask_array(index.names)
        return index, names, pc.utf8_lower(names)

    made = service.cached(("viewer-names",), make)
    if made[0] is not index:  # the store moved on meanwhile: not the cached one
        made = make()
    return made[1], made[2]
