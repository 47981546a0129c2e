"""The words `graph/` puts around its results, in the reader's language: the
stages an analysis goes through, the notes saved with a snapshot's score,
and where a ranking comes from.

Notes made while a command runs are `loaders.errors.Note`s and shown with
`api.i18n.note_text`; a saved snapshot keeps its score's notes in English
(`notes`) with their templates beside them (`note_messages`), which
`score_notes` reads back. Snapshots saved before the templates show their
notes in English.
"""

from __future__ import annotations

from api.i18n import N_, _, current_lang, ngettext, note_text, notes_text, translate
from api.i18n.formats import integer, moment
from graph.ranking import Ranking
from loaders.errors import Note

# An analysis's stages (`Snapshot.stage_seconds`, the progress it reports),
# by name: what each one computes.
STAGES = {
    "read": N_("reading the store"),
    "fraud": N_("fraud screening"),
    "referral": N_("referral counts"),
    "pagerank": N_("PageRank influence"),
    "core": N_("network core (k-core)"),
    "communities": N_("finding circles"),
    "betweenness": N_("betweenness centrality"),
    "components": N_("connected components"),
    "gds:project": N_("projecting the graph into GDS"),
    "gds:read": N_("reading results from GDS"),
    "bridging": N_("bridges between circles"),
    "recency": N_("recent activity"),
    "score": N_("weighted KOC score"),
    "learned": N_("learned KOC score"),
    "tables": N_("result tables"),
}
LIVE_COUNTS = "live counts"  # graph.ranking's source of a ranking by a live count


def stage_text(stage: str) -> str:
    """A stage in the reader's language. English keeps the stage's own name
    (as `stage_seconds`, the benchmarks and the docs write it); a stage that
    is a `Note` (the backtest's) is translated from it; an unknown one shows
    as it is."""
    if isinstance(stage, Note):
        return note_text(stage)
    label = STAGES.get(stage)
    return translate(label) if label is not None and current_lang() != "en" else stage


def score_notes(info: dict) -> list[str]:
    """The notes of a snapshot's score (`summary["score"]`) in the reader's
    language: from their templates (`note_messages`) when saved with them,
    else as they are (English, or Notes made in this process)."""
    notes = list(info.get("notes") or [])
    messages = info.get("note_messages")
    if isinstance(messages, list) and len(messages) == len(notes):
        try:
            return [note_text(Note.from_json(m)) for m in messages]
        except (AttributeError, IndexError, KeyError, TypeError, ValueError):
            return notes_text(notes)  # saved fields that do not fill their template
    return notes_text(notes)


def summary_in_words(summary: dict) -> dict:
    """A snapshot's summary with its score's notes in the reader's language
    (the templates stay beside them)."""
    score = summary.get("score")
    if not isinstance(score, dict) or not score.get("notes"):
        return summary
    return {**summary, "score": {**score, "notes": score_notes(score)}}


def source_text(ranking: Ranking, zone: str) -> str:
    """Where a ranking comes from, in the reader's language: live counts, or
    the snapshot (computed when, in `zone`), the window it was computed for
    and the ingest batches it has not seen yet."""
    origin = ranking.snapshot
    if origin is None:
        return _("live counts") if ranking.source == LIVE_COUNTS else note_text(ranking.source)
    window = origin.window
    parts = [_("snapshot {id}, {time}", id=origin.id, time=moment(origin.computed_at, zone))]
    if window.since:
        parts.append(_("since {time}", time=moment(window.since, zone)))
    if window.until:
        parts.append(_("until {time}", time=moment(window.until, zone)))
    if window.campaigns:
        parts.append(_("campaigns {names}", names=", ".join(window.campaigns)))
    if origin.behind:
        parts.append(
            ngettext(
                "{n} newer ingest batch not analysed yet",
                "{n} newer ingest batches not analysed yet",
                origin.behind,
                n=integer(origin.behind),
            )
        )
    return ("；" if current_lang() == "zh" else "; ").join(parts)
