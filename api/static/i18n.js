// The pages' words, numbers and times in the reader's language. The server
// renders each page in that language and hands its script the messages it
// uses (the #messages block); `_` looks them up like the server's `_`.
"use strict";

const LANG = document.documentElement.dataset.lang || "zh";
const ZONE = document.documentElement.dataset.zone || "Asia/Shanghai";
const LOCALE = LANG === "zh" ? "zh-CN" : "en-US";
const MESSAGES = JSON.parse(document.getElementById("messages").textContent || "{}");

// `msgid` in the page's language with its {fields} filled from `params`.
function _(msgid, params) {
  const text = Object.prototype.hasOwnProperty.call(MESSAGES, msgid) ? MESSAGES[msgid] : msgid;
  if (!params) return text;
  return text.replace(/\{(\w+)\}/g, (whole, key) =>
    Object.prototype.hasOwnProperty.call(params, key) ? String(params[key]) : whole,
  );
}

const fmt = {
  // 1,234,567
  integer: (n) => new Intl.NumberFormat(LOCALE, { maximumFractionDigits: 0 }).format(n),
  // 12.3
  number: (x, digits = 1) =>
    new Intl.NumberFormat(LOCALE, {
      minimumFractionDigits: digits,
      maximumFractionDigits: digits,
    }).format(x),
  // 12.3万 / 123.5K; counts under 10,000 in full
  count: (n) =>
    Math.abs(n) < 10000
      ? fmt.integer(n)
      : new Intl.NumberFormat(LOCALE, { notation: "compact", maximumFractionDigits: 1 }).format(n),
  // ¥38,569.34 in both languages
  money: (x) =>
    (x < 0 ? "-" : "") +
    "¥" +
    new Intl.NumberFormat(LOCALE, { minimumFractionDigits: 2, maximumFractionDigits: 2 }).format(
      Math.abs(x),
    ),
  // 12.3%
  percent: (share, digits = 1) =>
    new Intl.NumberFormat(LOCALE, {
      style: "percent",
      minimumFractionDigits: digits,
      maximumFractionDigits: digits,
    }).format(share),
  // 2026年3月5日 / Mar 5, 2026 (a YYYY-MM-DD day, as the API sends days)
  day: (iso) =>
    new Intl.DateTimeFormat(LOCALE, { dateStyle: LANG === "zh" ? "long" : "medium", timeZone: "UTC" }).format(
      new Date(`${String(iso).slice(0, 10)}T00:00:00Z`),
    ),
  // 2026年3月5日 20:03 in the deployment's zone, never raw UTC
  moment: (iso) =>
    new Intl.DateTimeFormat(LOCALE, {
      dateStyle: LANG === "zh" ? "long" : "medium",
      timeStyle: "short",
      hourCycle: LANG === "zh" ? "h23" : "h12",
      timeZone: ZONE,
    }).format(new Date(iso)),
};

// A user as people know them: the name (the API masks phone-like names
// for viewers), else the id.
function displayName(user) {
  return user.name || user.id;
}
