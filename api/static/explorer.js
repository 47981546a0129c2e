// The Searchlight explorer. Data comes from the API with the operator's key;
// text from user data is only ever set with textContent, never as HTML.
"use strict";

const state = {
  key: sessionStorage.getItem("searchlight-key") || "",
  board: "kocs",
  view: null,
  selected: null,
};
const $ = (id) => document.getElementById(id);
const nodes = new vis.DataSet();
const edges = new vis.DataSet();
let network = null;

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

function setStatus(text, isError) {
  const s = $("status");
  s.textContent = text;
  s.className = isError ? "error" : "";
}

async function api(path, options = {}) {
  const headers = Object.assign({}, options.headers || {});
  if (state.key) headers["X-API-Key"] = state.key;
  const response = await fetch(path, Object.assign({}, options, { headers }));
  if (response.status === 401) {
    $("key-form").hidden = false;
    throw new Error("an API key is needed: enter it above");
  }
  const body = await response.json();
  if (!response.ok) throw new Error(body.detail || response.statusText);
  return body;
}

function colour(community) {
  const hue = (community * 137.508) % 360; // golden angle: neighbours differ
  return `hsl(${hue.toFixed(0)}, 62%, 55%)`;
}

function tooltip(node) {
  // A DOM element: vis-network shows it as is, so ids stay text.
  const tip = el("div", null, "tip");
  tip.textContent =
    `${node.id}\nKOC score ${node.koc_score.toFixed(2)}, reach ${node.reach}` +
    (node.reason ? `\n${node.reason}` : "") +
    (node.flagged ? "\nflagged by fraud screening" : "");
  return tip;
}

function visNode(node, sizeBy) {
  const value = sizeBy === "reach" ? Math.log2(2 + node.reach) * 3 : 4 + node.koc_score / 6;
  return {
    id: node.id,
    x: node.x,
    y: node.y,
    size: state.view && state.view.view === "map" ? 6 + Math.sqrt(node.size) : value,
    label: state.view && state.view.nodes.length <= 150 ? node.id : undefined,
    shape: node.flagged ? "diamond" : "dot",
    borderWidth: node.koc ? 5 : 1,
    color: {
      background: colour(node.community),
      border: node.koc ? "#111111" : node.flagged ? "#d62828" : "#ffffff",
      highlight: { background: colour(node.community), border: "#000000" },
    },
    title: tooltip(node),
    raw: node,
  };
}

function visEdge(edge) {
  return {
    id: `${edge.kind}:${edge.source}->${edge.target}`,
    from: edge.source,
    to: edge.target,
    arrows: edge.kind === "TIES" ? undefined : "to",
    dashes: edge.kind === "INVITED",
    width: edge.kind === "TIES" ? Math.min(1 + Math.log2(edge.weight), 8) : 1,
    color: { color: edge.kind === "REFERRED" ? "#5b6472" : "#a9b1bd", opacity: 0.8 },
  };
}

function draw(view) {
  state.view = view;
  const sizeBy = $("size-by").value;
  nodes.clear();
  edges.clear();
  nodes.add(view.nodes.map((n) => visNode(n, sizeBy)));
  edges.add(view.edges.map(visEdge));
  document.body.dataset.view = view.view;
  document.body.dataset.nodes = String(view.showing);
  setStatus(`${view.title}: showing ${view.showing.toLocaleString()} of ${view.total.toLocaleString()}`);
  network.fit({ animation: false });
}

function viewQuery(view, extra) {
  const q = new URLSearchParams(Object.assign({ view }, extra));
  q.set("min_score", $("min-score").value || "0");
  q.set("show_flagged", $("show-flagged").checked ? "true" : "false");
  return q;
}

async function loadView(view, extra = {}) {
  setStatus("loading…");
  try {
    // Marks for bench/explorer_page.py: where the time to a drawn view goes.
    performance.mark("view-requested");
    const data = await api(`/v1/explorer/view?${viewQuery(view, extra)}`);
    performance.mark("view-received");
    network.once("afterDrawing", () => performance.mark("view-painted"));
    draw(data);
    performance.mark("view-added");
    return data;
  } catch (error) {
    setStatus(error.message, true);
    throw error;
  }
}

async function focusUser(id) {
  await loadView("ego", { user_id: id, hops: 2, limit: 300 });
  if (nodes.get(id)) {
    network.selectNodes([id]);
    network.focus(id, { scale: 1.2, animation: false });
  }
  await showDetails(id);
}

