// My API test page. Stable element ids (used by the browser tests):
//   sign in:      signin (OpenID Connect at Fake Social Site), signin-client
//   legacy:       legacy (the collapsed section holding the three password logins)
//   local login:  local-username, local-password, local-client-id, local-login
//   FSS login:    fss-url, fss-username, fss-password, fss-client-id, fss-login
//   FSS + params: fssp-username, fssp-password, fssp-lookup-username, fssp-login
//   API:          list-items, list-concepts, item-name, create-item, items, concepts
//   session:      status ("Logged in as <user> (<how>)" after a login), token, logout, message
//   console:      console, clear-console
"use strict";

const DEFAULT_FSS_URL = "http://127.0.0.1:8005";
const DEFAULT_FSS_CLIENT_ID = "ZQcMr611iZMcUskTGoRcyZuhqCjZYy08lyOsWM5d";
const SECRET_KEYS = new Set([
  "password", "access_token", "token", "refresh_token", "client_secret", "subject_token",
  "id_token", "code", "code_verifier",
]);
// Fake Social Site as the server filled it in (its public URL is also its issuer).
const config = { fssUrl: DEFAULT_FSS_URL, clientId: DEFAULT_FSS_CLIENT_ID };
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

// A placeholder the server filled in, or `fallback` when it did not.
function metaValue(name, fallback) {
  const meta = document.querySelector(`meta[name="${name}"]`);
  const value = meta ? meta.content.trim() : "";
  return value && !value.includes("{{") ? value : fallback;
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

// ---- sign in with Fake Social Site (OpenID Connect) ---------------------------
//
// The authorization code flow with PKCE, as Fake Social Site's public client (RFC 6749
// §4.1, RFC 7636, OpenID Connect Core §3.1): the verifier, state and nonce wait in
// sessionStorage while the browser is at Fake Social Site, and are used once. The ID token
// then goes to My API, which checks its signature, issuer, audience and nonce.

const PENDING_KEY = "my-api-page.signin";
const OIDC_BACKEND = "fake_social_site_oidc";
const SIGNIN_SCOPE = "openid profile email read";
const SIGNED_IN_VIA = "via Fake Social Site, OpenID Connect";

function base64url(bytes) {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

// 32 random bytes: 43 characters, the shortest verifier RFC 7636 §4.1 allows.
const randomValue = () => base64url(crypto.getRandomValues(new Uint8Array(32)));

async function s256(verifier) {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
  return base64url(new Uint8Array(digest));
}

// The redirect URI as registered for the client: this page, at its own origin.
const redirectUri = () => `${window.location.origin}/`;

// Sends the browser to Fake Social Site's authorization endpoint.
async function startSignIn() {
  if (!window.isSecureContext || !crypto.subtle) {
    throw new Error("Signing in needs a secure context for crypto.subtle: open this page over " +
      "https, or at http://127.0.0.1 or http://localhost.");
  }
  const pending = {
    state: randomValue(), nonce: randomValue(), verifier: randomValue(), redirect_uri: redirectUri(),
  };
  const url = new URL(`${config.fssUrl}/o/authorize/`);
  url.search = new URLSearchParams({
    response_type: "code",
    client_id: config.clientId,
    redirect_uri: pending.redirect_uri,
    scope: SIGNIN_SCOPE,
    state: pending.state,
    nonce: pending.nonce,
    code_challenge: await s256(pending.verifier),
    code_challenge_method: "S256",
  }).toString();
  sessionStorage.setItem(PENDING_KEY, JSON.stringify(pending));
  window.location.assign(url.href);
}

// The sign-in this page started, taken out of sessionStorage: it is used once, whatever
// comes back.
function takePending() {
  const raw = sessionStorage.getItem(PENDING_KEY);
  sessionStorage.removeItem(PENDING_KEY);
  try {
    const pending = raw ? JSON.parse(raw) : null;
    return pending && typeof pending.state === "string" ? pending : null;
  } catch {
    return null;
  }
}

// The authorization response on this page's URL (RFC 6749 §4.1.2, its error §4.1.2.1), if
// there is one: checked, then the code redeemed and the ID token exchanged. Returns the
// signed-in user's name, or null when the URL carries no response.
async function finishSignIn() {
  const params = new URLSearchParams(window.location.search);
  if (!params.has("code") && !params.has("error")) return null;
  const pending = takePending();
  const described = [params.get("error"), params.get("error_description")].filter(Boolean).join(": ");
  if (pending === null) {
    // Not the answer to a request of this page (perhaps one made by hand with the demo
    // banner's lines): unused, and left in the address bar for whoever made it.
    throw new Error(params.has("error")
      ? `Fake Social Site answered a sign-in this page did not start: ${described}`
      : "Refused the code: no sign-in was started on this page, or it was finished already. " +
        "The code is left unused in the address bar for whoever asked for it.");
  }
  // Out of the address bar and history before anything else: the code is a credential.
  history.replaceState(null, "", window.location.pathname);
  if (params.get("state") !== pending.state) {
    throw new Error(params.has("error")
      ? `Fake Social Site answered with another state than this page sent: ${described}`
      : "Refused the code: its state is not the one this page sent.");
  }
  if (params.has("error")) throw new Error(`Fake Social Site did not sign you in: ${described}`);
  // RFC 9207: the answer names its issuer, which must be the provider the request went to.
  const issuer = params.get("iss");
  if (issuer !== config.fssUrl) {
    throw new Error(`Refused the code: it comes from ${issuer === null ? "an unnamed issuer" : `"${issuer}"`}, ` +
      `not from Fake Social Site (${config.fssUrl}).`);
  }
  const fss = await request("POST", `${config.fssUrl}/o/token/`, {
    form: {
      grant_type: "authorization_code", client_id: config.clientId, code: params.get("code"),
      redirect_uri: pending.redirect_uri, code_verifier: pending.verifier,
    },
  });
  if (!fss || typeof fss.id_token !== "string") {
    throw new Error("Fake Social Site answered without an ID token.");
  }
  const data = await request("POST", `/users/register-by-token/${OIDC_BACKEND}/`, {
    form: { id_token: fss.id_token, nonce: pending.nonce },
  });
  setSession(data.access_token, "\u2026", SIGNED_IN_VIA);
  // The local user, who may be named differently from the account at Fake Social Site.
  const me = await request("GET", "/api/me/", { auth: true });
  setSession(data.access_token, me.username, SIGNED_IN_VIA);
  return me.username;
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

// The sign-in button leaves the page, so it stays disabled unless starting fails (or the
// browser comes back to this page from its cache).
function bindSignIn() {
  const button = $("signin");
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      await startSignIn();
    } catch (err) {
      showMessage(err.message, true);
      button.disabled = false;
    }
  });
  window.addEventListener("pageshow", (event) => {
    if (event.persisted) button.disabled = false;
  });
}

