// The Searchlight explorer. Data comes from the API with the operator's key;
// text from user data is only ever set with textContent, never as HTML.
// Words come from `_`, numbers and times from `fmt` (static/i18n.js); the
// API, `el` and the status line from static/page.js; the details panel from
// static/explorer_details.js, the leaderboards and search from
// static/explorer_boards.js.
"use strict";

const state = {
  board: "kocs",
  view: null,
  selected: null,
  focus: null, // the user the ego and tree views are drawn around
};
// The views drawn around one user (the others need none).
const USER_VIEWS = ["ego", "tree"];
const nodes = new vis.DataSet();
const edges = new vis.DataSet();
let network = null;

function colour(community) {
  const hue = (community * 137.508) % 360; // golden angle: neighbours differ
  return `hsl(${hue.toFixed(0)}, 62%, 55%)`;
}

function circleName(community) {
  return _("circle {community}", { community });
}

// What a node is called: a user's name (else its id); a circle's number.
function nodeName(node) {
  return isMap() ? circleName(node.community) : displayName(node);
}

function isMap() {
  return Boolean(state.view && state.view.view === "map");
}

function tooltip(node) {
  // A DOM element: vis-network shows it as is, so names and ids stay text.
  const tip = el("div", null, "tip");
  const lines = [nodeName(node)];
  if (isMap()) {
    lines.push(node.reason);
    lines.push(_("best KOC score {score}", { score: fmt.number(node.koc_score, 1) }));
  } else {
    if (node.name) lines.push(_("id {id}", { id: node.id }));
    lines.push(
      _("KOC score {score}, reach {reach}", {
        score: fmt.number(node.koc_score, 1),
        reach: fmt.count(node.reach),
      }),
    );
    if (node.reason) lines.push(node.reason);
    if (node.flagged) lines.push(_("flagged by fraud screening"));
  }
  tip.textContent = lines.join("\n");
  return tip;
}

function visNode(node, sizeBy) {
  const value = sizeBy === "reach" ? Math.log2(2 + node.reach) * 3 : 4 + node.koc_score / 6;
  return {
    id: node.id,
    x: node.x,
    y: node.y,
    size: isMap() ? 6 + Math.sqrt(node.size) : value,
    label: state.view && state.view.nodes.length <= 150 ? short(nodeName(node)) : undefined,
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

// A label short enough to read on the canvas (the tip has it whole).
function short(text) {
  const chars = Array.from(String(text));
  return chars.length > 12 ? `${chars.slice(0, 11).join("")}…` : chars.join("");
}

// The view's title; a user's views name the user as people know them.
function viewTitle(view) {
  const centre = view.nodes[0];
  if (view.view === "ego" && centre) return _("around {user}", { user: displayName(centre) });
  if (view.view === "tree" && centre) {
    return _("the referral tree of {user}", { user: displayName(centre) });
  }
  return view.title;
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
  setStatus(
    _("{title}: showing {showing} of {total}", {
      title: viewTitle(view),
      showing: fmt.integer(view.showing),
      total: fmt.integer(view.total),
    }),
  );
  $("view-note").textContent = view.note || "";
  $("view-note").hidden = !view.note;
  network.fit({ animation: false });
}

function viewQuery(view, extra) {
  const q = new URLSearchParams(Object.assign({ view }, extra));
  q.set("min_score", $("min-score").value || "0");
  q.set("show_flagged", $("show-flagged").checked ? "true" : "false");
  return q;
}

async function loadView(view, extra = {}) {
  setStatus(_("loading…"));
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

// Open one user: its ego network (or its referral tree) and its details.
async function focusUser(id, kind = "ego") {
  state.focus = id;
  $("show-ego").disabled = false;
  $("show-tree").disabled = false;
  keepPlace({ user: id, view: kind === "tree" ? "tree" : null });
  const extra = kind === "tree" ? { user_id: id, depth: 3, limit: 600 } : { user_id: id, hops: 2, limit: 300 };
  await loadView(kind, extra);
  if (nodes.get(id)) {
    network.selectNodes([id]);
    // A tree is read whole (draw fitted it); an ego network around its centre.
    if (kind !== "tree") network.focus(id, { scale: 1.2, animation: false });
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
      name: n.name,
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
  const who = nodes.get(id);
  setStatus(
    _("expanded {user}: {more} more users, {shown} shown", {
      user: who ? displayName(who.raw) : id,
      more: fmt.integer(fresh.length),
      shown: fmt.integer(nodes.length),
    }),
  );
  document.body.dataset.expanded = id;
  return fresh.length;
}

function currentView() {
  const chosen = document.querySelector("input[name=view]:checked").value;
  keepPlace({ user: null, view: null });
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
    },
  );
  network.on("click", async (params) => {
    if (params.nodes.length) {
      const id = params.nodes[0];
      if (isMap()) {
        $("community").value = nodes.get(id).raw.community;
        document.querySelector("input[name=view][value=community]").checked = true;
        await currentView();
        return;
      }
      await showDetails(id);
      await expand(id);
    }
  });
  network.once("afterDrawing", () => {
    document.body.dataset.drawn = "1";
  });
  $("search-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const text = $("search").value.trim();
    if (text) search(text).catch(() => {});
  });
  page.onKey = () => {
    reload().catch(() => {});
    loadBoard();
  };
  $("apply").addEventListener("click", () => {
    reload().catch(() => {});
    loadBoard();
  });
  document
    .querySelectorAll("input[name=view]")
    .forEach((r) => r.addEventListener("change", () => currentView().catch(() => {})));
  $("show-ego").addEventListener("click", () => state.focus && focusUser(state.focus, "ego").catch(() => {}));
  $("show-tree").addEventListener("click", () => state.focus && focusUser(state.focus, "tree").catch(() => {}));
  $("size-by").addEventListener("change", () => state.view && draw(state.view));
  for (const [board, tab] of Object.entries(BOARD_TABS)) {
    $(tab).addEventListener("click", () => chooseBoard(board));
  }
  window.explorer = { network, nodes, edges, loadView, focusUser, expand, showDetails };
  // The dashboard's links: ?user=<id> (and view=tree) opens that user;
  // ?board=kocs|referrers|review with campaign, since, until (days, both
  // included) opens that leaderboard.
  const asked = new URLSearchParams(window.location.search);
  for (const name of ["campaign", "since", "until"]) if (asked.get(name)) $(name).value = asked.get(name);
  if (BOARD_TABS[asked.get("board")]) state.board = asked.get("board");
  document.querySelectorAll(".tabs button").forEach((b) => b.classList.toggle("active", b.id === BOARD_TABS[state.board]));
  const first = asked.get("user") ? focusUser(asked.get("user"), asked.get("view") === "tree" ? "tree" : "ego") : currentView();
  first
    .then(() => {
      document.body.dataset.ready = "1";
    })
    .catch(() => {
      document.body.dataset.ready = "error";
    });
  loadBoard();
}

// The view on screen again (the key or the filters changed).
function reload() {
  const shown = state.view ? state.view.view : null;
  return USER_VIEWS.includes(shown) && state.focus ? focusUser(state.focus, shown) : currentView();
}

start();
