"""The fraud rules that read timing, devices and activity: `burst`,
`shared_device` and `dead_invitees` (definitions in `graph.analysis.fraud`)."""

from __future__ import annotations

import numpy as np

from graph.analysis.fraud_rules import Flag, FraudRules
from graph.analysis.tiegraph import distinct


def bursts(
    parent: np.ndarray, at_us: np.ndarray, idle: np.ndarray, rules: FraudRules
) -> list[Flag]:
    # Only idle invitees count: a crowd that goes on to buy or bring others
    # is a real post going viral, not a farm's accounts.
    # Children sorted by (referrer, time): a burst starts at i when the child
    # burst_joins - 1 places later has the same referrer and is close enough.
    # Only referrers with that many idle invitees can burst.
    child = np.flatnonzero((parent >= 0) & idle)
    invites = np.bincount(parent[child], minlength=len(parent))
    child = child[invites[parent[child]] >= rules.burst_joins]
    order = child[np.lexsort((at_us[child], parent[child]))]
    m, span = len(order), rules.burst_joins - 1
    if m <= span:
        return []
    ref, at = parent[order], at_us[order]
    window = int(rules.burst_minutes * 60_000_000)
    head = np.flatnonzero((ref[:-span] == ref[span:]) & (at[span:] - at[:-span] <= window))
    if not head.size:
        return []
    inside = np.zeros(m + 1, np.int64)
    np.add.at(inside, head, 1)
    np.add.at(inside, head + span + 1, -1)
    member = np.cumsum(inside)[:m] > 0
    flags = []
    # One flag per referrer, with its largest burst as evidence.
    for r in distinct(ref[head]).tolist():
        rows = np.flatnonzero(member & (ref == r))
        times = at[rows]
        best, best_i = 0, 0
        for i in range(len(times)):
            j = np.searchsorted(times, times[i] + window, side="right")
            if j - i > best:
                best, best_i = j - i, i
        minutes = (times[best_i + best - 1] - times[best_i]) / 60e6
        flags.append(
            Flag(
                r,
                "burst",
                f"{best} credited joins within {minutes:.1f} minutes, of users who never acted",
                {
                    "joins": int(best),
                    "minutes": round(float(minutes), 2),
                    "burst_invitees": len(rows),
                    "first_at_us": int(times[best_i]),
                },
            )
        )
        for inv in order[rows].tolist():
            flags.append(
                Flag(
                    inv,
                    "burst_invitee",
                    f"credited inside a burst of {best} joins to one referrer; never acted",
                    {"referrer": r, "burst_joins": int(best)},
                )
            )
    return flags


def shared_devices(
    parent: np.ndarray,
    invites: np.ndarray,
    device_user: np.ndarray,
    device_code: np.ndarray,
    rules: FraudRules,
    device_names: list[str] | None,
) -> list[Flag]:
    n = len(parent)
    if not device_user.size:
        return []
    d = int(device_code.max()) + 1
    pairs = distinct(device_user.astype(np.int64) * d + device_code)
    users, codes = pairs // d, pairs % d
    per_device = np.bincount(codes, minlength=d)
    real = per_device[codes] <= rules.device_placeholder_users
    pairs, users, codes = pairs[real], users[real], codes[real]
    crowded = per_device[codes] >= rules.device_users

    # An invitee on a device its referrer joined on.
    has_parent = parent[users] >= 0
    owner_keys = parent[users[has_parent]] * d + codes[has_parent]
    with_referrer = np.zeros(len(users), bool)
    at = np.minimum(np.searchsorted(pairs, owner_keys), len(pairs) - 1)
    with_referrer[np.flatnonzero(has_parent)] = pairs[at] == owner_keys

    name = (lambda c: device_names[c].as_py()) if device_names is not None else str
    evidence: dict[int, dict] = {}
    hit = np.flatnonzero(crowded | with_referrer)
    for u, c, same in zip(
        users[hit].tolist(), codes[hit].tolist(), with_referrer[hit].tolist(), strict=True
    ):
        e = evidence.setdefault(u, {"devices": [], "shared_with_referrer": False})
        device = {"device": name(c), "users": int(per_device[c])}
        e["devices"].append(device)
        if same:
            e["shared_with_referrer"] = True
            owner = evidence.setdefault(
                int(parent[u]), {"devices": [], "shared_with_referrer": False}
            )
            owner["devices"].append(device)
    flags = []
    on_shared = np.zeros(n, bool)
    on_shared[list(evidence)] = True
    for u, e in evidence.items():
        e["devices"] = sorted(e["devices"], key=lambda x: (-x["users"], x["device"]))[:5]
        top = e["devices"][0]
        why = f"joined on device {top['device']} shared by {top['users']} users"
        if e["shared_with_referrer"]:
            why += "; same device as its referrer"
        flags.append(Flag(u, "shared_device", why, e))

    # Referrers most of whose invitees are on shared devices.
    child = np.flatnonzero(parent >= 0)
    shared_kids = np.bincount(parent[child], weights=on_shared[child], minlength=n)
    hit = (invites >= rules.min_invitees) & (
        shared_kids >= rules.device_share * np.maximum(invites, 1)
    )
    for r in np.flatnonzero(hit & ~on_shared).tolist():
        flags.append(
            Flag(
                r,
                "shared_device",
                f"{int(shared_kids[r])} of {int(invites[r])} invitees joined on shared devices",
                {"invitees": int(invites[r]), "on_shared_devices": int(shared_kids[r])},
            )
        )
    return flags


def dead_invitees(
    parent: np.ndarray,
    child: np.ndarray,
    invites: np.ndarray,
    dead: np.ndarray,
    churned: np.ndarray,
    rules: FraudRules,
) -> list[Flag]:
    n = len(parent)
    up = parent[child]
    dead_kids = np.bincount(up, weights=dead[child], minlength=n)
    churned_kids = np.bincount(up, weights=churned[child], minlength=n)
    size = np.maximum(invites, 1)
    hit = (
        (invites >= rules.min_invitees)
        & (dead_kids >= rules.dead_share * size)
        & (churned_kids >= rules.churn_share * size)
    )
    flags = []
    for r in np.flatnonzero(hit).tolist():
        flags.append(
            Flag(
                r,
                "dead_invitees",
                f"{int(dead_kids[r])} of {int(invites[r])} invitees never acted, "
                f"{int(churned_kids[r])} churned",
                {
                    "invitees": int(invites[r]),
                    "never_acted": int(dead_kids[r]),
                    "churned": int(churned_kids[r]),
                },
            )
        )
    victims = child[hit[up] & dead[child] & churned[child]]
    for v in victims.tolist():
        flags.append(
            Flag(
                v,
                "dead_invitee",
                "never acted and churned, invited by a flagged referrer",
                {"referrer": int(parent[v])},
            )
        )
    return flags
