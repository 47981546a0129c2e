// The explorer's details panel: one user's numbers, score parts, chain,
// flags and review, in the reader's language (static/explorer.js draws the
// graph; names and ids only ever go in as text).
"use strict";

function row(dl, term, value, title) {
  const dd = el("dd", value);
  if (title) dd.title = title;
  dl.append(el("dt", term), dd);
}

// The user's numbers shown in the details, as an operator reads them.
const METRICS = [
  ["invites", _("Invites"), (v) => fmt.count(v)],
  ["effective_invites", _("Effective invites"), (v) => fmt.count(v)],
  ["reach", _("Reach (users brought, all tiers)"), (v) => fmt.count(v)],
  ["converted_invites", _("Converted invitees"), (v) => fmt.count(v)],
  ["gmv", _("GMV of the tree"), (v) => fmt.money(v)],
  ["pagerank", _("PageRank"), (v) => new Intl.NumberFormat(LOCALE, { maximumSignificantDigits: 3 }).format(v)],
  ["bridging", _("Bridging between circles"), (v) => fmt.number(v, 2)],
];
const REVIEWS = { approved: _("approved"), declined: _("declined") };

// A time from the API in the deployment's zone; "-" for none.
function when(iso) {
  return iso ? fmt.moment(iso) : "-";
}

// The user's chain of referrers, nearest first, with their names.
function chainOf(user) {
  const names = user.chain_names || [];
  return user.chain.map((id, i) => ({ id, name: names[i] }));
}

function whoLink(user) {
  const a = el("a", displayName(user), "who");
  a.href = `?user=${encodeURIComponent(user.id)}`;
  a.title = user.id;
  a.addEventListener("click", (e) => {
    e.preventDefault();
    focusUser(user.id).catch(() => {});
  });
  return a;
}

async function showDetails(id) {
  state.selected = id;
  const panel = $("details");
  panel.replaceChildren(el("h2", _("Details")), el("p", _("loading…"), "hint"));
  let user;
  try {
    user = await api(`/v1/users/${encodeURIComponent(id)}`);
  } catch (error) {
    panel.replaceChildren(el("h2", _("Details")), el("p", error.message, "error"));
    return;
  }
  const head = el("h2", displayName(user));
  head.id = "details-name";
  const uid = el("p", user.id, "uid");
  uid.id = "details-id";
  const dl = el("dl");
  row(dl, _("KOC score"), user.koc_score === null ? _("not analysed yet") : fmt.number(user.koc_score, 1));
  // A learned score's second answer: who will bring the most users themselves
  // (0 for everyone under a weighted score, so then not shown).
  const sharing = user.metrics ? user.metrics.sharing_score : null;
  if (typeof sharing === "number" && sharing > 0) {
    row(dl, _("Sharing score (own invites next)"), fmt.number(sharing, 1));
  }
  row(dl, _("Top reason"), user.top_reason || "-");
  row(dl, _("Circle"), user.community === null ? "-" : circleName(user.community));
  if (user.metrics) {
    for (const [key, label, show] of METRICS) {
      if (typeof user.metrics[key] === "number") row(dl, label, show(user.metrics[key]));
    }
  }
  row(dl, _("Joined"), when(user.joined_at), user.joined_at || "");
  if (user.converted_at) row(dl, _("Converted"), when(user.converted_at), user.converted_at);
  if (user.churned_at) row(dl, _("Churned"), when(user.churned_at), user.churned_at);
  const chain = el("section");
  chain.append(el("h2", _("Referral chain to the root")));
  const links = el("ol", null, "chain");
  links.id = "details-chain";
  chainOf(user).forEach((c) => {
    const li = el("li");
    li.append(whoLink(c));
    links.append(li);
  });
  chain.append(user.chain.length ? links : el("p", _("no referrer: joined on their own"), "hint"));
  panel.replaceChildren(head, uid, dl, scoreExplanation(user), chain, flagsSection(user));
  if (user.flagged) panel.append(reviewForm(user.id));
}