async function expand(id) {
  const around = await api(`/v1/users/${encodeURIComponent(id)}/network?hops=1&limit=200`);
  const centre = network.getPositions([id])[id] || { x: 0, y: 0 };
  const fresh = around.nodes.filter((n) => !nodes.get(n.id));
  fresh.forEach((n, i) => {
    const angle = (2 * Math.PI * i) / Math.max(fresh.length, 1);
    const node = {
      id: n.id,
      x: centre.x + 80 * Math.cos(angle),
      y: centre.y + 80 * Math.sin(angle),
      community: n.community === null ? 0 : n.community,
      koc_score: n.koc_score || 0,
      reach: 0,
      flagged: n.flagged,
      koc: false,
      size: 1,
      reason: "",
    };
    nodes.add(visNode(node, $("size-by").value));
  });
  const known = new Set(edges.getIds());
  edges.add(
    around.ties
      .map((t) => visEdge({ source: t.source, target: t.target, kind: t.kind }))
      .filter((e) => !known.has(e.id))
  );
  document.body.dataset.nodes = String(nodes.length);
  setStatus(`expanded ${id}: ${fresh.length} more users, ${nodes.length} shown`);
  return fresh.length;
}

function fmt(value) {
  if (typeof value !== "number" || Number.isInteger(value)) return value;
  return Math.abs(value) >= 1 ? value.toLocaleString(undefined, { maximumFractionDigits: 2 }) : value.toPrecision(3);
}

function row(dl, term, value) {
  dl.append(el("dt", term), el("dd", fmt(value)));
}

async function showDetails(id) {
  state.selected = id;
  const panel = $("details");
  panel.replaceChildren(el("h2", "Details"), el("p", "loading…", "hint"));
  let user;
  try {
    user = await api(`/v1/users/${encodeURIComponent(id)}`);
  } catch (error) {
    panel.replaceChildren(el("h2", "Details"), el("p", error.message, "error"));
    return;
  }
  const head = el("h2", user.id);
  head.id = "details-id";
  const dl = el("dl");
  row(dl, "KOC score", user.koc_score === null ? "not analysed" : user.koc_score.toFixed(2));
  row(dl, "top reason", user.top_reason || "-");
  row(dl, "community", user.community === null ? "-" : user.community);
  if (user.metrics) {
    for (const key of ["invites", "effective_invites", "reach", "converted_invites", "gmv", "pagerank", "bridging"]) {
      row(dl, key.replace(/_/g, " "), user.metrics[key]);
    }
  }
  row(dl, "joined", user.joined_at || "-");
  row(dl, "referred by", user.referred_by || "-");
  const parts = scoreExplanation(user);
  const chain = el("section");
  chain.append(el("h2", "Referral chain to the root"));
  chain.append(el("p", [user.id, ...user.chain].join(" ← ") || "-", "chain"));
  const flags = el("section");
  flags.append(el("h2", user.flagged ? `Flags (risk ${user.risk.toFixed(0)})` : "Flags: none"));
  user.flags.forEach((f) => {
    const box = el("div", null, "flag");
    box.append(el("strong", f.rule), el("div", f.reason), el("pre", JSON.stringify(f.evidence, null, 1)));
    flags.append(box);
  });
  if (user.review) flags.append(el("p", `review: ${user.review.status} by ${user.review.reviewer}: ${user.review.note}`));
  panel.replaceChildren(head, dl, parts, chain, flags);
  if (user.flagged) panel.append(reviewForm(user.id));
}

function signed(points) {
  // U+2212, the minus sign, so a negative part reads as one.
  return `${points < 0 ? "\u2212" : "+"}${Math.abs(points).toFixed(1)}`;
}

function scoreExplanation(user) {
  // Weighted: each signal's points and weight. Learned: the baseline (the
  // same for everyone), then each feature's contribution with its sign,
  // largest first; they add up to the KOC score (docs/koc-score.md).
  const section = el("section");
  section.id = "score-explanation";
  section.append(el("h2", "Score explanation"));
  const list = el("ul");
  if (user.score_kind === "learned") {
    const days = user.score_horizon_days === null ? "" : ` ${fmt(user.score_horizon_days)}`;
    section.append(el("p", `Learned score: predicts the next${days} days`, "hint"));
    if (user.score_baseline !== null) {
      list.append(el("li", `baseline: ${user.score_baseline.toFixed(1)} (the same for everyone)`));
    }
    // Parts that round to 0.0 are counted, not listed.
    const moved = user.score.filter((p) => Math.abs(p.points) >= 0.05);
    moved.forEach((p) => list.append(el("li", `${p.signal.replace(/_/g, " ")}: ${signed(p.points)}`)));
    const still = user.score.length - moved.length;
    if (still) list.append(el("li", `${still} other features: about 0`, "hint"));
  } else {
    user.score.forEach((p) => list.append(el("li", `${p.signal}: +${p.points.toFixed(1)} (weight ${p.weight})`)));
  }
  section.append(list);
  return section;
}

