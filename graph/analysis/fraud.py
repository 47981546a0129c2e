"""Fraud screening (羊毛党): rules that flag reward farming, each flag with its
evidence, and a risk score (DESIGN.md, Fraud screening).

The rules, over one analysis window (thresholds in `FraudRules`). A user is
*idle* when it never acted beyond its inviter's circle: no conversion, and no
referral or invite to anyone but its own referrer and that referrer's other
invitees. Farm accounts are idle by nature (they exist to be credited);
real invitees often are too, so idleness is supporting evidence, never a
rule on its own (`idle_users`).

- `burst`: at least `burst_joins` credited joins (REFERRED) of idle invitees
  to one referrer within `burst_minutes`. Flags the referrer and those
  invitees (`burst_invitee`). A crowd that goes on to buy or invite is a
  post going viral, not a farm.
- `shared_device`: a device on the join events of at least
  `device_users` distinct users (and at most `device_placeholder_users`:
  more is a placeholder id from the export) flags each of them; an invitee joining on a
  device the referrer itself joined on flags both. A referrer with at least
  `min_invitees` invitees of whom at least `device_share` are flagged this way
  is flagged too.
- `dead_invitees`: a referrer with at least `min_invitees` invitees of whom
  at least `dead_share` are idle and at least `churn_share` churned. Flags
  the referrer and its idle, churned invitees (`dead_invitee`).
- `ring`: users in a strongly connected group of REFERRED and INVITED ties
  (a closed loop of invitations) of `ring_users` to `ring_max_users` users,
  at least `dead_share` of them idle. Real friends invite each other back,
  so real networks are full of loops, but theirs join one large core of
  active users; a farm's loop is a small island of accounts that do nothing
  else.
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
    ('burst', '5 credited joins within 2.0 minutes, of users who never acted')
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from graph.analysis.fraud_rules import DEFAULT_RULE_WEIGHTS, RULES, Flag, FraudRules
from graph.analysis.fraud_shapes import chains, rings
from graph.analysis.fraud_signals import bursts, dead_invitees, shared_devices

__all__ = ["DEFAULT_RULE_WEIGHTS", "RULES", "Flag", "FraudRules", "Screening", "screen_fraud"]


@dataclass
class Screening:
    flagged: np.ndarray  # bool per user: some rule fired
    risk: np.ndarray  # float per user, 0-100
    flags: list[Flag]  # one per (user, rule), by user then rule


def idle_users(
    parent: np.ndarray, tie_src: np.ndarray, tie_dst: np.ndarray, converted: np.ndarray
) -> np.ndarray:
    """Per user: never acted beyond its inviter's circle (see the module
    docstring). A referral or invite counts as acting unless it goes to the
    user's own referrer or to another invitee of that referrer.

    >>> parent = np.array([-1, 0, 0, 1])  # 0 referred 1 and 2; 1 referred 3
    >>> idle_users(parent, np.array([2, 2]), np.array([0, 1]), np.zeros(4, bool)).tolist()
    [False, False, True, True]
    """
    n = len(parent)
    child = np.flatnonzero(parent >= 0)
    src = np.concatenate([parent[child], tie_src])
    dst = np.concatenate([child, tie_dst])
    up = parent[src]
    circle = (dst == up) | ((up >= 0) & (parent[dst] == up))
    outside = np.bincount(src[~circle], minlength=n)
    return ~np.asarray(converted, bool) & (outside == 0)


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
    idle = idle_users(parent, tie_src, tie_dst, converted)

    flags += bursts(parent, referred_at_us, idle, rules)
    flags += shared_devices(parent, invites, device_user, device_code, rules, device_names)
    flags += dead_invitees(parent, child, invites, idle, churned, rules)
    flags += rings(n, parent, child, tie_src, tie_dst, idle, rules)
    flags += chains(parent, invites, rules)

    flags.sort(key=lambda f: (f.user, RULES.index(f.rule)))
    flagged = np.zeros(n, bool)
    keep = np.ones(n)
    for f in flags:
        flagged[f.user] = True
        keep[f.user] *= 1.0 - rules.weights[f.rule]
    return Screening(flagged=flagged, risk=np.round(100.0 * (1.0 - keep), 2), flags=flags)
