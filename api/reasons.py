"""Reasons in words, in the reader's language: why a KOC was picked, which
parts of its KOC score lift it, why fraud screening flagged a user.

graph/ keeps the facts (a `KocRow`'s counts, `graph.analysis.score.top_parts`,
a flag's rule and evidence); the words are made here, so the same pick reads
in Chinese or English. English is the source text and reads as the reasons
always have (`KOC score 87.1 (pagerank +20.1, reach +13.7); …`):

>>> from api.i18n import use_lang
>>> with use_lang("en"):
...     score_reason([("pagerank", 20.1), ("reach", 13.7)])
'pagerank +20.1, reach +13.7'
>>> with use_lang("zh"):
...     score_reason([("pagerank", 20.1), ("reach", 13.7)])
'PageRank 影响力 +20.1、覆盖人数 +13.7'

Points and the KOC score keep one decimal as Python rounds it (`f"{x:.1f}"`,
the same text in both languages); counts are `formats.integer`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict

import pyarrow as pa

from api.i18n import N_, _, current_lang, labelled, ngettext, notes_text
from api.i18n.formats import integer
from api.models import KocItem
from graph.analysis.kocs import KocList, KocRow
from graph.analysis.score import top_parts, top_parts_of

# Every part a KOC score may have (graph.analysis.snapshot_tables.SCORE_PARTS:
# the weighted score's signals, the learned score's baseline and features),
# as an operator reads it. The English is the part's own name, as the
# reasons have always shown it.
SCORE_PART_LABELS: dict[str, str] = {
    "baseline": N_("baseline"),
    "effective_invites": N_("effective_invites"),
    "reach": N_("reach"),
    "gmv": N_("gmv"),
    "pagerank": N_("pagerank"),
    "recent_invites": N_("recent_invites"),
    "bridging": N_("bridging"),
    "invites": N_("invites"),
    "kept_invites": N_("kept_invites"),
    "converted_invites": N_("converted_invites"),
    "churned_invites": N_("churned_invites"),
    "conversion_rate": N_("conversion_rate"),
    "depth": N_("depth"),
    "tier2": N_("tier2"),
    "tier3": N_("tier3"),
    "direct_gmv": N_("direct_gmv"),
    "core": N_("core"),
    "invites_7d": N_("invites_7d"),
    "invites_30d": N_("invites_30d"),
    "trend_14d": N_("trend_14d"),
    "days_since_last_referral": N_("days_since_last_referral"),
    "days_since_referred": N_("days_since_referred"),
    "own_amount": N_("own_amount"),
    "other_invites": N_("other_invites"),
    "tree_7d": N_("tree_7d"),
    "tree_30d": N_("tree_30d"),
    "tree_30d_near": N_("tree_30d_near"),
}

# The fraud rules (graph.analysis.fraud_rules.RULES) as an operator reads them.
RULE_LABELS: dict[str, str] = {
    "burst": N_("burst"),
    "burst_invitee": N_("burst_invitee"),
    "shared_device": N_("shared_device"),
    "dead_invitees": N_("dead_invitees"),
    "dead_invitee": N_("dead_invitee"),
    "ring": N_("ring"),
    "chain": N_("chain"),
}

# Between the items of a list, and between the clauses of a reason.
_ITEMS = {"zh": "、", "en": ", "}
_CLAUSES = {"zh": "；", "en": "; "}


def _items(texts: Iterable[str]) -> str:
    return _ITEMS[current_lang()].join(texts)


def _clauses(texts: Iterable[str]) -> str:
    return _CLAUSES[current_lang()].join(texts)


def part_label(part: str) -> str:
    """A score part's name for the reader (an unknown part as it is)."""
    return labelled(SCORE_PART_LABELS, part)


def rule_label(rule: str) -> str:
    """A fraud rule's name for the reader (an unknown rule as it is)."""
    return labelled(RULE_LABELS, rule)


def score_reason(parts: list[tuple[str, float]]) -> str:
    """The KOC score's top reason: its largest parts (`top_parts`) with
    their points, e.g. `pagerank +20.1, reach +13.7`; "" when none."""
    return _items(f"{part_label(name)} +{points:.1f}" for name, points in parts)


def reason_in_words(row: dict) -> str:
    """The top reason of a user's row of a snapshot's users."""
    return score_reason(top_parts(row))


def top_reasons(users: pa.Table) -> list[str]:
    """`reason_in_words` for every user of a snapshot's users table."""
    return [score_reason(parts) for parts in top_parts_of(users)]


def _lit(row: KocRow) -> str:
    """The users a pick lights first, by hop, and the communities they are in."""
    hops, n = row.new_by_hop, row.communities_lit
    users = integer(sum(hops))
    if len(hops) <= 1:
        return ngettext(
            "lights {users} new users in {n} community",
            "lights {users} new users in {n} communities",
            n,
            users=users,
        )
    by_hop = _items(
        ngettext("{users} at {n} hop", "{users} at {n} hops", h, users=integer(c))
        for h, c in enumerate(hops)
        if h and c
    )
    return ngettext(
        "lights {users} new users ({hops}) in {n} community",
        "lights {users} new users ({hops}) in {n} communities",
        n,
        users=users,
        hops=by_hop,
    )


