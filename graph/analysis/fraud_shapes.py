"""The fraud rules that read the shape of the referral graph: `ring` and
`chain` (definitions in `graph.analysis.fraud`)."""

from __future__ import annotations

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from graph.analysis.fraud_rules import Flag, FraudRules


def rings(
    n: int,
    parent: np.ndarray,
    child: np.ndarray,
    tie_src: np.ndarray,
    tie_dst: np.ndarray,
    idle: np.ndarray,
    rules: FraudRules,
) -> list[Flag]:
    if n == 0:
        return []
    src = np.concatenate([parent[child], tie_src])
    dst = np.concatenate([child, tie_dst])
    keep = src != dst
    graph = csr_matrix((np.ones(int(keep.sum()), np.int8), (src[keep], dst[keep])), shape=(n, n))
    _, label = connected_components(graph, directed=True, connection="strong")
    size = np.bincount(label)
    idle_members = np.bincount(label, weights=idle)
    ring = (
        (size >= rules.ring_users)
        & (size <= rules.ring_max_users)
        & (idle_members >= rules.dead_share * size)
    )
    flags = []
    for u in np.flatnonzero(ring[label]).tolist():
        loop, quiet = int(size[label[u]]), int(idle_members[label[u]])
        flags.append(
            Flag(
                u,
                "ring",
                f"on a closed loop of invitations among {loop} users, "
                f"{quiet} of whom never acted beyond their inviter's circle",
                {"loop_users": loop, "never_acted": quiet},
            )
        )
    return flags


def chains(parent: np.ndarray, invites: np.ndarray, rules: FraudRules) -> list[Flag]:
    # thin[u]: u referred exactly one user. A run follows the only child
    # while users stay thin; its length counts referrals (edges).
    n = len(parent)
    thin = invites == 1
    child = np.flatnonzero(parent >= 0)
    only_child = child[thin[parent[child]]]
    only = np.full(n, -1, np.int64)
    only[parent[only_child]] = only_child
    # Heads: thin users whose referrer is not thin (or who have none).
    head = np.flatnonzero(thin & ((parent < 0) | ~thin[np.maximum(parent, 0)]))
    flags = []
    # Walk all runs at once: one step per level, each run only as long as it stays thin.
    length = np.zeros(len(head), np.int64)
    cur = head.copy()
    alive = np.ones(len(head), bool)
    steps = 0
    while alive.any() and steps <= n:
        length[alive] += 1
        nxt = only[cur]
        cur = np.where(alive, nxt, cur)
        alive &= thin[cur] & (cur != head)
        steps += 1
    for h, run in zip(
        head[length >= rules.chain_length].tolist(),
        length[length >= rules.chain_length].tolist(),
        strict=True,
    ):
        u, path = h, [h]
        for _ in range(run):
            u = int(only[u])
            path.append(u)
        for pos, v in enumerate(path):
            flags.append(
                Flag(
                    v,
                    "chain",
                    f"on a chain of {run} referrals where each user referred exactly one",
                    {"chain_referrals": run, "position": pos, "head": int(h)},
                )
            )
    return flags
