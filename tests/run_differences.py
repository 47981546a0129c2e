"""How two runs of the product differ: answers, snapshots and tables
compared with the keys that only name a run left out (the Neo4j and the
embedded store's runs in tests/test_neo4j_end_to_end.py)."""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import Any

import pyarrow as pa

from graph.store import SavedSnapshot

# Keys that name a run rather than describe the data: snapshot ids and times.
VOLATILE = {
    "id",
    "snapshot_id",
    "computed_at",
    "stage_seconds",
    "save_seconds",
    "store",
    "seconds",
    "quarantine",
}


def differences(a: Any, b: Any, path: str = "", volatile: set[str] = VOLATILE) -> list[str]:
    """Where b differs from a (floats within 1e-9), as 'path: a != b' lines."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for key in sorted(set(a) | set(b), key=str):
            if key in volatile:
                continue
            if key not in a or key not in b:
                out.append(f"{path}.{key}: only in {'neo4j' if key in b else 'embedded'}")
            else:
                out += differences(a[key], b[key], f"{path}.{key}", volatile)
        return out
    if isinstance(a, list) and isinstance(b, list):
        if a != b and _canonical(a) == _canonical(b):
            return [f"{path}: the same items in another order: {_names(a)} != {_names(b)}"]
        out = [f"{path}: {len(a)} items != {len(b)}"] if len(a) != len(b) else []
        for i, (x, y) in enumerate(zip(a, b, strict=False)):
            out += differences(x, y, f"{path}[{i}]", volatile)
        return out[:20]
    if _same_value(a, b):
        return []
    return [f"{path}: {a!r} != {b!r}"]


def _canonical(items: list) -> list[str]:
    return sorted(json.dumps(x, sort_keys=True, default=str) for x in items)


def _names(items: list) -> list:
    """Items by what names them (a rule, an id), for a message."""
    names = []
    for x in items[:8]:
        named = isinstance(x, dict) and next(
            (x[k] for k in ("rule", "user_id", "id") if k in x), None
        )
        names.append(named or x)
    return names


def _same_value(a: Any, b: Any) -> bool:
    numbers = isinstance(a, float | int) and isinstance(b, float | int)
    if numbers and (isinstance(a, float) or isinstance(b, float)):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    if isinstance(a, datetime) and isinstance(b, datetime):
        return a == b
    return a == b and type(a) is type(b)


def without_snapshot_name(answer: dict) -> dict:
    """A ranking's source names its snapshot ('snapshot 2a22c824, 2026-…'):
    keep only whether it is live or from a snapshot."""
    if "source" not in answer:
        return answer
    return {**answer, "source": answer["source"].split()[0]}


def without_positions(view: dict) -> dict:
    nodes = [{**n, "x": None, "y": None} for n in view["nodes"]]
    edges = sorted(view["edges"], key=lambda e: (e["source"], e["target"], e["kind"]))
    return {**view, "nodes": nodes, "edges": edges}


def keyed_flags(snapshot: SavedSnapshot) -> pa.Table:
    """The snapshot's flags keyed user/rule, in key order (the order a store
    keeps them in is compared where users see it: `koc flags`, the API)."""
    flags = snapshot.flags
    assert flags is not None
    users, rules = flags["user_id"].to_pylist(), flags["rule"].to_pylist()
    keys = [f"{u}/{r}" for u, r in zip(users, rules, strict=True)]
    return flags.append_column("key", pa.array(keys)).sort_by("key")


def table_differences(a: pa.Table, b: pa.Table, key: str) -> list[str]:
    """Per column, how many rows differ and the first of them."""
    out = []
    if a.schema.names != b.schema.names:
        out.append(f"columns: {a.schema.names} != {b.schema.names}")
    ka, kb = a[key].to_pylist(), b[key].to_pylist()
    if ka != kb:
        only_a, only_b = sorted(set(ka) - set(kb), key=str), sorted(set(kb) - set(ka), key=str)
        out.append(
            f"{key}: {len(ka)} rows != {len(kb)}; only embedded {only_a[:3]}, only neo4j "
            f"{only_b[:3]}" + ("; same keys, other order" if not only_a and not only_b else "")
        )
        return out
    for name in a.schema.names:
        if name == key or name not in b.schema.names:
            continue
        xs, ys = a[name].to_pylist(), b[name].to_pylist()
        wrong = [i for i, (x, y) in enumerate(zip(xs, ys, strict=True)) if not _same_value(x, y)]
        if wrong:
            i = wrong[0]
            out.append(
                f"{name}: {len(wrong)} of {len(xs)} rows differ, first {key}={ka[i]!r}: "
                f"embedded {xs[i]!r}, neo4j {ys[i]!r}"
            )
    return out
