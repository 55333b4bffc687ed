// My API test page. Stable element ids (used by the browser tests):
//   local login:  local-username, local-password, local-client-id, local-login
//   FSS login:    fss-url, fss-username, fss-password, fss-client-id, fss-login
//   FSS + params: fssp-username, fssp-password, fssp-lookup-username, fssp-login
//   API:          list-items, list-concepts, item-name, create-item, items, concepts
//   session:      status ("Logged in as <user> (<how>)" after a login), token, logout, message
//   console:      console, clear-console
"use strict";

const DEFAULT_FSS_URL = "http://127.0.0.1:8005";
const SECRET_KEYS = new Set([
  "password", "access_token", "token", "refresh_token", "client_secret", "subject_token",
]);
const session = { token: null, user: null, via: null };
const $ = (id) => document.getElementById(id);

// Secrets are shown as their first 6 characters followed by an ellipsis; passwords and
// client secrets not at all.
const HIDDEN_KEYS = new Set(["password", "client_secret"]);
function shorten(value) {
  return String(value).slice(0, 6) + "\u2026";
}
function hideSecret(key, value) {
  return HIDDEN_KEYS.has(key) ? "\u2022\u2022\u2022" : shorten(value);
}

// Copies a JSON value with every secret-named field shortened, at any depth.
function redact(value) {
  if (Array.isArray(value)) return value.map(redact);
  if (value && typeof value === "object") {
    const out = {};
    for (const [key, inner] of Object.entries(value)) {
      out[key] = SECRET_KEYS.has(key) && typeof inner === "string" ? hideSecret(key, inner) : redact(inner);
    }
    return out;
  }
  return value;
}

function redactForm(params) {
  return [...params]
    .map(([key, value]) => `${key}=${SECRET_KEYS.has(key) ? hideSecret(key, value) : value}`)
    .join("&");
}

function fssUrl() {
  return ($("fss-url").value.trim() || DEFAULT_FSS_URL).replace(/\/+$/, "");
}

// ---- console ---------------------------------------------------------------

function logEntry(kind, title, body) {
  const entry = document.createElement("div");
  entry.className = `entry ${kind}`;
  const head = document.createElement("div");
  head.className = "entry-head";
  head.textContent = `${new Date().toLocaleTimeString()}  ${title}`;
  entry.append(head);
  if (body !== undefined && body !== "") {
    const pre = document.createElement("pre");
    pre.textContent = typeof body === "string" ? body : JSON.stringify(body, null, 2);
    entry.append(pre);
  }
  const box = $("console");
  box.append(entry);
  box.scrollTop = box.scrollHeight;
}

function showMessage(text, isError) {
  const box = $("message");
  box.textContent = text;
  box.className = `message ${isError ? "error" : "ok"}`;
  box.hidden = false;
}

// ---- HTTP ------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, data) {
    const text = data && typeof data === "object"
      ? [data.error, data.error_description, data.detail].filter(Boolean).join(": ")
      : String(data || "").slice(0, 200);
    super(`HTTP ${status}${text ? ` \u2014 ${text}` : ""}`);
    this.status = status;
    this.data = data;
  }
}

