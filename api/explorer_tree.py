"""The explorer's referral tree view: one user's chain of referrers up to the
root, and the users it brought, level by level, down to `depth` levels.

- Up: the store's referral chain (REFERRED, all time, nearest first; a loop
  ends it), at most `CHAIN_LIMIT` referrers, those the snapshot's window holds.
- Down: the snapshot graph's REFERRED links, one level at a time. Within a
  level, users sit under their referrer's place, siblings by reach (then
  id); when a level does not fit in what is left of `limit`, the users with
  the largest reach are kept, so nearer levels are always whole.
- Layout: a tidy tree. Each leaf gets its own column, each referrer sits
  centred over its first and last child, one row per level; the chain
  climbs straight up from the user.

`total` is what the view was cut from: the user, its chain and its reach
(every user below it, all tiers).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CHAIN_LIMIT = 20  # referrers drawn above the user
LEVEL_GAP = 90.0  # between rows
COLUMN_GAP = 45.0  # between leaves


@dataclass(frozen=True)
class Tree:
    users: np.ndarray  # positions: the user, its referrers nearest first, then each level
    hops: np.ndarray  # 0 the user, -k its k-th referrer up, +k the k-th level down
    xy: np.ndarray  # (len(users), 2) layout
    total: int


def referral_tree(
    parent: np.ndarray, reach: np.ndarray, centre: int, chain: np.ndarray, depth: int, limit: int
) -> Tree:
    """The tree around `centre` (a position in the snapshot graph whose REFERRED
    parent links are `parent`, -1 for none); `chain`: its referrers' positions,
    nearest first."""
    chain = chain[: max(limit - 1, 0)]
    seen = np.zeros(len(parent), bool)
    seen[centre] = True
    seen[chain] = True
    below, above = _levels(parent, reach, seen, centre, depth, limit - 1 - len(chain))
    users = np.concatenate([[centre], chain, *below]).astype(np.int64)
    hops = np.concatenate(
        [[0], -np.arange(1, len(chain) + 1), *(np.full(len(b), i + 1) for i, b in enumerate(below))]
    ).astype(np.int64)
    xy = _layout(len(chain), below, above)
    total = 1 + len(chain) + int(reach[centre])
    return Tree(users, hops, xy, max(total, len(users)))


def _levels(
    parent: np.ndarray, reach: np.ndarray, seen: np.ndarray, centre: int, depth: int, room: int
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The users below `centre`, level by level (at most `room` of them), and
    for each level the place of each user's referrer in the level above."""
    n = len(parent)
    rank = np.full(n, -1, np.int64)  # place within the level above
    rank[centre] = 0
    frontier = np.array([centre], np.int64)
    mark = np.zeros(n + 1, bool)  # parent -1 reads mark[n], never set
    below: list[np.ndarray] = []
    above: list[np.ndarray] = []
    for _level in range(depth):
        if not len(frontier) or room <= 0:
            break
        mark[frontier] = True
        kids = np.flatnonzero(mark[parent])
        mark[frontier] = False
        kids = kids[~seen[kids]]  # a referral loop does not come round again
        if len(kids) > room:
            best = np.argsort(-reach[kids], kind="stable")[:room]
            kids = kids[np.sort(best)]
        kids = kids[np.lexsort((-reach[kids], rank[parent[kids]]))]
        seen[kids] = True
        below.append(kids)
        above.append(rank[parent[kids]])
        rank[kids] = np.arange(len(kids))
        room -= len(kids)
        frontier = kids
    return below, above


def _layout(chain: int, below: list[np.ndarray], above: list[np.ndarray]) -> np.ndarray:
    """Tidy-tree positions in `referral_tree`'s order: the user at x = 0, its
    chain straight above it, each level one row further down."""
    widths = _widths(below, above)
    total = max(int(widths[0].sum()) if widths else 1, 1)
    start = [np.zeros(1)]  # the user's first column
    for level, width in enumerate(widths):
        # Siblings are contiguous and in their referrers' order: each starts
        # where its referrer starts, after the columns of its elder siblings.
        before = np.cumsum(width) - width
        eldest = _first_of_each(above[level], len(start[-1]))
        start.append(start[-1][above[level]] + before - before[eldest[above[level]]])
    middle = (total - 1) / 2
    rows = [np.array([[0.0, 0.0]])]
    rows.append(np.column_stack([np.zeros(chain), -LEVEL_GAP * np.arange(1, chain + 1)]))
    for level, width in enumerate(widths):
        x = (start[level + 1] + (width - 1) / 2 - middle) * COLUMN_GAP
        rows.append(np.column_stack([x, np.full(len(x), LEVEL_GAP * (level + 1))]))
    return np.round(np.concatenate(rows), 1)


def _widths(below: list[np.ndarray], above: list[np.ndarray]) -> list[np.ndarray]:
    """The columns each drawn user takes: its drawn leaves, or 1 for a leaf."""
    widths = [np.ones(len(level), np.int64) for level in below]
    for level in range(len(below) - 2, -1, -1):
        leaves = np.bincount(
            above[level + 1], weights=widths[level + 1], minlength=len(below[level])
        )
        widths[level] = np.maximum(leaves.astype(np.int64), 1)
    return widths


def _first_of_each(group: np.ndarray, groups: int) -> np.ndarray:
    """For each group number, the index of its first member in `group` (sorted)."""
    return np.searchsorted(group, np.arange(groups))
