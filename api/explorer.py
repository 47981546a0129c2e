"""The explorer's views: bounded pieces of the graph with a layout computed
once on the server, so the page draws them without running physics.

Views (each at most `limit` users, 1,500 by default, and says "showing N of M"):

- `searchlight`: the KOC picks and their 1-2 hop neighbourhoods, nearest first;
- `community`: one community's members, best KOC score first;
- `ego`: one user's ego network (the store's bounded breadth-first search);
- `tree`: one user's referral tree, the chain up and `depth` levels down
  (`api.explorer_tree`);
- `map`: the community map, one node per community (sized by its users),
  linked by the ties between communities; communities of one or two users
  are left out and counted in the view's `note`.

Filters (`min_score`, `show_flagged`) drop users from a view, never its
centre or its KOCs; the tree view is drawn whole (a tree with holes would
not read as one). Algorithmic communities are "circles" (关系圈) to a reader.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from api import queries, user_queries
from api.analysis_worker import in_layout_worker
from api.explorer_models import ExplorerView, ViewEdge, ViewNode, ViewParams
from api.explorer_tree import CHAIN_LIMIT, referral_tree
from api.i18n import _
from api.i18n.formats import integer
from api.layout import lay_out
from api.names import named_view
from api.reasons import top_reasons
from api.service import Service
from graph.analysis.kocs import KocParams, SnapshotGraph
from graph.analysis.tiegraph import concat_ranges, distinct
from graph.store import UserNotFoundError

SMALL_COMMUNITY = 2  # the map leaves out communities of this many users or fewer


def named(service: Service, params: ViewParams, full: bool) -> ExplorerView:
    """The view with its users' names (api.names), masked unless `full`."""
    return named_view(service, build_view(service, params), full)


def build_view(service: Service, params: ViewParams) -> ExplorerView:
    prepared = service.snapshot_graph()
    if params.view == "map":
        return _community_map(prepared, params)
    if params.view == "ego":
        if not params.user_id:
            raise ValueError("the ego view needs user_id")
        return _ego(service, prepared, params)
    if params.view == "tree":
        if not params.user_id:
            raise ValueError("the tree view needs user_id")
        return _tree(service, prepared, params)
    if params.view == "community":
        if params.community is None:
            raise ValueError("the community view needs community")
        return _community(prepared, params)
    return _searchlight(service, prepared, params)


def _positions(prepared: SnapshotGraph, ids: list[str]) -> np.ndarray:
    """Each id's position in the snapshot graph, -1 for ids it lacks."""
    at = pc.index_in(pa.array(ids, pa.string()), value_set=prepared.graph.ids)
    return pc.fill_null(at, -1).to_numpy(zero_copy_only=False).astype(np.int64)


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
        _(
            "the searchlight set: {kocs} KOCs and the users within {hops} ties of them",
            kocs=len(kocs),
            hops=params.hops,
        ),
        np.concatenate(users),
        np.concatenate(hops),
        set(kocs.tolist()),
        total,
    )


def _community(prepared: SnapshotGraph, params: ViewParams) -> ExplorerView:
    m = prepared.metrics
    members = np.flatnonzero(m["community"] == params.community)
    if not len(members):
        raise queries.CommunityNotFoundError(
            "no circle {community} in the snapshot", community=params.community
        )
    total = len(members)
    members = _kept(prepared, members, params)
    members = members[np.argsort(-m["koc_score"][members], kind="stable")][: params.limit]
    return _view(
        prepared,
        "community",
        _("circle {community}", community=params.community),
        members,
        np.zeros(len(members), np.int64),
        set(members[:5].tolist()),
        total,
    )


def _ego(service: Service, prepared: SnapshotGraph, params: ViewParams) -> ExplorerView:
    ego = user_queries.live_reader(service).ego_network(
        params.user_id, hops=params.hops, limit=params.limit
    )
    at = _positions(prepared, ego.users["id"].to_pylist())
    hops = ego.users["hop"].to_numpy()
    known = at >= 0
    if not known[0]:
        raise _not_analysed(params.user_id)
    users, hops = at[known], hops[known]
    centre = users[:1]
    rest = _kept(prepared, users[1:], params)
    keep = np.isin(users, np.concatenate([centre, rest]))
    return _view(
        prepared,
        "ego",
        _("around {user}", user=params.user_id),
        users[keep],
        hops[keep],
        set(centre.tolist()),
        int(known.sum()) + (1 if ego.truncated else 0),
        truncated=ego.truncated,
    )


def _not_analysed(user_id: str | None) -> UserNotFoundError:
    return UserNotFoundError(
        "user {user} is not in the latest analysis yet; analyse again to see it", user=user_id
    )


def _tree(service: Service, prepared: SnapshotGraph, params: ViewParams) -> ExplorerView:
    centre = _positions(prepared, [params.user_id or ""])[0]
    if centre < 0:
        raise _not_analysed(params.user_id)
    chain = _positions(
        prepared, user_queries.live_reader(service).referral_chain(params.user_id, CHAIN_LIMIT)
    )
    tree = referral_tree(
        prepared.graph.parent,
        prepared.metrics["reach"],
        int(centre),
        chain[chain >= 0],
        params.depth,
        params.limit,
    )
    return _view(
        prepared,
        "tree",
        _("the referral tree of {user}", user=params.user_id),
        tree.users,
        tree.hops,
        {int(centre)},
        tree.total,
        xy=tree.xy,
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
    xy: np.ndarray | None = None,
) -> ExplorerView:
    """The view of `users` (positions) laid out by force, or at `xy`."""
    m = prepared.metrics
    slot = np.full(prepared.graph.n, -1, np.int64)
    slot[users] = np.arange(len(users))
    src, dst, kind = _ties_among(prepared, users)
    local_src, local_dst = slot[src], slot[dst]
    if xy is None:
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
    # Communities of one or two users would be hundreds of dots: counted instead.
    small = int(np.count_nonzero((size > 0) & (size <= SMALL_COMMUNITY)))
    shown = np.argsort(-size, kind="stable")[: min(params.limit, 300)]
    shown = shown[size[shown] > SMALL_COMMUNITY]
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
            reason=_("{users} users", users=integer(int(size[c]))),
        )
        for i, c in enumerate(shown.tolist())
    ]
    edges = [
        ViewEdge(source=f"community {x}", target=f"community {y}", kind="TIES", weight=int(w))
        for x, y, w in zip(ca[keep].tolist(), cb[keep].tolist(), counts[keep].tolist(), strict=True)
    ]
    total = int(np.count_nonzero(size))
    return ExplorerView(
        view="map",
        title=_("map of circles: the {shown} largest of {total}", shown=len(nodes), total=total),
        showing=len(nodes),
        total=total,
        truncated=len(nodes) < total,
        note=_("{small} circles of one or two users are left out", small=integer(small))
        if small
        else "",
        snapshot_id=prepared.snapshot.id,
        nodes=nodes,
        edges=edges,
    )