function reviewForm(id) {
  const form = el("form", null, "review");
  form.append(el("h2", "Review (admins)"));
  const note = el("textarea");
  note.placeholder = "why (required)";
  const who = el("input");
  who.placeholder = "your name";
  const approve = el("button", "Approve");
  const decline = el("button", "Decline");
  const said = el("p");
  form.append(note, who, approve, decline, said);
  const send = async (decision) => {
    try {
      const done = await api(`/v1/flags/${encodeURIComponent(id)}/review`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ decision, note: note.value, reviewer: who.value }),
      });
      said.textContent = `${done.status} by ${done.reviewer}`;
      said.className = "";
    } catch (error) {
      said.textContent = error.message;
      said.className = "error";
    }
  };
  approve.addEventListener("click", (e) => { e.preventDefault(); send("approve"); });
  decline.addEventListener("click", (e) => { e.preventDefault(); send("decline"); });
  return form;
}

async function loadBoard() {
  const board = $("leaderboard");
  board.replaceChildren(el("li", "loading…"));
  try {
    let rows;
    if (state.board === "kocs") {
      const data = await api("/v1/kocs?k=20");
      rows = data.items.map((r) => [r.user_id, `${r.user_id} · score ${r.koc_score.toFixed(0)} · lights ${(r.lit_share * 100).toFixed(1)}%`]);
    } else {
      const q = new URLSearchParams({ by: "effective_invites", limit: "20" });
      if ($("campaign").value) q.append("campaign", $("campaign").value);
      if ($("since").value) q.set("since", $("since").value);
      if ($("until").value) q.set("until", $("until").value);
      const data = await api(`/v1/referrers/top?${q}`);
      rows = data.items.map((r) => [r.id, `${r.id} · ${r.effective_invites} effective of ${r.invites}`]);
    }
    board.replaceChildren(
      ...rows.map(([id, text]) => {
        const li = el("li", text);
        li.dataset.user = id;
        li.addEventListener("click", () => focusUser(id));
        return li;
      })
    );
  } catch (error) {
    board.replaceChildren(el("li", error.message, "error"));
  }
}

function currentView() {
  const chosen = document.querySelector("input[name=view]:checked").value;
  return chosen === "community" ? loadView("community", { community: $("community").value || "0" }) : loadView(chosen);
}

function start() {
  network = new vis.Network(
    $("graph"),
    { nodes, edges },
    {
      physics: false, // the server laid the view out
      interaction: { hover: true, tooltipDelay: 120, hideEdgesOnDrag: true },
      edges: { smooth: false },
      nodes: { font: { size: 11 } },
    }
  );
  network.on("click", async (params) => {
    if (params.nodes.length) {
      const id = params.nodes[0];
      if (state.view && state.view.view === "map") {
        $("community").value = id.replace("community ", "");
        document.querySelector("input[name=view][value=community]").checked = true;
        await currentView();
        return;
      }
      await showDetails(id);
      await expand(id);
    }
  });
  network.once("afterDrawing", () => { document.body.dataset.drawn = "1"; });
  $("search-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const id = $("search").value.trim();
    if (id) focusUser(id).catch(() => {});
  });
  $("key-form").addEventListener("submit", (e) => {
    e.preventDefault();
    state.key = $("key").value;
    sessionStorage.setItem("searchlight-key", state.key);
    $("key-form").hidden = true;
    currentView().catch(() => {});
    loadBoard();
  });
  $("apply").addEventListener("click", () => { currentView().catch(() => {}); loadBoard(); });
  document.querySelectorAll("input[name=view]").forEach((r) => r.addEventListener("change", () => currentView().catch(() => {})));
  $("size-by").addEventListener("change", () => state.view && draw(state.view));
  for (const [tab, board] of [["tab-kocs", "kocs"], ["tab-referrers", "referrers"]]) {
    $(tab).addEventListener("click", () => {
      state.board = board;
      document.querySelectorAll(".tabs button").forEach((b) => b.classList.toggle("active", b.id === tab));
      loadBoard();
    });
  }
  window.explorer = { network, nodes, edges, loadView, focusUser, expand, showDetails };
  currentView().then(() => { document.body.dataset.ready = "1"; }).catch(() => {});
  loadBoard();
}

start();
