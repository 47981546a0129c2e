// The explorer's leaderboards (top KOCs, top referrers, users to review)
// and its search by name or id (static/explorer.js draws the graph).
"use strict";

// The leaderboards' columns: a heading, and the cell of a row.
const BOARDS = {
  kocs: [
    [_("KOC"), (r) => nameCell(r.name, r.user_id)],
    [_("Score"), (r) => fmt.number(r.koc_score, 1)],
    [_("Invites"), (r) => fmt.count(r.invites)],
    [_("Reach"), (r) => fmt.count(r.reach)],
  ],
  referrers: [
    [_("Referrer"), (r) => nameCell(r.name, r.id)],
    [_("Effective"), (r) => fmt.count(r.effective_invites)],
    [_("Invites"), (r) => fmt.count(r.invites)],
    [_("Reach"), (r) => (r.reach === null || r.reach === undefined ? "-" : fmt.count(r.reach))],
  ],
  review: [
    [_("Flagged user"), (r) => nameCell(r.name, r.user_id)],
    [_("Risk"), (r) => fmt.number(r.risk, 0)],
    [_("Rules"), (r) => r.flags.map((f) => f.label || f.rule).join(LANG === "zh" ? "、" : ", ")],
  ],
};
const BOARD_TABS = { kocs: "tab-kocs", referrers: "tab-referrers", review: "tab-review" };

function nameCell(name, id) {
  const td = el("td", name || id, "who");
  td.title = id;
  return td;
}

// The day after a YYYY-MM-DD day: the "To" day is included, the API's
// `until` is not.
function dayAfter(day) {
  const d = new Date(`${day}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + 1);
  return d.toISOString().slice(0, 10);
}

async function boardRows() {
  if (state.board === "kocs") {
    const data = await api("/v1/kocs?k=20");
    return data.items.map((r) => [r.user_id, r]);
  }
  if (state.board === "review") {
    const data = await api("/v1/flags?status=pending&limit=20");
    return data.items.map((r) => [r.user_id, r]);
  }
  const q = new URLSearchParams({ by: "effective_invites", limit: "20" });
  if ($("campaign").value) q.append("campaign", $("campaign").value);
  if ($("since").value) q.set("since", $("since").value);
  if ($("until").value) q.set("until", dayAfter($("until").value));
  const data = await api(`/v1/referrers/top?${q}`);
  return data.items.map((r) => [r.id, r]);
}

function chooseBoard(board) {
  state.board = board;
  document.querySelectorAll(".tabs button").forEach((b) => b.classList.toggle("active", b.id === BOARD_TABS[board]));
  return loadBoard();
}

async function loadBoard() {
  const board = $("leaderboard");
  const columns = BOARDS[state.board];
  $("board-head").replaceChildren(
    ...columns.map(([heading], i) => el("th", heading, i ? "num" : "")),
  );
  board.replaceChildren(el("tr", null));
  board.firstChild.append(el("td", _("loading…"), "hint"));
  try {
    const rows = await boardRows();
    board.replaceChildren(
      ...rows.map(([id, r]) => {
        const tr = el("tr");
        tr.dataset.user = id;
        columns.forEach(([, cell], i) => {
          const value = cell(r);
          tr.append(value instanceof HTMLElement ? value : el("td", value, i ? "num" : ""));
        });
        tr.addEventListener("click", () => focusUser(id).catch(() => {}));
        return tr;
      }),
    );
  } catch (error) {
    const tr = el("tr");
    tr.append(el("td", error.message, "error"));
    board.replaceChildren(tr);
  }
}

// Users whose name or id matches `text` (GET /v1/users/search), or, on a
// server without that search, `text` taken as an id.
async function findUsers(text) {
  const response = await fetchWithKey(`/v1/users/search?${new URLSearchParams({ q: text })}`);
  if (response.status === 404 || response.status === 405) return [{ id: text, match: "id" }];
  const body = await response.json();
  if (!response.ok) throw new Error(body.detail || _("the server answered {status}", { status: response.status }));
  const found = Array.isArray(body) ? body : body.items || [];
  return found.map((u) => ({ id: u.id, name: u.name, match: u.match }));
}

async function search(text) {
  const list = $("matches");
  list.hidden = true;
  let found;
  try {
    found = await findUsers(text);
  } catch (error) {
    setStatus(error.message, true);
    return;
  }
  // The id itself, else the one user with exactly that name, else a choice.
  const named = found.filter((u) => u.match === "name");
  const exact = found.find((u) => u.match === "id") || (named.length === 1 ? named[0] : null);
  if (found.length === 1 || exact) {
    await focusUser((exact || found[0]).id);
    return;
  }
  if (!found.length) {
    setStatus(_("no user named {text} and no user with that id", { text }), true);
    return;
  }
  list.replaceChildren(
    ...found.map((u) => {
      const li = el("li", displayName(u));
      li.title = u.id;
      li.dataset.user = u.id;
      li.addEventListener("click", () => {
        list.hidden = true;
        focusUser(u.id).catch(() => {});
      });
      return li;
    }),
  );
  list.hidden = false;
  setStatus(_("{n} users match: choose one", { n: fmt.integer(found.length) }));
}
