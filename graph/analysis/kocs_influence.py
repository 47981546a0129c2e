"""The influence strategy's picks (`koc kocs --strategy influence`), by
either engine: IMM in Python (`graph.analysis.influence`) over the learned
tie probabilities, or GDS's CELF inside Neo4j (`graph.neo4j_gds.gds_celf`)
with one probability for every tie, its picks' spread checked by our
Monte-Carlo under both. See docs/analysis.md, "Two engines"."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from graph.analysis.influence import influence_maximisation, simulate_spread
from graph.analysis.snapshot import AnalysisParams
from graph.analysis.tie_models import tie_probabilities
from graph.store import Store
from loaders.errors import Note

if TYPE_CHECKING:
    from graph.analysis.kocs import KocParams, SnapshotGraph


def influence_picks(
    store: Store,
    prepared: SnapshotGraph,
    eligible: np.ndarray,
    params: KocParams,
    notes: list[str],
) -> tuple[list[int], list[float], dict | None]:
    """Seeds, their gains and the spread check, by IMM here or CELF in GDS,
    among `eligible` (the users `params.candidates` allows)."""
    if not eligible.any():
        notes.append(
            Note(
                "nobody to pick: no user is a candidate (eligible users are not flagged, "
                "not churned and have invited someone; --candidates all allows everyone)"
            )
        )
        return [], [], None
    graph, n = prepared.graph, prepared.graph.n
    ties = tie_probabilities(
        params.model, graph.parent, graph.tie_src, graph.tie_dst, graph.converted
    )
    if params.engine == "gds":
        return _celf_picks(store, prepared, eligible, params, notes, ties)
    src, dst, p = ties
    community = prepared.metrics["community"]
    result = influence_maximisation(
        n,
        src,
        dst,
        p,
        eligible,
        params.k,
        community=community if params.quota == "community" else None,
        epsilon=params.epsilon,
        seed=params.seed,
        simulations=params.simulations,
    )
    spread = {
        "engine": "searchlight",
        "model": params.model,
        "estimate": result.spread,
        "monte_carlo_mean": result.mc_mean,
        "monte_carlo_95": [result.mc_low, result.mc_high],
        "simulations": result.simulations,
        "rr_sets": result.rr_sets,
        "epsilon": result.epsilon,
        "capped": result.capped,
    }
    if result.capped:
        notes.append(
            Note(
                "IMM stopped at {sets:,} reverse-reachable sets (a cap on their "
                "number or memory): the (1 - 1/e - ε) guarantee does not hold for this run",
                sets=result.rr_sets,
            )
        )
    return result.seeds, [pick.gain for pick in result.picks], spread


def _celf_picks(
    store: Store,
    prepared: SnapshotGraph,
    eligible: np.ndarray,
    params: KocParams,
    notes: list[str],
    ties: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> tuple[list[int], list[float], dict]:
    """CELF in GDS, with one probability for every tie (the mean of the
    model's), its picks' spread checked by our Monte-Carlo under the model
    and under that one probability."""
    from graph.neo4j_gds import gds_celf, open_session

    src, dst, p = ties
    n = prepared.graph.n
    uniform = float(p.mean()) if p.size else 0.0
    window = AnalysisParams.from_json(prepared.snapshot.params).window
    celf = gds_celf(
        open_session(store),
        window,
        prepared.graph.ids,
        eligible,
        params.k,
        uniform,
        simulations=params.simulations,
        seed=params.seed,
    )
    learned = simulate_spread(n, src, dst, p, celf.seeds, params.simulations, params.seed + 1)
    flat = simulate_spread(
        n, src, dst, np.full(len(p), uniform), celf.seeds, params.simulations, params.seed + 1
    )
    if not params.model.startswith("uniform"):
        notes.append(
            Note(
                "GDS's CELF takes one probability for every tie, not the learned ones: it "
                "ran with p = {p:.4f}, their mean. The spread is Searchlight's "
                "Monte-Carlo check of its picks under the learned probabilities "
                "({spread:,.1f} under p).",
                p=uniform,
                spread=flat[0],
            )
        )
    if celf.skipped:
        notes.append(
            Note(
                "CELF cannot be told who is eligible: {skipped} of its picks "
                "(flagged, churned, without invites or excluded) were left out",
                skipped=celf.skipped,
            )
        )
    spread = {
        "engine": "gds",
        "model": params.model,
        "estimate": float(sum(celf.gains)),
        "monte_carlo_mean": learned[0],
        "monte_carlo_95": [learned[1], learned[2]],
        "uniform_probability": uniform,
        "uniform_monte_carlo_mean": flat[0],
        "uniform_monte_carlo_95": [flat[1], flat[2]],
        "simulations": params.simulations,
    }
    return celf.seeds, celf.gains, spread
