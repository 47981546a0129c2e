"""The realistic campaign shape's population: when users join, who invites
them, how sharing fades and comes back (see `loaders.generator`).

The model, all in numpy columns (loops run over waves, hour windows and
half-life classes, never over users):

- **waves**: each campaign but the always-on programme runs from a start to
  an end date inside the period, some overlapping; its joins ramp up over
  the first days, stay high until the end, then decay exponentially (a time
  constant of a few days). The always-on programme runs throughout at a low
  level. Every join (and every invite to a prospect who never joins) comes
  from one source, and is attributed to its campaign;
- **rhythm**: joins follow the local hour of day (evenings busier) and the
  weekday (weekends busier), Asia/Shanghai time;
- **activity**: a user's sharing activity at time t is
  fitness × 0.5 ** ((t − active_since) / half_life), the half-life the
  user's own (lognormal, median 10 days), so sharers burst after joining
  and fade. A joiner at t picks its inviter with probability proportional
  to the activity at t of the users active before the hour it joins in;
  about 60% of users never share (fitness 0);
- **influence**: a planted KOC's invitees share more often, with more
  fitness, and convert more; the effect halves with each tier down the
  tree. Inviters are drawn hour by hour, so a parent's influence is known
  before its children's;
- **returners**: a fifth of the users (most planted KOCs) come back in a
  later wave: their activity starts again at that wave, with a fresh burst.
  Some churned users come back too, with a new join (a re-added contact,
  no known inviter).

Half-lives are rounded to half-octave classes (0.5 to 128 days) so the
activity of all users of a class is one running sum: a user's activity is
fitness × 2 ** (since / h) × 2 ** (−t / h), the first factor fixed when the
user becomes active, the second shared by the class.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from loaders.generator_events import CAMPAIGNS, HOUR_WEIGHTS, LOCAL_OFFSET_S, SPAN_DAYS, START

DAY = 86400
ALWAYS_ON_SHARE = 0.2  # of joins, from the always-on programme
WAVE_DAYS = (10.0, 35.0)  # how long a wave runs
RAMP_DAYS = 2.0  # joins ramp up over the first days of a wave
LAUNCH_HOUR = 10  # local hour a wave is launched
DECAY_DAYS = (2.0, 5.0)  # time constant of the joins' decay after a wave ends
# Joins by local weekday, Monday first: weekends busier.
WEEKDAY_WEIGHTS = np.array([0.9, 0.9, 0.95, 0.95, 1.0, 1.4, 1.35])
SHARE_RATE = 0.4  # users who ever share
HALF_LIFE_DAYS, HALF_LIFE_SIGMA = 10.0, 0.7
HALF_LIVES = 2.0 ** np.arange(-1.0, 7.01, 0.5)  # the half-life classes, in days
KOC_FITNESS = 15.0
INFLUENCE_SHARE = 0.3  # extra share rate of a KOC's invitee (halving per tier)
INFLUENCE_FITNESS = 2.0  # extra fitness factor of a KOC's invitee (halving per tier)
RETURN_SHARE, KOC_RETURN_SHARE, REJOIN_SHARE = 0.2, 0.8, 0.3
RETURN_AFTER_DAYS = 7.0  # a returner comes back in a wave starting this long after its join
LOST_STATE = 0.03  # joins with no known inviter (re-added contacts)
CHURN_SHARE, CHURN_DAYS = 0.10, 12.0


@dataclass
class Waves:
    """Campaign windows, in seconds since START (local midnight), one per
    campaign but the always-on one, in campaign order."""

    start: np.ndarray
    end: np.ndarray
    decay: np.ndarray
    size: np.ndarray  # share of the waves' joins

    def to_json(self) -> list[dict]:
        def local(s: float) -> str:
            return str(np.datetime64(int(START + s), "s")).replace("T", " ")

        return [
            {
                "campaign": c,
                "start": local(a),
                "end": local(b),
                "decay_days": round(float(d) / DAY, 2),
                "share_of_wave_joins": round(float(z), 3),
            }
            for c, a, b, d, z in zip(
                CAMPAIGNS, self.start, self.end, self.decay, self.size, strict=False
            )
        ]


@dataclass
class Population:
    """Users by join order (code = index) and what the model planted."""

    join_at: np.ndarray  # UTC epoch seconds, sorted
    campaign: np.ndarray  # int8: the wave (or always-on) that brought the join
    parent: np.ndarray  # int64 inviter code, -1 for none
    influence: np.ndarray  # received from the nearest planted KOC above: 1, 1/2, 1/4...
    koc_idx: np.ndarray
    n_seed: int
    # Invites to prospects who never join: prospect number k (code n + k),
    # inviter, at, campaign.
    prospects: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
    churn: tuple[np.ndarray, np.ndarray]  # user, at
    rejoins: tuple[np.ndarray, np.ndarray, np.ndarray]  # churned returners: user, at, campaign
    returners: int  # users who come back in a later wave, churned or not
    waves: Waves


def plan_waves(rng: np.random.Generator) -> Waves:
    """One window per campaign, in order through the period: launched at
    10:00 on a day in each fifth of the period (jittered), running 10-35
    days to midnight, so neighbours sometimes overlap; every wave ends
    inside the period. Waves differ in size."""
    k = len(CAMPAIGNS) - 1
    slot = SPAN_DAYS / k
    day = np.floor(np.arange(k) * slot + rng.uniform(0.0, 0.4 * slot, k))
    start = day + LAUNCH_HOUR / 24
    end = np.minimum(day + np.ceil(rng.uniform(*WAVE_DAYS, k)), SPAN_DAYS - 1.0)
    decay = rng.uniform(*DECAY_DAYS, k)
    size = rng.lognormal(0.0, 0.3, k)
    return Waves(start * DAY, end * DAY, decay * DAY, size / size.sum())


def hourly_rates(waves: Waves) -> np.ndarray:
    """Joins per local hour of the period from each source (the waves, then
    always-on), each row summing to the source's share of all joins."""
    hour = np.arange(SPAN_DAYS * 24)
    mid = (hour + 0.5) * 3600.0
    weekday = (hour // 24 + _weekday(START)) % 7
    rhythm = HOUR_WEIGHTS[hour % 24] * WEEKDAY_WEIGHTS[weekday]
    since = mid[None, :] - waves.start[:, None]
    ramp = np.clip(since / (RAMP_DAYS * DAY), 0.2, 1.0)
    after = np.maximum(mid[None, :] - waves.end[:, None], 0.0)
    shape = np.where(since >= 0, ramp * np.exp(-after / waves.decay[:, None]), 0.0)
    rows = np.vstack([shape, np.ones_like(mid)[None, :]]) * rhythm
    share = np.append((1 - ALWAYS_ON_SHARE) * waves.size, ALWAYS_ON_SHARE)
    return rows / rows.sum(axis=1, keepdims=True) * share[:, None]


def _weekday(epoch_s: int) -> int:
    """Monday = 0 of the local date at `epoch_s` (taken as local midnight)."""
    return int((epoch_s // DAY + 3) % 7)  # 1970-01-01 was a Thursday


def draw_times(
    rng: np.random.Generator, rates: np.ndarray, m: int
) -> tuple[np.ndarray, np.ndarray]:
    """`m` event times (UTC epoch seconds, sorted) and their sources, drawn
    from the hourly rates."""
    cum = np.cumsum(rates.ravel())
    cell = np.minimum(np.searchsorted(cum, rng.random(m) * cum[-1], side="right"), len(cum) - 1)
    source, hour = np.divmod(cell, rates.shape[1])
    at = START + hour * 3600 + rng.integers(0, 3600, m) - LOCAL_OFFSET_S
    order = np.argsort(at, kind="stable")
    return at[order], source[order].astype(np.int8)


class Activity:
    """Sharing activity of the users active so far, summed per half-life
    class, to draw inviters from.

    An entry is an activation: a user's join, or its return in a later wave,
    with the time it starts (days since START), the user's half-life class
    and a boost of its fitness. Entries sit in (class, start) order, so each
    class is a segment whose active prefix holds the running sums of
    fitness × boost × 2 ** (start / h); `total` is each class's sum."""

    def __init__(self, user: np.ndarray, since: np.ndarray, cls: np.ndarray, boost: np.ndarray):
        self.user, self.since, self.cls, self.boost = user, since, cls, boost
        self.pos_entry = np.lexsort((since, cls))
        self.pos_of = np.empty_like(self.pos_entry)
        self.pos_of[self.pos_entry] = np.arange(len(user))
        self.seg_lo = np.searchsorted(cls[self.pos_entry], np.arange(len(HALF_LIVES)))
        self.active = np.zeros(len(HALF_LIVES), np.int64)
        self.total = np.zeros(len(HALF_LIVES))
        self.cum = np.zeros(len(user))
        self.start_order = np.argsort(since, kind="stable")
        self.start_sorted = since[self.start_order]
        self.done = 0

    def activate(self, before: float, fitness: np.ndarray) -> None:
        """Add the entries starting before `before` (days); `fitness` must
        be final for their users."""
        upto = int(np.searchsorted(self.start_sorted, before, side="left"))
        if upto == self.done:
            return
        pos = np.sort(self.pos_of[self.start_order[self.done : upto]])
        self.done = upto
        ent = self.pos_entry[pos]
        cls = self.cls[ent]
        w = fitness[self.user[ent]] * self.boost[ent] * np.exp2(self.since[ent] / HALF_LIVES[cls])
        cuts = np.flatnonzero(np.diff(cls)) + 1
        for lo, hi in zip(np.r_[0, cuts], np.r_[cuts, len(pos)], strict=True):
            c = cls[lo]
            self.cum[pos[lo:hi]] = self.total[c] + np.cumsum(w[lo:hi])
            self.total[c] = self.cum[pos[hi - 1]]
            self.active[c] += hi - lo

    def draw(self, t: np.ndarray, u1: np.ndarray, u2: np.ndarray) -> np.ndarray:
        """A user per time in `t` (days), drawn with probability proportional
        to its activity then (u1, u2: uniform numbers); -1 where nobody is
        active."""
        per_class = self.total[None, :] * np.exp2(-t[:, None] / HALF_LIVES[None, :])
        cs = np.cumsum(per_class, axis=1)
        whole = cs[:, -1]
        cls = np.minimum((cs <= (u1 * whole)[:, None]).sum(axis=1), len(HALF_LIVES) - 1)
        out = np.full(len(t), -1, np.int64)
        ok = whole > 0
        for c in np.unique(cls[ok]):
            sel = np.flatnonzero(ok & (cls == c))
            lo, n_c = self.seg_lo[c], self.active[c]
            if n_c:
                i = np.searchsorted(self.cum[lo : lo + n_c], u2[sel] * self.total[c], "right")
                out[sel] = self.user[self.pos_entry[lo + np.minimum(i, n_c - 1)]]
        return out


@dataclass
class _Traits:
    """What each user brings, drawn before anyone joins."""

    share_u: np.ndarray  # uniform: shares if below the (influenced) share rate
    fitness: np.ndarray  # lognormal fitness if sharing
    cls: np.ndarray  # half-life class
    is_koc: np.ndarray


def _traits(rng: np.random.Generator, n: int, koc_idx: np.ndarray) -> _Traits:
    share_u = rng.random(n)
    fitness = rng.lognormal(0.0, 1.2, n)
    half_life = rng.lognormal(np.log(HALF_LIFE_DAYS), HALF_LIFE_SIGMA, n)
    cls = np.clip(np.rint(2 * np.log2(half_life)) + 2, 0, len(HALF_LIVES) - 1).astype(np.intp)
    is_koc = np.zeros(n, bool)
    is_koc[koc_idx] = True
    return _Traits(share_u, fitness, cls, is_koc)


def plan_returns(
    rng: np.random.Generator,
    join_at: np.ndarray,
    churn: tuple[np.ndarray, np.ndarray],
    is_koc: np.ndarray,
    waves: Waves,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Users who come back in a later wave (one starting at least a week
    after their join, or a day after their churn): their codes, when they
    come back (UTC epoch seconds, a couple of days into the wave), the wave,
    and whether they had churned (and so join again)."""
    n = len(join_at)
    churned = np.zeros(n, bool)
    churned[churn[0]] = True
    local = join_at - START + LOCAL_OFFSET_S
    anchor = local + RETURN_AFTER_DAYS * DAY
    anchor[churn[0]] = np.maximum(anchor[churn[0]], churn[1] - START + LOCAL_OFFSET_S + DAY)
    p = np.where(churned, REJOIN_SHARE, np.where(is_koc, KOC_RETURN_SHARE, RETURN_SHARE))
    back = rng.random(n) < p
    first = np.searchsorted(waves.start, anchor)
    later = len(waves.start) - first
    wave = np.minimum(first + (rng.random(n) * later).astype(np.int64), len(waves.start) - 1)
    since = waves.start[wave] + rng.exponential(2.0 * DAY, n)
    ok = np.flatnonzero(back & (later > 0) & (since < SPAN_DAYS * DAY))
    at = (START + since[ok] - LOCAL_OFFSET_S).astype(np.int64)
    return ok, at, wave[ok].astype(np.int8), churned[ok]


def _receive(
    codes: np.ndarray,
    parent: np.ndarray,
    traits: _Traits,
    influence: np.ndarray,
    fitness: np.ndarray,
) -> None:
    """Influence and fitness of the users `codes`, now that their parents
    are known: a planted KOC's invitee gets influence 1, the next tier 1/2..."""
    p = parent[codes]
    has = p >= 0
    up = np.where(traits.is_koc[p], 1.0, influence[p] / 2)
    inf = np.where(has, up, 0.0)
    influence[codes] = inf
    shares = traits.share_u[codes] < SHARE_RATE + INFLUENCE_SHARE * inf
    f = shares * traits.fitness[codes] * (1 + INFLUENCE_FITNESS * inf)
    koc = traits.is_koc[codes]
    f[koc] = np.maximum(f[koc], 1.0) * KOC_FITNESS
    fitness[codes] = f


def realistic_population(rng: np.random.Generator, n: int) -> Population:
    """About `n` users and `n // 4` prospects (invited, never joining),
    with join times, campaigns, inviters, influence, churn and returns."""
    waves = plan_waves(rng)
    n_prospects = n // 4
    at, source = draw_times(rng, hourly_rates(waves), n + n_prospects)
    is_prospect = np.zeros(n + n_prospects, bool)
    is_prospect[rng.permutation(n + n_prospects)[:n_prospects]] = True
    join_at = at[~is_prospect]
    n_kocs = max(3, n // 2000)
    koc_idx = np.sort(
        rng.choice(np.arange(n // 50, max(n // 50 + n_kocs, n // 8)), n_kocs, replace=False)
    )
    traits = _traits(rng, n, koc_idx)
    n_seed = max(5, n // 50)
    no_inviter = rng.random(n) < LOST_STATE
    no_inviter[:n_seed] = True
    leavers = np.flatnonzero(rng.random(n) < CHURN_SHARE)
    churn_at = join_at[leavers] + rng.exponential(CHURN_DAYS * DAY, len(leavers)).astype(np.int64)
    churn = (leavers, churn_at + 60)
    back, back_at, back_wave, rejoin = plan_returns(rng, join_at, churn, traits.is_koc, waves)
    activity = Activity(
        np.concatenate([np.arange(n), back]),
        (np.concatenate([join_at, back_at]) - START) / DAY,
        np.concatenate([traits.cls, traits.cls[back]]),
        np.concatenate([np.ones(n), rng.lognormal(0.0, 0.5, len(back))]),
    )
    inviter, parent, influence = _draw_inviters(rng, at, is_prospect, no_inviter, traits, activity)
    pro = np.flatnonzero(is_prospect)
    kept = inviter[pro] >= 0
    return Population(
        join_at=join_at,
        campaign=source[~is_prospect],
        parent=parent,
        influence=influence,
        koc_idx=koc_idx,
        n_seed=n_seed,
        prospects=(np.flatnonzero(kept), inviter[pro][kept], at[pro][kept], source[pro][kept]),
        churn=churn,
        rejoins=(back[rejoin], back_at[rejoin], back_wave[rejoin]),
        returners=len(back),
        waves=waves,
    )


def _draw_inviters(
    rng: np.random.Generator,
    at: np.ndarray,
    is_prospect: np.ndarray,
    no_inviter: np.ndarray,
    traits: _Traits,
    activity: Activity,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hour by hour: the inviter of each event (users' joins and prospects'
    invites) drawn from the activity of the users active before that hour;
    then the hour's joiners get their influence and fitness. Returns each
    event's inviter, each user's parent and influence."""
    m = len(at)
    n = m - int(is_prospect.sum())
    code = np.cumsum(~is_prospect) - 1  # an event's user code (users only)
    days = (at - START) / DAY
    hour = (at - START + LOCAL_OFFSET_S) // 3600
    cuts = np.flatnonzero(np.diff(hour)) + 1
    u1, u2 = rng.random(m), rng.random(m)
    inviter = np.full(m, -1, np.int64)
    parent = np.full(n, -1, np.int64)
    influence, fitness = np.zeros(n), np.zeros(n)
    for lo, hi in zip(np.r_[0, cuts], np.r_[cuts, m], strict=True):
        activity.activate(days[lo], fitness)
        inviter[lo:hi] = activity.draw(days[lo:hi], u1[lo:hi], u2[lo:hi])
        users = code[lo:hi][~is_prospect[lo:hi]]
        if len(users):
            parent[users] = np.where(no_inviter[users], -1, inviter[lo:hi][~is_prospect[lo:hi]])
            _receive(users, parent, traits, influence, fitness)
    return inviter, parent, influence
