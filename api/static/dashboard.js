// The campaign dashboard: GET /v1/dashboard drawn as KPI cards, two charts
// (Apache ECharts, served by the app) and leaderboards linking into the
// explorer; each table downloads through /v1/dashboard/export. Names and ids
// from the data are set as text only; the charts carry no user data.
"use strict";

// The KPIs in the order an operator reads them: key, label, kind of number.
const KPIS = [
  ["joins", _("New joins"), "count"],
  ["referred_joins", _("Of which referred"), "count"],
  ["fission_rate", _("Fission rate"), "rate"],
  ["churned", _("Churned"), "count"],
  ["net_joins", _("Net joins"), "count"],
  ["conversions", _("Conversions"), "count"],
  ["conversion_rate", _("Conversion rate"), "rate"],
  ["gmv", "GMV", "money"],
  ["active_sharers", _("Active sharers"), "count"],
];
// The daily chart's lines.
const DAILY = [
  ["joins", _("New joins")],
  ["referred_joins", _("Referred joins")],
  ["churned", _("Churned")],
  ["conversions", _("Conversions")],
];
const TIERS = { 1: _("Tier 1"), 2: _("Tier 2"), 3: _("Tier 3+") };
const charts = {};
let shown = null; // the dashboard on screen

function shortDay(iso) {
  return new Intl.DateTimeFormat(LOCALE, { month: "short", day: "numeric", timeZone: "UTC" }).format(
    new Date(`${String(iso).slice(0, 10)}T00:00:00Z`),
  );
}

function show(kind, value) {
  if (value === null || value === undefined) return "-";
  if (kind === "rate") return fmt.percent(value);
  if (kind === "money") return fmt.money(value);
  return fmt.count(value);
}

// The change from the day before, with its sign: rates in percentage points.
function change(kind, now, before) {
  if (now === null || before === null || now === undefined || before === undefined) return ["", "-"];
  const delta = now - before;
  const arrow = delta > 0 ? "▲" : delta < 0 ? "▼" : "=";
  const size = Math.abs(delta);
  let text;
  if (kind === "rate") text = _("{points} pts", { points: fmt.number(size * 100, 1) });
  else if (kind === "money") text = fmt.money(size);
  else text = fmt.integer(size);
  if (kind !== "rate" && before) text += ` (${fmt.percent(size / Math.abs(before))})`;
  return [delta > 0 ? "up" : delta < 0 ? "down" : "", delta ? `${arrow} ${text}` : `${arrow}`];
}

function kpiCard(key, label, kind, kpi, until) {
  const card = el("div", null, "kpi");
  card.dataset.kpi = key;
  const total = el("p", show(kind, kpi.total), "total");
  total.dataset.value = kpi.total === null ? "" : String(kpi.total);
  const [direction, moved] = change(kind, kpi.day, kpi.previous_day);
  const day = el("p", _("on {day}: {value}", { day: shortDay(until), value: show(kind, kpi.day) }), "day");
  const vs = el("p", _("{change} vs the day before", { change: moved }), `change ${direction}`);
  card.append(el("h3", label), total, day, vs);
  return card;
}

function drawKpis(data) {
  $("kpis").replaceChildren(
    ...KPIS.map(([key, label, kind]) => kpiCard(key, label, kind, data.kpis[key], data.until)),
  );
}

function chart(id) {
  if (!charts[id]) charts[id] = echarts.init($(id), null, { locale: LANG === "zh" ? "ZH" : "EN" });
  return charts[id];
}

function drawDaily(data) {
  chart("daily-chart").setOption(
    {
      animation: false,
      tooltip: { trigger: "axis", valueFormatter: (v) => fmt.integer(v) },
      legend: { data: DAILY.map(([, name]) => name), top: 0 },
      grid: { left: 48, right: 16, top: 36, bottom: 28 },
      xAxis: { type: "category", data: data.daily.map((d) => shortDay(d.day)), boundaryGap: false },
      yAxis: { type: "value", minInterval: 1, axisLabel: { formatter: (v) => fmt.count(v) } },
      series: DAILY.map(([key, name]) => ({
        name,
        type: "line",
        showSymbol: data.daily.length <= 31,
        data: data.daily.map((d) => d[key]),
      })),
    },
    true,
  );
}

