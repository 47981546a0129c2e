"""Fraud screening (羊毛党): rules that flag reward farming, each flag with its
evidence, and a risk score (DESIGN.md, Fraud screening).

The rules, over one analysis window (thresholds in `FraudRules`):

- `burst`: at least `burst_joins` credited joins (REFERRED) to one referrer
  within `burst_minutes`. Flags the referrer and every invitee credited inside
  such a burst (`burst_invitee`).
- `shared_device`: a device on the join events of at least
  `device_users` distinct users (and at most `device_placeholder_users`:
  more is a placeholder id from the export) flags each of them; an invitee joining on a
  device the referrer itself joined on flags both. A referrer with at least
  `min_invitees` invitees of whom at least `device_share` are flagged this way
  is flagged too.
- `dead_invitees`: a referrer with at least `min_invitees` invitees of whom at
  least `dead_share` never acted (no conversion, no invite or referral of their
  own) and at least `churn_share` churned. Flags the referrer and those of its
  invitees who never acted and churned (`dead_invitee`).
- `ring`: users on a directed cycle of REFERRED and INVITED ties (mutual
  invites are the shortest) inside a strongly connected group of at least
  `ring_users` users. Farms close loops to collect both sides of a reward;
  ordinary referrals flow from earlier to later users and cannot.
- `chain`: a run of at least `chain_length` referrals in which every user
  referred exactly one other — deep and thin, the shape of a farm passing one
  account along. Flags every user on the run.

Each flag has a weight; a user's risk is 100 * (1 - Π (1 - weight)) over the
rules that fired for it, so one strong rule gives a high risk and several weak
ones add up. Reviews (approve / decline) happen outside the analysis: see
`graph.store.Store.record_review`.

Example: a referrer credited with five joins in two minutes::

    >>> import numpy as np
    >>> parent = np.array([-1, 0, 0, 0, 0, 0])
    >>> at = np.array([-1, 0, 20, 40, 60, 120]) * 1_000_000
    >>> screen = screen_fraud(parent, at, np.empty(0, np.int64), np.empty(0, np.int64),
    ...                       np.zeros(6, bool), np.zeros(6, bool),
    ...                       np.empty(0, np.int64), np.empty(0, np.int64),
    ...                       FraudRules(burst_joins=5, burst_minutes=2))
    >>> screen.flagged.tolist()
    [True, True, True, True, True, True]
    >>> screen.flags[0].rule, screen.flags[0].reason
    ('burst', '5 credited joins within 2.0 minutes')
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from graph.analysis.tiegraph import distinct

DEFAULT_RULE_WEIGHTS = {
    "burst": 0.7,
    "burst_invitee": 0.6,
    "shared_device": 0.6,
    "dead_invitees": 0.5,
    "dead_invitee": 0.3,
    "ring": 0.5,
    "chain": 0.5,
}
RULES = (
    "burst",
    "burst_invitee",
    "shared_device",
    "dead_invitees",
    "dead_invitee",
    "ring",
    "chain",
)


@dataclass(frozen=True)
class FraudRules:
    """Thresholds of the screening rules; the defaults are argued in
    docs/fraud.md."""

    burst_joins: int = 10
    burst_minutes: float = 10.0
    device_users: int = 3
    # A device id on more joins than this is a placeholder ("unknown",
    # "000000") from the export, not a phone: it is ignored.
    device_placeholder_users: int = 1000
    device_share: float = 0.5
    min_invitees: int = 8
    dead_share: float = 0.8
    churn_share: float = 0.5
    ring_users: int = 3
    chain_length: int = 8
    # Per rule, how much one flag adds to the risk; rules left out keep these.
    weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_RULE_WEIGHTS))

    def __post_init__(self) -> None:
        object.__setattr__(self, "weights", {**DEFAULT_RULE_WEIGHTS, **self.weights})
        names = ("burst_joins", "device_users", "min_invitees", "ring_users", "chain_length")
        for name in names:
            if getattr(self, name) < 2:
                raise ValueError(f"fraud rule {name} must be at least 2")
        for name in ("device_share", "dead_share", "churn_share"):
            if not 0 < getattr(self, name) <= 1:
                raise ValueError(f"fraud rule {name} must be in (0, 1]")
        if self.device_placeholder_users <= self.device_users:
            raise ValueError("fraud rule device_placeholder_users must exceed device_users")
        if self.burst_minutes <= 0:
            raise ValueError("fraud rule burst_minutes must be positive")
        unknown = set(self.weights) - set(RULES)
        if unknown:
            raise ValueError(f"weights for unknown fraud rules: {', '.join(sorted(unknown))}")
        if any(not 0 <= w <= 1 for w in self.weights.values()):
            raise ValueError("fraud rule weights must be in [0, 1]")


@dataclass
class Flag:
    user: int  # position in the tie graph
    rule: str
    reason: str  # one line, in words
    evidence: dict  # the numbers behind the reason


@dataclass
class Screening:
    flagged: np.ndarray  # bool per user: some rule fired
    risk: np.ndarray  # float per user, 0-100
    flags: list[Flag]  # one per (user, rule), by user then rule


def screen_fraud(
    parent: np.ndarray,
    referred_at_us: np.ndarray,
    tie_src: np.ndarray,
    tie_dst: np.ndarray,
    converted: np.ndarray,
    churned: np.ndarray,
    device_user: np.ndarray,
    device_code: np.ndarray,
    rules: FraudRules | None = None,
    device_names: pa.Array | None = None,
) -> Screening:
    """Run every rule. `device_user`/`device_code` pair users with the devices
    they joined on (codes index `device_names`, used only in evidence)."""
    rules = rules or FraudRules()
    n = len(parent)
    flags: list[Flag] = []
    child = np.flatnonzero(parent >= 0)
    invites = np.bincount(parent[child], minlength=n)

    flags += _bursts(parent, referred_at_us, child, rules)
    flags += _shared_devices(parent, invites, device_user, device_code, rules, device_names)
    flags += _dead_invitees(parent, child, invites, tie_src, converted, churned, rules)
    flags += _rings(n, parent, child, tie_src, tie_dst, rules)
    flags += _chains(parent, invites, rules)

    flags.sort(key=lambda f: (f.user, RULES.index(f.rule)))
    flagged = np.zeros(n, bool)
    keep = np.ones(n)
    for f in flags:
        flagged[f.user] = True
        keep[f.user] *= 1.0 - rules.weights[f.rule]
    return Screening(flagged=flagged, risk=np.round(100.0 * (1.0 - keep), 2), flags=flags)


def _bursts(
    parent: np.ndarray, at_us: np.ndarray, child: np.ndarray, rules: FraudRules
) -> list[Flag]:
    # Children sorted by (referrer, time): a burst starts at i when the child
    # burst_joins - 1 places later has the same referrer and is close enough.
    # Only referrers with that many invites can burst.
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
                f"{best} credited joins within {minutes:.1f} minutes",
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
                    f"credited inside a burst of {best} joins to one referrer",
                    {"referrer": r, "burst_joins": int(best)},
                )
            )
    return flags


def _shared_devices(
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


def _dead_invitees(
    parent: np.ndarray,
    child: np.ndarray,
    invites: np.ndarray,
    tie_src: np.ndarray,
    converted: np.ndarray,
    churned: np.ndarray,
    rules: FraudRules,
) -> list[Flag]:
    n = len(parent)
    shared_out = invites + np.bincount(tie_src, minlength=n)
    dead = ~converted & (shared_out == 0)
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


def _rings(
    n: int,
    parent: np.ndarray,
    child: np.ndarray,
    tie_src: np.ndarray,
    tie_dst: np.ndarray,
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
    members = np.flatnonzero(size[label] >= rules.ring_users)
    flags = []
    for u in members.tolist():
        flags.append(
            Flag(
                u,
                "ring",
                f"on a closed loop of invitations among {int(size[label[u]])} users",
                {"loop_users": int(size[label[u]])},
            )
        )
    return flags


def _chains(parent: np.ndarray, invites: np.ndarray, rules: FraudRules) -> list[Flag]:
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
