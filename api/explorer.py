"""The explorer's views: bounded pieces of the graph with a layout computed
once on the server, so the page draws them without running physics.

Views (each at most `limit` users, 1,500 by default, and says "showing N of M"):

- `searchlight`: the KOC picks and their 1-2 hop neighbourhoods, nearest first;
- `community`: one community's members, best KOC score first;
- `ego`: one user's ego network (the store's bounded breadth-first search);
- `map`: the community map, one node per community (sized by its users),
  linked by the ties between communities.

Filters (`min_score`, `show_flagged`) drop users from a view, never its
centre or its KOCs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, Field

from api import queries
from api.analysis_worker import in_layout_worker
from api.layout import lay_out
from api.service import Service
from graph.analysis.kocs import KocParams, SnapshotGraph
from graph.analysis.score import top_reasons
from graph.analysis.tiegraph import concat_ranges, distinct
from graph.store import UserNotFoundError

VIEWS = ("searchlight", "community", "ego", "map")
DEFAULT_LIMIT = 1500
# Layout work is bounded: force-directed iterations for up to this many nodes.


class ViewNode(BaseModel):
    id: str
    x: float
    y: float
    community: int
    koc_score: float
    reach: int
    flagged: bool
    koc: bool = Field(description="one of the view's KOC picks")
    hop: int = Field(description="ties from the view's centre or nearest KOC")
    size: int = Field(1, description="map view: users in the community")
    reason: str = Field("", description="the score's top parts, in words")


class ViewEdge(BaseModel):
    source: str = Field(description="the inviter (map view: a community)")
    target: str = Field(description="the invitee")
    kind: str = Field(description="REFERRED, INVITED, or TIES (map view)")
    weight: int = 1


class ExplorerView(BaseModel):
    view: str
    title: str
    showing: int
    total: int = Field(description="users (map view: communities) the view was cut from")
    truncated: bool
    snapshot_id: str
    nodes: list[ViewNode]
    edges: list[ViewEdge]


@dataclass(frozen=True)
class ViewParams:
    view: str = "searchlight"
    user_id: str | None = None
    community: int | None = None
    k: int = 20
    hops: int = 2
    limit: int = DEFAULT_LIMIT
    min_score: float = 0.0
    show_flagged: bool = True


def build_view(service: Service, params: ViewParams) -> ExplorerView:
    prepared = service.snapshot_graph()
    if params.view == "map":
        return _community_map(prepared, params)
    if params.view == "ego":
        if not params.user_id:
            raise ValueError("the ego view needs user_id")
        return _ego(service, prepared, params)
    if params.view == "community":
        if params.community is None:
            raise ValueError("the community view needs community")
        return _community(prepared, params)
    return _searchlight(service, prepared, params)


def _positions(prepared: SnapshotGraph, ids: list[str]) -> np.ndarray:
    at = pc.index_in(pa.array(ids, pa.string()), value_set=prepared.graph.ids)
    return at.to_numpy(zero_copy_only=False)


def _neighbours(prepared: SnapshotGraph, users: np.ndarray) -> np.ndarray:
    starts = prepared.indptr[users]
    return prepared.indices[concat_ranges(starts, prepared.indptr[users + 1] - starts)]


def _kept(prepared: SnapshotGraph, users: np.ndarray, params: ViewParams) -> np.ndarray:
    """The users the filters let through."""
    m = prepared.metrics
    keep = m["koc_score"][users] >= params.min_score
    if not params.show_flagged:
        keep &= ~m["flagged"][users]
    return users[keep]


def _searchlight(service: Service, prepared: SnapshotGraph, params: ViewParams) -> ExplorerView:
    picks = queries.koc_list(service, KocParams(k=params.k))
    kocs = _positions(prepared, [r.user_id for r in picks.rows])
    kocs = kocs[kocs >= 0][: params.limit]
    seen = np.zeros(prepared.graph.n, bool)
    seen[kocs] = True
    users, hops = [kocs], [np.zeros(len(kocs), np.int64)]
    frontier, shown, total = kocs, len(kocs), len(kocs)
    for h in range(1, params.hops + 1):
        found = distinct(_neighbours(prepared, frontier))
        found = found[~seen[found]]
        seen[found] = True
        total += len(found)
        found = _kept(prepared, found, params)
        # nearest first, and within a hop the best scores first
        found = found[np.argsort(-prepared.metrics["koc_score"][found], kind="stable")]
        taken = found[: max(params.limit - shown, 0)]
        users.append(taken)
        hops.append(np.full(len(taken), h, np.int64))
        shown += len(taken)
        frontier = found
    return _view(
        prepared,
        "searchlight",
        f"the searchlight set: {len(kocs)} KOCs and their {params.hops}-hop neighbourhoods",
        np.concatenate(users),
        np.concatenate(hops),
        set(kocs.tolist()),
        total,
    )


def _community(prepared: SnapshotGraph, params: ViewParams) -> ExplorerView:
    m = prepared.metrics
    members = np.flatnonzero(m["community"] == params.community)
    if not len(members):
        raise queries.CommunityNotFoundError(f"no community {params.community} in the snapshot")
    total = len(members)
    members = _kept(prepared, members, params)
    members = members[np.argsort(-m["koc_score"][members], kind="stable")][: params.limit]
    return _view(
        prepared,
        "community",
        f"community {params.community}",
        members,
        np.zeros(len(members), np.int64),
        set(members[:5].tolist()),
        total,
    )


def _ego(service: Service, prepared: SnapshotGraph, params: ViewParams) -> ExplorerView:
    ego = queries.live_reader(service).ego_network(
        params.user_id, hops=params.hops, limit=params.limit
    )
    at = _positions(prepared, ego.users["id"].to_pylist())
    hops = ego.users["hop"].to_numpy()
    known = at >= 0
    if not known[0]:
        raise UserNotFoundError(
            f"user {params.user_id!r} is not in the latest analysis yet; analyse again to see it"
        )
    users, hops = at[known], hops[known]
    centre = users[:1]
    rest = _kept(prepared, users[1:], params)
    keep = np.isin(users, np.concatenate([centre, rest]))
    return _view(
        prepared,
        "ego",
        f"around {params.user_id}",
        users[keep],
        hops[keep],
        set(centre.tolist()),
        int(known.sum()) + (1 if ego.truncated else 0),
        truncated=ego.truncated,
    )


def _ties_among(
    prepared: SnapshotGraph, users: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """REFERRED (kind 0) and INVITED (kind 1) ties among `users`, as positions."""
    g = prepared.graph
    inside = np.zeros(g.n, bool)
    inside[users] = True
    child = users[g.parent[users] >= 0]
    child = child[inside[g.parent[child]]]
    ties = inside[g.tie_src] & inside[g.tie_dst]
    src = np.concatenate([g.parent[child], g.tie_src[ties]])
    dst = np.concatenate([child, g.tie_dst[ties]])
    kind = np.concatenate([np.zeros(len(child), np.int64), np.ones(int(ties.sum()), np.int64)])
    return src, dst, kind


def _layout(n: int, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    if _LAYOUT_IN_WORKER and n > 1:
        return in_layout_worker(lay_out, n, src, dst)
    return lay_out(n, src, dst)


def lay_out_in_worker(enabled: bool) -> None:
    """Draw views in the server's layout process (KOC_ANALYSIS_WORKER): the
    layout holds Python's lock for seconds on a big view, and the warm-up
    after every write draws one."""
    global _LAYOUT_IN_WORKER
    _LAYOUT_IN_WORKER = enabled


_LAYOUT_IN_WORKER = False


def _reasons(prepared: SnapshotGraph, ids: list[str]) -> dict[str, str]:
    users = prepared.snapshot.users
    mine = users.filter(pc.is_in(users["id"], value_set=pa.array(ids, pa.string())))
    return dict(zip(mine["id"].to_pylist(), top_reasons(mine), strict=True))


def _view(
    prepared: SnapshotGraph,
    view: str,
    title: str,
    users: np.ndarray,
    hops: np.ndarray,
    kocs: set[int],
    total: int,
    *,
    truncated: bool | None = None,
) -> ExplorerView:
    m = prepared.metrics
    slot = np.full(prepared.graph.n, -1, np.int64)
    slot[users] = np.arange(len(users))
    src, dst, kind = _ties_among(prepared, users)
    local_src, local_dst = slot[src], slot[dst]
    xy = _layout(len(users), local_src, local_dst)
    ids = pc.take(prepared.graph.ids, pa.array(users, pa.int64())).to_pylist()
    reasons = _reasons(prepared, ids)
    nodes = [
        ViewNode(
            id=uid,
            x=round(float(xy[i, 0]), 1),
            y=round(float(xy[i, 1]), 1),
            community=int(m["community"][u]),
            koc_score=round(float(m["koc_score"][u]), 2),
            reach=int(m["reach"][u]),
            flagged=bool(m["flagged"][u]),
            koc=u in kocs,
            hop=int(hops[i]),
            reason=reasons.get(uid, ""),
        )
        for i, (u, uid) in enumerate(zip(users.tolist(), ids, strict=True))
    ]
    names = ("REFERRED", "INVITED")
    edges = [
        ViewEdge(source=ids[a], target=ids[b], kind=names[k])
        for a, b, k in zip(local_src.tolist(), local_dst.tolist(), kind.tolist(), strict=True)
    ]
    return ExplorerView(
        view=view,
        title=title,
        showing=len(nodes),
        total=max(total, len(nodes)),
        truncated=truncated if truncated is not None else total > len(nodes),
        snapshot_id=prepared.snapshot.id,
        nodes=nodes,
        edges=edges,
    )


def _community_map(prepared: SnapshotGraph, params: ViewParams) -> ExplorerView:
    m = prepared.metrics
    label = m["community"]
    k = int(label.max()) + 1 if len(label) else 0
    size = np.bincount(label, minlength=k)
    shown = np.argsort(-size, kind="stable")[: min(params.limit, 300)]
    shown = shown[size[shown] > 0]
    low, high = prepared.graph.undirected_edges()
    a, b = label[low], label[high]
    between = a != b
    pairs = np.minimum(a, b)[between] * k + np.maximum(a, b)[between]
    keys, counts = np.unique(pairs, return_counts=True)
    ca, cb = keys // k, keys % k
    visible = np.zeros(k, bool)
    visible[shown] = True
    keep = visible[ca] & visible[cb]
    slot = {c: i for i, c in enumerate(shown.tolist())}
    xy = _layout(
        len(shown),
        np.array([slot[c] for c in ca[keep].tolist()], np.int64),
        np.array([slot[c] for c in cb[keep].tolist()], np.int64),
    )
    best = np.full(k, -1.0)
    np.maximum.at(best, label, m["koc_score"])
    nodes = [
        ViewNode(
            id=f"community {c}",
            x=round(float(xy[i, 0]), 1) * 2,
            y=round(float(xy[i, 1]), 1) * 2,
            community=int(c),
            koc_score=round(float(best[c]), 2),
            reach=int(size[c]),
            flagged=False,
            koc=False,
            hop=0,
            size=int(size[c]),
            reason=f"{int(size[c]):,} users",
        )
        for i, c in enumerate(shown.tolist())
    ]
    edges = [
        ViewEdge(source=f"community {x}", target=f"community {y}", kind="TIES", weight=int(w))
        for x, y, w in zip(ca[keep].tolist(), cb[keep].tolist(), counts[keep].tolist(), strict=True)
    ]
    return ExplorerView(
        view="map",
        title=f"community map: the {len(nodes)} largest of {k} communities",
        showing=len(nodes),
        total=k,
        truncated=len(nodes) < k,
        snapshot_id=prepared.snapshot.id,
        nodes=nodes,
        edges=edges,
    )
