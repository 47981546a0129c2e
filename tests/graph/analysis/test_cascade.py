"""Live-tie sampling under the independent cascade: every tie live with its
own probability, whichever way a row is drawn (one draw per tie, or thinned
by geometric gaps for long rows of small probabilities)."""

from __future__ import annotations

import doctest

import numpy as np
import pytest

import graph.analysis.cascade
from graph.analysis.cascade import Ties, _bernoulli_positions, spread_from


def test_the_doctest_holds():
    assert doctest.testmod(graph.analysis.cascade).failed == 0


def test_geometric_gaps_keep_each_slot_with_its_probability():
    rng = np.random.default_rng(1)
    length = np.array([10, 1, 0, 300, 3])
    q = np.array([0.2, 0.25, 0.1, 0.05, 0.0])
    counts = np.zeros((5, 300))
    rounds = 4000
    for _ in range(rounds):
        row, slot = _bernoulli_positions(length, q, rng)
        assert ((slot >= 0) & (slot < length[row])).all()
        assert len(set(zip(row.tolist(), slot.tolist(), strict=True))) == len(row)  # distinct
        np.add.at(counts, (row, slot), 1)
    share = counts / rounds
    assert share[0, :10] == pytest.approx(np.full(10, 0.2), abs=0.025)
    assert share[1, 0] == pytest.approx(0.25, abs=0.025)
    assert share[3, :300].mean() == pytest.approx(0.05, abs=0.003)
    assert share[3, 250:300].mean() == pytest.approx(0.05, abs=0.01)  # the tail of a long row too
    assert counts[2].sum() == counts[4].sum() == 0


@pytest.mark.parametrize("mixed", [False, True])
def test_a_thinned_hub_reaches_as_many_as_one_draw_per_tie(mixed):
    # 400 users each invite user 0 (a hub's row of 400 in-ties); the
    # reverse-reachable set of user 0 holds it and its live inviters.
    n = 401
    src, dst = np.arange(1, n), np.zeros(n - 1, np.int64)
    p = np.where(np.arange(n - 1) % 2 == 0, 0.01, 0.05) if mixed else np.full(n - 1, 0.03)
    reverse = Ties(n, dst, src, p)
    sets = 3000
    got, _ = spread_from(
        reverse, n, np.arange(sets), np.zeros(sets, np.int64), np.random.default_rng(4)
    )
    size = np.bincount(got, minlength=sets)
    assert size.mean() == pytest.approx(1 + p.sum(), rel=0.03)  # 13 users
    assert size.var() == pytest.approx((p * (1 - p)).sum(), rel=0.1)