// Finishes a sign-in when the page is the redirect URI's answer.
async function resumeSignIn() {
  const button = $("signin");
  button.disabled = true;
  try {
    const user = await finishSignIn();
    if (user !== null) showMessage(`Signed in as ${user} through Fake Social Site.`, false);
  } catch (err) {
    setSession(null, null, null);
    showMessage(err.message, true);
  } finally {
    button.disabled = false;
  }
}

function init() {
  config.fssUrl = metaValue("fake-social-site-url", DEFAULT_FSS_URL).replace(/\/+$/, "");
  config.clientId = metaValue("fake-social-site-client-id", DEFAULT_FSS_CLIENT_ID);
  $("fss-url").value = config.fssUrl;
  $("fss-client-id").value = config.clientId;
  $("signin-client").textContent = config.clientId;

  const loggedIn = () => $("status").textContent;
  bind("local-form", "local-login", "submit", loginLocal, loggedIn);
  bind("fss-form", "fss-login", "submit", loginFss, loggedIn);
  bind("fssp-form", "fssp-login", "submit", loginFssWithParams, loggedIn);
  bind("logout", "logout", "click", logout, () => "Logged out; the token was revoked.");
  bind("list-items", "list-items", "click", listItems, (n) => listed(n, "item(s)"));
  bind("list-concepts", "list-concepts", "click", listConcepts, (n) => listed(n, "concept(s)"));
  bind("item-form", "create-item", "submit", createItem, (item) => `Created item "${item && item.name}".`);
  $("clear-console").addEventListener("click", () => $("console").replaceChildren());
  bindSignIn();
  setSession(null, null, null);
  resumeSignIn();
}

document.addEventListener("DOMContentLoaded", init);