function drawFunnel(data) {
  const tiers = data.funnel.map((t) => ({
    name: TIERS[t.tier] || String(t.tier),
    value: t.users,
    converted: t.converted,
  }));
  chart("funnel-chart").setOption(
    {
      animation: false,
      tooltip: {
        trigger: "item",
        // Our words and numbers only: no user data reaches this HTML.
        formatter: (p) =>
          _("{tier}: {users} users joined, {converted} converted", {
            tier: p.name,
            users: fmt.integer(p.value),
            converted: fmt.integer(p.data.converted),
          }),
      },
      series: [
        {
          type: "funnel",
          sort: "none",
          left: "10%",
          width: "80%",
          minSize: "20%",
          label: { formatter: (p) => `${p.name}\n${fmt.count(p.value)}` },
          data: tiers,
        },
      ],
    },
    true,
  );
}

// A table of `rows`: a heading per column, each cell text or an element.
function fillTable(table, columns, rows, empty) {
  const head = el("tr");
  columns.forEach(([heading], i) => head.append(el("th", heading, i ? "num" : "")));
  const body = rows.map((r) => {
    const tr = el("tr");
    columns.forEach(([, cell], i) => {
      const value = cell(r);
      tr.append(value instanceof HTMLElement ? value : el("td", value, i ? "num" : ""));
    });
    return tr;
  });
  if (!rows.length) {
    const tr = el("tr");
    const td = el("td", empty, "hint");
    td.colSpan = columns.length;
    tr.append(td);
    body.push(tr);
  }
  const thead = el("thead");
  thead.append(head);
  const tbody = el("tbody");
  tbody.append(...body);
  table.replaceChildren(thead, tbody);
}

function link(text, href, title) {
  const td = el("td", null, "who");
  const a = el("a", text);
  a.href = href;
  if (title) a.title = title;
  td.append(a);
  return td;
}

function explorerUser(id) {
  return `/explorer?${new URLSearchParams({ user: id })}`;
}

// The explorer's top referrers for the dashboard's campaign and days.
function explorerReferrers(data) {
  const q = new URLSearchParams({ board: "referrers", since: data.since, until: data.until });
  if (data.campaign) q.set("campaign", data.campaign);
  return `/explorer?${q}`;
}

function boardColumns(key, blank, data) {
  return [
    [
      key === "channel" ? _("Channel code") : _("Staff member"),
      (r) =>
        r.top_user_id
          ? link(r[key] === null ? blank : r[key], explorerUser(r.top_user_id))
          : link(r[key] === null ? blank : r[key], explorerReferrers(data), _("Open this campaign's top referrers in the explorer")),
    ],
    [_("Users joined"), (r) => fmt.count(r.users)],
    [_("Reach"), (r) => fmt.count(r.reach)],
    [_("GMV in their trees"), (r) => fmt.money(r.tree_gmv)],
    [_("KOCs among them"), (r) => fmt.count(r.kocs)],
    [_("Flagged"), (r) => fmt.percent(r.flagged_share)],
  ];
}

const KOC_COLUMNS = [
  [_("KOC"), (r) => link(displayName({ id: r.user_id, name: r.name }), explorerUser(r.user_id), r.user_id)],
  [_("Score"), (r) => fmt.number(r.koc_score, 1)],
  [_("Invites"), (r) => fmt.count(r.invites)],
  [_("Reach"), (r) => fmt.count(r.reach)],
  [_("GMV"), (r) => fmt.money(r.gmv)],
];