// One request: logs it (secrets shortened), sends it, logs the answer, returns parsed JSON.
async function request(method, url, { form, json, auth = false } = {}) {
  const headers = { Accept: "application/json" };
  let body;
  let shown = "";
  if (form) {
    body = new URLSearchParams(form);
    shown = redactForm(body);
  } else if (json !== undefined) {
    body = JSON.stringify(json);
    headers["Content-Type"] = "application/json";
    shown = redact(json);
  }
  if (auth && session.token) {
    headers.Authorization = `Bearer ${session.token}`;
    shown = [`Authorization: Bearer ${shorten(session.token)}`,
      typeof shown === "string" ? shown : JSON.stringify(shown, null, 2)].filter(Boolean).join("\n");
  }
  const fullUrl = new URL(url, window.location.href).href;
  logEntry("req", `\u2192 ${method} ${fullUrl}`, shown);
  const started = performance.now();
  let response;
  try {
    response = await fetch(fullUrl, { method, headers, body });
  } catch (err) {
    logEntry("res error", `\u2717 ${method} ${fullUrl}: network error`, String(err));
    throw new Error(`Could not reach ${fullUrl} (${err.message}). Is the service running, and does it allow this page's origin (CORS)?`);
  }
  const raw = await response.text();
  let data = null;
  try {
    data = raw ? JSON.parse(raw) : null;
  } catch {
    data = raw;
  }
  const ms = Math.round(performance.now() - started);
  const kind = response.ok ? "res ok" : "res error";
  logEntry(kind, `\u2190 ${response.status} ${response.statusText} (${ms} ms) ${method} ${fullUrl}`,
    typeof data === "string" ? data : redact(data));
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

// ---- session ---------------------------------------------------------------

function setSession(token, user, via) {
  Object.assign(session, { token, user, via });
  $("token").textContent = token ? shorten(token) : "none";
  $("token").title = token ? "current My API access token (shortened)" : "";
  $("status").textContent = token ? `Logged in as ${user} (${via})` : "Not logged in";
  $("status").classList.toggle("on", Boolean(token));
}

function fssToken(username, password) {
  return request("POST", `${fssUrl()}/o/token/`, {
    form: { grant_type: "password", username, password, client_id: $("fss-client-id").value.trim() },
  });
}

async function loginLocal() {
  const username = $("local-username").value.trim();
  const data = await request("POST", "/o/token/", {
    form: {
      grant_type: "password", username,
      password: $("local-password").value, client_id: $("local-client-id").value.trim(),
    },
  });
  setSession(data.access_token, username, "local");
}

async function loginFss() {
  const username = $("fss-username").value.trim();
  const fss = await fssToken(username, $("fss-password").value);
  const data = await request("POST", "/users/register-by-token/fake_social_site/", {
    form: { access_token: fss.access_token },
  });
  setSession(data.access_token, username, "via Fake Social Site");
}

async function loginFssWithParams() {
  const username = $("fssp-username").value.trim();
  const lookup = $("fssp-lookup-username").value.trim();
  const fss = await fssToken(username, $("fssp-password").value);
  const data = await request("POST", "/users/register-by-token/fake_social_site_with_params/", {
    form: { access_token: fss.access_token, username: lookup },
  });
  setSession(data.access_token, lookup || username, "via Fake Social Site, looked up by username");
}

async function logout() {
  const token = session.token;
  setSession(null, null, null);
  if (token) {
    await request("POST", "/o/revoke_token/", {
      form: { token, token_type_hint: "access_token", client_id: $("local-client-id").value.trim() },
    });
  }
}

// ---- API -------------------------------------------------------------------

// Lists under /api/ answer a page: {count, next, previous, results}. The page shows the
// first page; `count` says how many there are in all.
const rowsOf = (data) => (Array.isArray(data) ? data : (data && data.results) || []);
const countOf = (data, rows) => (data && typeof data.count === "number" ? data.count : rows.length);
const listed = ({ shown, count }, what) =>
  count > shown ? `Listed ${shown} of ${count} ${what} (first page).` : `Listed ${shown} ${what}.`;

function renderList(listId, rows, decorate) {
  const list = $(listId);
  list.replaceChildren();
  for (const row of rows) {
    const li = document.createElement("li");
    li.textContent = row.name; // the name only: details go in data-* attributes
    li.dataset.id = row.id ?? "";
    if (row.url) li.title = row.url;
    decorate(li, row);
    list.append(li);
  }
  list.dataset.loaded = "1";
}

async function listItems() {
  const data = await request("GET", "/api/items/", { auth: true });
  const rows = rowsOf(data);
  renderList("items", rows, (li, row) => { li.dataset.owner = row.owner ?? ""; });
  return { shown: rows.length, count: countOf(data, rows) };
}

async function listConcepts() {
  const data = await request("GET", "/api/concepts/", { auth: true });
  const rows = rowsOf(data);
  const byKey = new Map();
  for (const row of rows) { byKey.set(row.id, row.name); byKey.set(row.url, row.name); }
  renderList("concepts", rows, (li, row) => {
    if (row.parent === null || row.parent === undefined) return;
    const parent = typeof row.parent === "object" ? row.parent.name : byKey.get(row.parent);
    li.dataset.parent = parent ?? String(row.parent);
    li.classList.add("child");
  });
  return { shown: rows.length, count: countOf(data, rows) };
}

async function createItem() {
  const name = $("item-name").value.trim();
  if (!name) throw new Error("Enter a name for the new item.");
  const item = await request("POST", "/api/items/", { json: { name }, auth: true });
  $("item-name").value = "";
  await listItems();
  return item;
}

// ---- wiring ----------------------------------------------------------------

// Runs an action from a button or form: disables the button meanwhile, reports the outcome.
function bind(elementId, buttonId, event, action, success) {
  $(elementId).addEventListener(event, async (ev) => {
    ev.preventDefault();
    const button = $(buttonId);
    button.disabled = true;
    try {
      const result = await action();
      showMessage(success(result), false);
    } catch (err) {
      showMessage(err.message, true);
    } finally {
      button.disabled = false;
    }
  });
}

function init() {
  const meta = document.querySelector('meta[name="fake-social-site-url"]');
  const fromMeta = meta ? meta.content.trim() : "";
  $("fss-url").value = fromMeta && !fromMeta.includes("{{") ? fromMeta : DEFAULT_FSS_URL;

  const loggedIn = () => $("status").textContent;
  bind("local-form", "local-login", "submit", loginLocal, loggedIn);
  bind("fss-form", "fss-login", "submit", loginFss, loggedIn);
  bind("fssp-form", "fssp-login", "submit", loginFssWithParams, loggedIn);
  bind("logout", "logout", "click", logout, () => "Logged out; the token was revoked.");
  bind("list-items", "list-items", "click", listItems, (n) => listed(n, "item(s)"));
  bind("list-concepts", "list-concepts", "click", listConcepts, (n) => listed(n, "concept(s)"));
  bind("item-form", "create-item", "submit", createItem, (item) => `Created item "${item && item.name}".`);
  $("clear-console").addEventListener("click", () => $("console").replaceChildren());
  setSession(null, null, null);
}

document.addEventListener("DOMContentLoaded", init);
