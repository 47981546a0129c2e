// What the operators' pages share: the API asked with the operator's key,
// the status line, elements built with text only (never HTML: names and ids
// come from user data), and the language switch keeping the page's place.
// Loaded after i18n.js (`_`, `fmt`, `displayName`), before the page's script.
"use strict";

const $ = (id) => document.getElementById(id);
// page.onKey: what the page does once a key is entered (it reloads its data).
const page = { key: sessionStorage.getItem("searchlight-key") || "", onKey: null };

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

function keyHeaders(headers = {}) {
  return page.key ? Object.assign({ "X-API-Key": page.key }, headers) : headers;
}

// The response to `path`, asked with the key; a 401 opens the key form.
async function fetchWithKey(path, options = {}) {
  const response = await fetch(path, Object.assign({}, options, { headers: keyHeaders(options.headers) }));
  if (response.status === 401) {
    $("key-form").hidden = false;
    throw new Error(_("an API key is needed: enter it above"));
  }
  return response;
}

// The JSON answer to `path`; an error says the API's `detail` (in the
// reader's language: the API reads the page's language cookie).
async function api(path, options = {}) {
  const response = await fetchWithKey(path, options);
  let body = null;
  try {
    body = await response.json();
  } catch (error) {
    body = null;
  }
  if (!response.ok) {
    const detail = body && typeof body.detail === "string" ? body.detail : "";
    throw new Error(detail || _("the server answered {status}", { status: response.status }));
  }
  return body;
}

// Keeps the page's place (`params`) in its address, so a reload, a shared
// link and the 中文/English switch open the same thing.
function keepPlace(params) {
  const url = new URL(window.location.href);
  for (const [name, value] of Object.entries(params)) {
    if (value === null || value === undefined || value === "") url.searchParams.delete(name);
    else url.searchParams.set(name, String(value));
  }
  url.searchParams.delete("lang");
  window.history.replaceState(null, "", url);
  document.querySelectorAll("nav.langs a").forEach((a) => {
    if (!a.dataset.lang) a.dataset.lang = new URLSearchParams(a.getAttribute("href").slice(1)).get("lang");
    const to = new URL(url);
    to.searchParams.set("lang", a.dataset.lang);
    a.href = `${to.pathname}${to.search}`;
  });
}

$("key-form").addEventListener("submit", (e) => {
  e.preventDefault();
  page.key = $("key").value;
  sessionStorage.setItem("searchlight-key", page.key);
  $("key-form").hidden = true;
  if (page.onKey) page.onKey();
});