function drawTables(data) {
  const none = _("nothing in this range");
  fillTable($("channels"), boardColumns("channel", _("(no channel code)"), data), data.channels, none);
  fillTable($("staff"), boardColumns("staff_id", _("(no staff member)"), data), data.staff, none);
  fillTable($("top-kocs"), KOC_COLUMNS, data.top_kocs, _("no analysis yet"));
  const queue = $("review-queue");
  queue.textContent = _("{n} awaiting review", { n: fmt.integer(data.review_queue) });
  queue.dataset.value = String(data.review_queue);
}

function drawRange(data) {
  const chooser = $("campaign");
  const options = [el("option", _("all campaigns")), ...data.campaigns.map((c) => el("option", c))];
  options[0].value = "";
  data.campaigns.forEach((c, i) => {
    options[i + 1].value = c;
  });
  chooser.replaceChildren(...options);
  chooser.value = data.campaign || "";
  $("since").value = data.since;
  $("until").value = data.until;
  $("snapshot-note").textContent = data.snapshot
    ? _("Reach, KOCs and flags from the analysis of {when}", { when: fmt.moment(data.snapshot.computed_at) })
    : _("No analysis yet: reach, KOCs and flags come with the first one");
}

function query() {
  const q = new URLSearchParams();
  if ($("campaign").value) q.set("campaign", $("campaign").value);
  if ($("since").value) q.set("since", $("since").value);
  if ($("until").value) q.set("until", $("until").value);
  return q;
}

async function load(q) {
  setStatus(_("loading…"));
  try {
    const data = await api(`/v1/dashboard?${q}`);
    shown = data;
    drawRange(data);
    drawKpis(data);
    drawDaily(data);
    drawFunnel(data);
    drawTables(data);
    keepPlace({ campaign: data.campaign, since: data.since, until: data.until });
    setStatus(
      _("{campaign}, {since} to {until}", {
        campaign: data.campaign || _("all campaigns"),
        since: fmt.day(data.since),
        until: fmt.day(data.until),
      }),
    );
    document.body.dataset.ready = "1";
  } catch (error) {
    setStatus(error.message, true);
    document.body.dataset.ready = "error";
  }
}

function filename(response, fallback) {
  const said = /filename="([^"]+)"/.exec(response.headers.get("Content-Disposition") || "");
  return said ? said[1] : fallback;
}

// One table of the dashboard on screen as a file (the key goes in a header,
// so the file is fetched, then saved).
async function download(table, format) {
  if (!shown) return;
  const q = new URLSearchParams({ table, format, since: shown.since, until: shown.until });
  if (shown.campaign) q.set("campaign", shown.campaign);
  try {
    const response = await fetchWithKey(`/v1/dashboard/export?${q}`);
    if (!response.ok) {
      const body = await response.json().catch(() => ({}));
      throw new Error(body.detail || _("the server answered {status}", { status: response.status }));
    }
    const blob = await response.blob();
    const a = el("a");
    a.href = URL.createObjectURL(blob);
    a.download = filename(response, `dashboard-${table}.${format}`);
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 10000);
  } catch (error) {
    setStatus(error.message, true);
  }
}

function start() {
  document.querySelectorAll(".downloads").forEach((span) => {
    for (const [format, label] of [
      ["csv", "CSV"],
      ["xlsx", "XLSX"],
    ]) {
      const b = el("button", label, "download");
      b.type = "button";
      b.title = _("Download this table");
      b.dataset.format = format;
      b.addEventListener("click", () => download(span.dataset.table, format));
      span.append(b);
    }
  });
  $("range").addEventListener("submit", (e) => {
    e.preventDefault();
    load(query());
  });
  $("campaign").addEventListener("change", () => {
    // Another campaign over the same days.
    load(query());
  });
  page.onKey = () => load(query());
  window.addEventListener("resize", () => Object.values(charts).forEach((c) => c.resize()));
  window.dashboard = { charts, load, shown: () => shown };
  const asked = new URLSearchParams(window.location.search);
  const first = new URLSearchParams();
  for (const name of ["campaign", "since", "until"]) if (asked.get(name)) first.set(name, asked.get(name));
  load(first);
}

start();
