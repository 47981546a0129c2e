"""What several `koc` commands share: the time window, KOC-pick and score
options, their parsing, and the spinner of a long step."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer
from rich.markup import escape

from api.cli import _fail, _not_one_of, err
from api.i18n import _
from graph.analysis.kocs import STRATEGIES
from graph.analysis.snapshot_tables import SCORE_KINDS

StrategyOption = Annotated[
    str,
    typer.Option("--strategy", help=_("one of: {choices}", choices=", ".join(STRATEGIES))),
]
KOption = Annotated[int, typer.Option("--k", min=1, max=10_000, help=_("how many KOCs"))]
SharersOption = Annotated[
    float,
    typer.Option(
        "--sharers",
        min=0.0,
        max=1.0,
        help=_(
            "score with a learned score: the share of k picked as sharers, the users "
            "expected to bring the most users themselves; the rest are the roots of "
            "the trees expected to grow most"
        ),
    ),
]
SinceOption = Annotated[
    str | None, typer.Option("--since", help=_("from this date/time (inclusive)"))
]
UntilOption = Annotated[
    str | None, typer.Option("--until", help=_("up to this date/time (exclusive)"))
]
CampaignsOption = Annotated[
    list[str] | None, typer.Option("--campaign", help=_("only these campaigns (repeatable)"))
]
ScoreOption = Annotated[
    str | None,
    typer.Option(
        "--score",
        help=_(
            "the KOC score: {choices} (docs/koc-score.md); default KOC_SCORE",
            choices=" | ".join(SCORE_KINDS),
        ),
    ),
]


def user_cell(user_id: str, names: dict[str, str]) -> str:
    """A user in a table as operators know them: the name (the store's
    latest `invitee_name`), with the id below it, dimmed (`koc review` and
    the API take the id); the id alone for a user nobody named."""
    name = names.get(user_id)
    return f"{escape(name)}\n[dim]{escape(user_id)}[/]" if name else escape(user_id)


def score_kind(score: str | None, default: str) -> str:
    """`--score`'s value, or `default` (KOC_SCORE) without it."""
    kind = score or default
    if kind not in SCORE_KINDS:
        raise _fail(_not_one_of("--score", kind, SCORE_KINDS))
    return kind


def parse_time(text: str | None, zone: str, option: str) -> datetime | None:
    """A date or ISO time; naive values are in the configured zone."""
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise _fail(
            _(
                "{option} {value!r} is not a date (YYYY-MM-DD) or ISO time",
                option=option,
                value=text,
            )
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=ZoneInfo(zone))


@contextmanager
def spinner(text: str, *, quiet: bool) -> Iterator[Any]:
    """A spinner saying `text` on a terminal (its status, to update), else None."""
    if quiet or not sys.stderr.isatty():
        yield None
        return
    with err.status(text, spinner="dots") as status:
        yield status
