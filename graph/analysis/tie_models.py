"""The probability of each tie in the independent cascade model (IC) of
`graph.analysis.influence`: the ties are every REFERRED edge and INVITED
tie, inviter -> invitee, under one of three models.

- `learned` (the default), from the events, per inviter u, smoothed
  towards the population rates (m pseudo-observations, default 5):

      join(u)  = (invites(u) + m * J) / (attempts(u) + m)
      conv(u)  = (converted_invites(u) + m * C) / (invites(u) + m)
      p(u -> v) = min(1, join(u) * conv(u) / C)

  where attempts are the users u invited or referred (REFERRED plus INVITED
  ties), J and C the population join and conversion rates. So p is the
  chance u's invitation is taken up, scaled by how much better than average
  u's invitees buy: an inviter whose invitees never buy passes on little.
- `wc`, the weighted cascade of the literature: p(u -> v) = 1 / the number
  of ties into v.
- `uniform:P`: every tie P.
"""

from __future__ import annotations

import math

import numpy as np

from graph.analysis.params import ParamError

SMOOTHING = 5.0


def edge_probabilities(
    parent: np.ndarray,
    tie_src: np.ndarray,
    tie_dst: np.ndarray,
    converted: np.ndarray,
    smoothing: float = SMOOTHING,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The IC ties (src, dst, p): every REFERRED edge and INVITED tie, with
    the learned probability of its inviter (see the module docstring)."""
    n = len(parent)
    child = np.flatnonzero(parent >= 0)
    up = parent[child]
    invites = np.bincount(up, minlength=n).astype(np.float64)
    converted_invites = np.bincount(up, weights=converted[child], minlength=n)
    attempts = invites + np.bincount(tie_src, minlength=n)
    join_rate = invites.sum() / max(attempts.sum(), 1.0)
    conv_rate = converted_invites.sum() / max(invites.sum(), 1.0)
    join = (invites + smoothing * join_rate) / (attempts + smoothing)
    if conv_rate > 0:
        conv = (converted_invites + smoothing * conv_rate) / (invites + smoothing)
        per_inviter = np.minimum(1.0, join * conv / conv_rate)
    else:  # nobody bought: fall back to the join rate alone
        per_inviter = join
    src = np.concatenate([up, tie_src]).astype(np.int64)
    dst = np.concatenate([child, tie_dst]).astype(np.int64)
    return src, dst, per_inviter[src]


MODELS = ("learned", "wc", "uniform")


def parse_model(text: str) -> tuple[str, float | None]:
    """`learned`, `wc` or `uniform:P` (0 < P <= 1) as (name, P)."""
    name, _, value = text.partition(":")
    if name in ("learned", "wc") and not value:
        return name, None
    if name == "uniform":
        try:
            probability = float(value)
        except ValueError:
            probability = math.nan
        if 0 < probability <= 1:
            return name, probability
        raise ParamError(
            "--model {model!r}: uniform needs a probability, e.g. uniform:0.01",
            field="model",
            model=text,
        )
    raise ParamError(
        "unknown model {model!r}; choose learned, wc or uniform:P", field="model", model=text
    )


def tie_probabilities(
    model: str,
    parent: np.ndarray,
    tie_src: np.ndarray,
    tie_dst: np.ndarray,
    converted: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The IC ties (src, dst, p) under a model:

    - `learned`: each inviter's learned probability (`edge_probabilities`);
    - `wc`, weighted cascade: p(u -> v) = 1 / in-degree of v, so every user
      is reached by one in-tie on average (Kempe et al. 2003);
    - `uniform:P`: every tie P.

        >>> src, dst, p = tie_probabilities("wc", np.array([-1, 0, 0]), np.array([1]),
        ...                                 np.array([2]), np.zeros(3, bool))
        >>> dst.tolist(), p.tolist()
        ([1, 2, 2], [1.0, 0.5, 0.5])
    """
    name, probability = parse_model(model)
    src, dst, learned = edge_probabilities(parent, tie_src, tie_dst, converted)
    if name == "learned":
        return src, dst, learned
    if name == "wc":
        in_degree = np.bincount(dst, minlength=len(parent)).astype(np.float64)
        return src, dst, 1.0 / in_degree[dst] if dst.size else np.zeros(0)
    return src, dst, np.full(len(src), probability)
