"""graph.dashboard's leaderboard grouping: which of a group's users stand
for the users below them, so that a user below two of them counts once."""

from __future__ import annotations

import numpy as np
import pytest

from graph.dashboard import topmost


@pytest.mark.parametrize(
    ("parent", "group", "expected"),
    [
        # a chain: 0 stands for 1 and (through 2 of another group) for 3
        ([-1, 0, 1, 2], [0, 0, 1, 0], [True, False, True, False]),
        # a loop of one group: its first row stands; 2 hangs below it
        ([1, 0, 1], [0, 0, 0], [True, False, False]),
        # a loop of two groups: each stands for its own
        ([1, 0], [0, 1], [True, True]),
        # below a loop of another group: the walk goes round it and stops
        ([1, 0, 1], [0, 0, 1], [True, False, True]),
        # nobody above anyone
        ([-1, -1], [0, 0], [True, True]),
    ],
)
def test_topmost(parent, group, expected):
    got = topmost(np.array(parent), np.array(group))
    assert got.tolist() == expected
