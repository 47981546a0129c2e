"""`koc generate`: a synthetic campaign, or a real network's edge list, as events.

Registered on `api.cli.app` when that module loads (it imports this one last).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from api.cli import JsonOption, _errors, _fail, _not_one_of, app, out
from api.i18n import N_, _, labelled
from api.i18n.formats import integer
from loaders.edges import NetworkTruth, detect_kind, events_from_edges, summarise
from loaders.generator import FORMATS, SHAPES, generate_campaign, write_campaign


@app.command(
    help=_(
        "Generate a realistic synthetic fission campaign, or convert a real network.\n\n"
        "The planted ground truth (KOCs, farm accounts) goes to a sidecar .truth.json file, "
        "never into the events. --shape steady reproduces the first model byte for byte "
        "(docs/ingest.md, 'Generated campaigns'). With --from-edges the sidecar says nothing "
        "is planted (empty lists, the source and its kind); see docs/ingest.md, 'Real "
        "networks as events'."
    )
)
def generate(
    users: Annotated[
        int | None, typer.Option("--users", min=50, help=_("joined users to simulate"))
    ] = None,
    from_edges: Annotated[
        Path | None,
        typer.Option(
            "--from-edges",
            help=_("convert a real network's edge list ('a b' or 'src dst unix_time') instead"),
        ),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help=_("same seed, same output"))] = 0,
    shape: Annotated[
        str,
        typer.Option(
            "--shape",
            help=_(
                "realistic (campaign waves, weekday and hour rhythm, sharers who burst and "
                "fade, influence down the tree, returning users, nicknames) or steady (the "
                "first model: constant share rates, no names; reproduces recorded "
                "benchmarks); --users only"
            ),
        ),
    ] = "realistic",
    invite_back: Annotated[
        bool,
        typer.Option(
            "--invite-back/--no-invite-back",
            help=_("--from-edges: keep invites to earlier-joined users (friends inviting back)"),
        ),
    ] = True,
    out_path: Annotated[
        Path | None,
        typer.Option("--out", help=_("output file (default data/generated/events.FORMAT)")),
    ] = None,
    fmt: Annotated[
        str | None,
        typer.Option("--format", help=_("csv, parquet or jsonl (default: from --out, else csv)")),
    ] = None,
    json_: JsonOption = False,
) -> None:
    """A synthetic campaign with its planted truth in a sidecar, or a real
    network's edge list as events (docs/ingest.md)."""
    if (users is None) == (from_edges is None):
        raise _fail(
            _("give --users N (a synthetic campaign) or --from-edges PATH (a real network)")
            if users is None
            else _("give --users N or --from-edges PATH, not both")
        )
    fmt = fmt or _format_of(out_path)
    if fmt not in FORMATS:
        raise _fail(_not_one_of("--format", fmt, FORMATS))
    if shape not in SHAPES:
        raise _fail(_not_one_of("--shape", shape, SHAPES))
    target = out_path or Path("data/generated") / f"events.{fmt}"
    if from_edges is not None:
        with _errors():
            table = events_from_edges(from_edges, seed=seed, invite_back=invite_back)
            kind = detect_kind(from_edges)
        counts = summarise(table)
        users = counts["users"]
        truth = NetworkTruth(seed=seed, users=users, source=str(from_edges), kind=kind)
    else:
        table, truth = generate_campaign(users=users, seed=seed, shape=shape)
    truth_path = write_campaign(table, truth, target, fmt)
    summary = {
        "out": str(target),
        "format": fmt,
        "events": table.num_rows,
        "users": users,
        "seed": seed,
        "truth": str(truth_path),
        "planted_kocs": len(truth.planted_kocs),
        "farm_accounts": len(truth.farm_accounts),
    }
    if from_edges is not None:
        summary.update(source=str(from_edges), kind=kind, **counts)
    else:
        summary["shape"] = shape
    if json_:
        typer.echo(json.dumps(summary))
    else:
        out.print(_generated_text(summary), markup=False, highlight=False)


def _format_of(out_path: Path | None) -> str:
    """The file format `--out`'s suffix names; csv for none."""
    suffix = out_path.suffix.lstrip(".").lower() if out_path else ""
    return {"csv": "csv", "parquet": "parquet", "jsonl": "jsonl", "ndjson": "jsonl"}.get(
        suffix, "csv"
    )


# The campaign shapes for a person (loaders.generator.SHAPES).
SHAPE_LABELS = {"realistic": N_("realistic"), "steady": N_("steady")}


def _generated_text(summary: dict) -> str:
    """What `koc generate` wrote (its JSON summary), for a person."""
    if "source" in summary:
        return _(
            "wrote {events} events for {users} users ({referred} referred, {organic} "
            "organic, {invites} invites) from {source} ({kind}) to {out} (nothing "
            "planted: {truth})",
            events=integer(summary["events"]),
            users=integer(summary["users"]),
            referred=integer(summary["referred"]),
            organic=integer(summary["organic"]),
            invites=integer(summary["invites"]),
            source=summary["source"],
            kind=summary["kind"],
            out=summary["out"],
            truth=summary["truth"],
        )
    return _(
        "wrote {events} events for {users} users ({shape} shape) to {out} (ground truth: {truth})",
        events=integer(summary["events"]),
        users=integer(summary["users"]),
        shape=labelled(SHAPE_LABELS, summary["shape"]),
        out=summary["out"],
        truth=summary["truth"],
    )
