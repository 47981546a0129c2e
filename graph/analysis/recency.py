"""Recency of a user's referrals.

- last_referral_at: the time of the user's latest REFERRED invitee (µs since
  the epoch, -1 if none);
- recent_invites: Σ over the user's invitees of 0.5 ** (age / half_life),
  where age is the time from the referral to the reference time (the
  window's end, or the last event it holds). An invite made at the reference
  time counts 1, one made a half-life earlier counts 0.5.

Example::

    >>> import numpy as np
    >>> day = 86_400_000_000
    >>> recent_invites(np.array([-1, 0, 0]), np.array([-1, 10 * day, 40 * day]),
    ...                reference_us=40 * day, half_life_days=30).tolist()
    [1.5, 0.0, 0.0]
"""

from __future__ import annotations

import numpy as np

US_PER_DAY = 86_400 * 1_000_000


def last_referral_at(parent: np.ndarray, referred_at_us: np.ndarray) -> np.ndarray:
    out = np.full(len(parent), -1, np.int64)
    child = np.flatnonzero(parent >= 0)
    np.maximum.at(out, parent[child], referred_at_us[child])
    return out


def recent_invites(
    parent: np.ndarray, referred_at_us: np.ndarray, reference_us: int, half_life_days: float
) -> np.ndarray:
    child = np.flatnonzero(parent >= 0)
    age_days = np.maximum(reference_us - referred_at_us[child], 0) / US_PER_DAY
    weight = np.power(0.5, age_days / half_life_days)
    return np.bincount(parent[child], weights=weight, minlength=len(parent))
