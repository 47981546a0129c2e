"""A user's ego network, as every reader of the graph answers it
(`Store.ego_network`, graph.live_index): the bounded breadth-first search
and the answer it makes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import pyarrow as pa

U = TypeVar("U", str, int)  # a user: its id, or its code in an index (graph.live_index)


@dataclass
class EgoNetwork:
    """users: id, hop (0 for the centre), nearest first then by id; ties:
    source, target, kind ('REFERRED' or 'INVITED') among those users.
    `truncated` is true when the user cap stopped the search, so more users
    may lie within the hops. `codes`: the users' codes when an in-memory
    index (graph.live_index) answered, in `users` order."""

    users: pa.Table
    ties: pa.Table
    truncated: bool
    codes: np.ndarray | None = None

    @classmethod
    def of(cls, kept: list[tuple[str, int]], ties: pa.Table, truncated: bool) -> EgoNetwork:
        users = pa.table(
            {
                "id": pa.array([k for k, _ in kept], pa.string()),
                "hop": pa.array([h for _, h in kept], pa.int64()),
            }
        )
        return cls(users=users, ties=ties, truncated=truncated)


def bounded_neighbourhood(
    start: U, hops: int, limit: int, neighbours: Callable[[list[U], int], list[U]]
) -> tuple[list[tuple[U, int]], bool]:
    """Breadth-first from `start` over `neighbours(frontier, cap)` (at most
    `cap` ids, sorted): (user, hop) nearest first, at most `limit` users, and
    whether the cap cut the search short. Each hop asks for no more than the
    room left, so a supernode costs no more than the answer it fits in."""
    reached = {start: 0}
    frontier = [start]
    truncated = False
    for hop in range(1, hops + 1):
        room = limit - len(reached)
        if not frontier or room <= 0:
            truncated = truncated or (bool(frontier) and room <= 0)
            break
        cap = room + len(reached)  # already-reached users may come back
        found = neighbours(frontier, cap)
        new = [other for other in found if other not in reached]
        if len(found) == cap or len(new) > room:
            truncated = True
        frontier = new[:room]
        for other in frontier:
            reached[other] = hop
    return list(reached.items()), truncated