def koc_reason(row: KocRow, strategy: str) -> str:
    """Why `row` was picked by `strategy` (coverage, influence or score)."""
    facts = _(
        "{invites} invites, reach {reach}, {conversions} conversions",
        invites=integer(row.invites),
        reach=integer(row.reach),
        conversions=integer(row.conversions),
    )
    if strategy == "coverage":
        return _clauses([_lit(row), facts])
    if strategy == "influence":
        added = _("adds ~{users} expected users to the cascade", users=integer(round(row.gain)))
        return _clauses([added, facts])
    score = f"{row.koc_score_exact:.1f}"
    parts = score_reason(row.score_parts)
    head = (
        _("KOC score {score} ({parts})", score=score, parts=parts)
        if parts
        else _("KOC score {score}", score=score)
    )
    if row.picked_as == "sharer":
        sharing = f"{row.sharing_score:.1f}"
        head = _(
            "sharer: expected to bring the most users itself (sharing score {sharing}); {head}",
            sharing=sharing,
            head=head,
        )
    elif row.picked_as == "tree":
        head = _("{head}; the top of its referral tree", head=head)
    return _clauses([head, facts, _lit(row)])


def shown_reason(row: KocRow, strategy: str) -> str:
    """`koc_reason`, saying so when the pick came after the community
    quotas ran out (tables and exports)."""
    reason = koc_reason(row, strategy)
    return _("{reason} [quota spill]", reason=reason) if row.quota_spill else reason


def koc_items(kocs: KocList, rows: list[KocRow] | None = None) -> list[KocItem]:
    """The rows of a KOC list (or `rows` of it) with their reasons."""
    strategy = kocs.params.strategy
    return [
        KocItem(**asdict(r), reason=koc_reason(r, strategy))
        for r in (kocs.rows if rows is None else rows)
    ]


def koc_list_json(kocs: KocList) -> dict:
    """`KocList.to_json` with each row's reason and the notes in words."""
    out = kocs.to_json()
    out["notes"] = notes_text(kocs.notes)
    for row, item in zip(out["rows"], kocs.rows, strict=True):
        row["reason"] = koc_reason(item, kocs.params.strategy)
    return out


def _burst(e: dict) -> str:
    minutes = f"{float(e['minutes']):.1f}"
    return _(
        "{joins} credited joins within {minutes} minutes, of users who never acted",
        joins=integer(e["joins"]),
        minutes=minutes,
    )


def _burst_invitee(e: dict) -> str:
    return _(
        "credited inside a burst of {joins} joins to one referrer; never acted",
        joins=integer(e["burst_joins"]),
    )


def _shared_device(e: dict) -> str:
    if "on_shared_devices" in e:  # a referrer most of whose invitees share devices
        return _(
            "{shared} of {invitees} invitees joined on shared devices",
            shared=integer(e["on_shared_devices"]),
            invitees=integer(e["invitees"]),
        )
    top = e["devices"][0]
    params = {"device": top["device"], "users": integer(top["users"])}
    if e.get("shared_with_referrer"):
        return _(
            "joined on device {device} shared by {users} users; same device as its referrer",
            **params,
        )
    return _("joined on device {device} shared by {users} users", **params)


def _dead_invitees(e: dict) -> str:
    return _(
        "{dead} of {invitees} invitees never acted, {churned} churned",
        dead=integer(e["never_acted"]),
        invitees=integer(e["invitees"]),
        churned=integer(e["churned"]),
    )


def _dead_invitee(e: dict) -> str:
    return _("never acted and churned, invited by a flagged referrer")


def _ring(e: dict) -> str:
    return _(
        "on a closed loop of invitations among {users} users, "
        "{idle} of whom never acted beyond their inviter's circle",
        users=integer(e["loop_users"]),
        idle=integer(e["never_acted"]),
    )


def _chain(e: dict) -> str:
    return _(
        "on a chain of {referrals} referrals where each user referred exactly one",
        referrals=integer(e["chain_referrals"]),
    )


# Per rule: its reason from its evidence (graph.analysis.fraud_signals, fraud_shapes).
FLAG_REASONS: dict[str, Callable[[dict], str]] = {
    "burst": _burst,
    "burst_invitee": _burst_invitee,
    "shared_device": _shared_device,
    "dead_invitees": _dead_invitees,
    "dead_invitee": _dead_invitee,
    "ring": _ring,
    "chain": _chain,
}


def flag_reason(rule: str, evidence: dict, stored: str = "") -> str:
    """Why a rule flagged a user, told from the flag's evidence in the
    reader's language; the reason the snapshot stored (English) when the
    evidence lacks what the words need (a flag written by an older
    Searchlight, or by hand)."""
    words = FLAG_REASONS.get(rule)
    if words is None:
        return stored
    try:
        return words(evidence)
    except (KeyError, IndexError, TypeError, ValueError):
        return stored


def flags_in_words(flags: list[dict]) -> list[dict]:
    """Flags (rule, reason, evidence) with their rule's name (`label`) and
    their reasons in the reader's language."""
    return [
        {
            **f,
            "label": rule_label(f["rule"]),
            "reason": flag_reason(f["rule"], f.get("evidence") or {}, f.get("reason") or ""),
        }
        for f in flags
    ]


def rules_in_words(rules: Iterable[str]) -> str:
    """Fraud rules' names for the reader, as a list."""
    return _items(rule_label(r) for r in rules)


def flag_reasons(flags: list[dict]) -> str:
    """Every flag's reason (`flags_in_words`), one clause each."""
    return _clauses(f["reason"] for f in flags_in_words(flags))