function flagsSection(user) {
  const flags = el("section");
  flags.id = "details-flags";
  flags.append(
    el("h2", user.flagged ? _("Flags (risk {risk})", { risk: fmt.number(user.risk, 0) }) : _("Flags: none")),
  );
  user.flags.forEach((f) => {
    const box = el("div", null, "flag");
    const evidence = el("details");
    evidence.append(el("summary", _("Evidence (raw data)")), el("pre", JSON.stringify(f.evidence, null, 1)));
    box.append(el("strong", f.label || f.rule), el("div", f.reason), evidence);
    flags.append(box);
  });
  if (user.review) {
    const r = user.review;
    flags.append(
      el(
        "p",
        _("Review: {status} by {reviewer} on {when}: {note}", {
          status: REVIEWS[r.status] || r.status,
          reviewer: r.reviewer,
          when: when(r.reviewed_at),
          note: r.note,
        }),
      ),
    );
  }
  return flags;
}

function signed(points) {
  // U+2212, the minus sign, so a negative part reads as one.
  return `${points < 0 ? "\u2212" : "+"}${fmt.number(Math.abs(points), 1)}`;
}

// A score part as the API names it in the reader's language.
function partLabel(part) {
  return part.label || part.signal.replace(/_/g, " ");
}

function scoreExplanation(user) {
  // Weighted: each signal's points and weight. Learned: the baseline (the
  // same for everyone), then each feature's contribution with its sign,
  // largest first; they add up to the KOC score (docs/koc-score.md).
  const section = el("section");
  section.id = "score-explanation";
  section.append(el("h2", _("Why this score")));
  const list = el("ul");
  if (user.score_kind === "learned") {
    section.append(
      el(
        "p",
        user.score_horizon_days === null
          ? _("Learned score: predicts what the user brings next")
          : _("Learned score: predicts the next {days} days", { days: fmt.integer(user.score_horizon_days) }),
        "hint",
      ),
    );
    if (user.score_baseline !== null) {
      list.append(
        el("li", _("baseline: {points} (the same for everyone)", { points: fmt.number(user.score_baseline, 1) })),
      );
    }
    // Parts that round to 0.0 are counted, not listed.
    const moved = user.score.filter((p) => Math.abs(p.points) >= 0.05);
    moved.forEach((p) => list.append(el("li", `${partLabel(p)}: ${signed(p.points)}`)));
    const still = user.score.length - moved.length;
    if (still) list.append(el("li", _("{n} other features: about 0", { n: fmt.integer(still) }), "hint"));
  } else {
    user.score.forEach((p) =>
      list.append(
        el(
          "li",
          _("{part}: {points} (weight {weight})", {
            part: partLabel(p),
            points: signed(p.points),
            weight: fmt.number(p.weight, 2),
          }),
        ),
      ),
    );
  }
  section.append(list);
  return section;
}

function reviewForm(id) {
  const form = el("form", null, "review");
  form.append(el("h2", _("Review (admins)")));
  const note = el("textarea");
  note.placeholder = _("why (required)");
  const who = el("input");
  who.placeholder = _("your name");
  const approve = el("button", _("Approve"));
  const decline = el("button", _("Decline"));
  const said = el("p");
  form.append(note, who, approve, decline, said);
  const send = async (decision) => {
    try {
      const done = await api(`/v1/flags/${encodeURIComponent(id)}/review`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ decision, note: note.value, reviewer: who.value }),
      });
      said.textContent = _("{status} by {reviewer}", {
        status: REVIEWS[done.status] || done.status,
        reviewer: done.reviewer,
      });
      said.className = "";
    } catch (error) {
      said.textContent = error.message;
      said.className = "error";
    }
  };
  approve.addEventListener("click", (e) => {
    e.preventDefault();
    send("approve");
  });
  decline.addEventListener("click", (e) => {
    e.preventDefault();
    send("decline");
  });
  return form;
}
