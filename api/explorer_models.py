"""The explorer's views as the API answers them (GET /v1/explorer/view,
api.explorer): nodes with their places, edges, and what the view shows of
what; and the parameters that pick a view."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, Field

VIEWS = ("searchlight", "community", "ego", "tree", "map")
DEFAULT_LIMIT = 1500


class ViewNode(BaseModel):
    id: str
    name: str | None = Field(
        None,
        description="the user's latest name (viewer keys: mobile numbers masked); "
        "null in the map view",
    )
    x: float
    y: float
    community: int
    koc_score: float
    reach: int
    flagged: bool
    koc: bool = Field(description="one of the view's KOC picks")
    hop: int = Field(
        description="ties from the view's centre or nearest KOC (tree view: levels below the "
        "user, negative for its referrers above)"
    )
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
    note: str = Field("", description="what the view leaves out, in words")
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
    depth: int = 3  # tree view: levels below the user
