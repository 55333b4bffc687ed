// Drives My API's test page in headless Chromium, in one of two scenarios:
//
//   node drive.mjs <my_api_url> <screenshot_path> [legacy|signin]
//
// legacy (the default): the three password logins of the page's legacy section, items and
//   concepts. Run by demo/tests/browser.rs.
// signin: "Sign in with Fake Social Site" through FSS's real login and consent pages, then
//   items listed and one created; a replayed or forged answer refused; and, in a fresh
//   browser context, Deny at consent shown as an error with nobody signed in. Prints
//   `user=`, `item=` and `denied=` lines for the test to check through the API. Run by
//   demo/tests/signin_browser.rs.
//
// Chromium as launch.mjs finds it. Exits non-zero with a message on any failed check, page
// error or console error.

import { decideAtFss, logInAtFss } from "./fss_pages.mjs";
import { ACTION_TIMEOUT_MS, args, check, CheckFailed, launch, openPage, step } from "./launch.mjs";

const usage = "node drive.mjs <my_api_url> <screenshot_path> [legacy|signin]";
const [apiUrl, screenshotPath] = args(2, usage);
const scenarioName = process.argv[4] || "legacy";

const pageErrors = [];
const consoleErrors = [];
const failedRequests = [];
// Every token value seen in a /o/token/ or register-by-token response (My API's and FSS's,
// ID tokens included).
const seenTokens = new Set();
const bodyReads = [];
// Requests to any /o/token/ endpoint, counted to show that a refused answer redeems nothing.
let tokenRequests = 0;

function watch(page) {
  page.on("request", (req) => {
    if (new URL(req.url()).pathname.endsWith("/o/token/")) tokenRequests += 1;
  });
  page.on("pageerror", (err) => pageErrors.push(String(err && err.stack ? err.stack : err)));
  page.on("console", (msg) => {
    if (msg.type() === "error") consoleErrors.push(msg.text());
  });
  page.on("requestfailed", (req) =>
    failedRequests.push(`${req.method()} ${req.url()}: ${req.failure()?.errorText}`));
  page.on("response", (res) => {
    const path = new URL(res.url()).pathname;
    if (!(path.endsWith("/o/token/") || path.includes("/register-by-token/"))) return;
    bodyReads.push(
      res.json().then(
        (body) => {
          for (const key of ["access_token", "refresh_token", "id_token"]) {
            if (body && typeof body[key] === "string" && body[key].length > 0) {
              seenTokens.add(body[key]);
            }
          }
        },
        () => {}, // not JSON (or no body): nothing to collect
      ),
    );
  });
}

// Clicks a page button and waits for the page to report the outcome in #message; fails on an
// error message. Returns the message text.
async function act(page, buttonId, what) {
  await page.evaluate(() => {
    const box = document.getElementById("message");
    box.hidden = true;
    box.textContent = "";
    box.className = "message";
  });
  await page.click(`#${buttonId}`);
  await page.waitForFunction(
    (id) => {
      const box = document.getElementById("message");
      return !box.hidden && box.textContent !== "" && !document.getElementById(id).disabled;
    },
    buttonId,
    { timeout: ACTION_TIMEOUT_MS },
  );
  const [text, isError] = await page.$eval("#message", (box) => [
    box.textContent,
    box.classList.contains("error"),
  ]);
  check(!isError, `${what}: the page reported an error: ${text}`);
  step(`${what}: ${text}`);
  return text;
}

async function expectStatus(page, expected, what) {
  const status = (await page.textContent("#status")) ?? "";
  check(status.startsWith("Logged in"), `${what}: #status is "${status}", expected "Logged in…"`);
  check(status === expected, `${what}: #status is "${status}", expected "${expected}"`);
}

const texts = (page, selector) => page.locator(selector).allTextContents();

function expectIncludes(list, wanted, what) {
  const missing = wanted.filter((w) => !list.includes(w));
  check(missing.length === 0, `${what}: missing ${JSON.stringify(missing)} in ${JSON.stringify(list)}`);
}

async function legacy(page) {
  step(`open ${apiUrl}`);
  const response = await page.goto(apiUrl, { waitUntil: "load" });
  check(response && response.ok(), `GET ${apiUrl}: HTTP ${response && response.status()}`);
  check((await page.title()).includes("My API"), `unexpected page title "${await page.title()}"`);
  const fssUrl = await page.inputValue("#fss-url");
  check(/^http:\/\/127\.0\.0\.1:\d+$/.test(fssUrl), `#fss-url not filled in: "${fssUrl}"`);
  check((await page.textContent("#status")) === "Not logged in", "#status before any login");
  await page.click("#legacy > summary");

  // 1. Local login, then the fixture's items.
  await page.fill("#local-username", "admin");
  await page.fill("#local-password", "admin");
  await act(page, "local-login", "local login");
  await expectStatus(page, "Logged in as admin (local)", "local login");
  await act(page, "list-items", "list items (local)");
  expectIncludes(await texts(page, "#items li"), ["Item A", "Item B", "Item C", "Item D"], "items");

  // 2. Through Fake Social Site: concepts, then a new item.
  await page.fill("#fss-username", "admin");
  await page.fill("#fss-password", "admin");
  await act(page, "fss-login", "FSS login");
  await expectStatus(page, "Logged in as admin (via Fake Social Site)", "FSS login");
  await act(page, "list-concepts", "list concepts");
  const concepts = await texts(page, "#concepts li");
  expectIncludes(concepts, ["Concept A", "Concept B", "Concept C", "Concept A.1"], "concepts");
  const parent = await page
    .locator("#concepts li", { hasText: /^Concept A\.1$/ })
    .getAttribute("data-parent");
  check(parent === "Concept A", `Concept A.1's parent shown as "${parent}", expected "Concept A"`);
  await page.fill("#item-name", "Browser item");
  await act(page, "create-item", "create item");
  const items = await texts(page, "#items li");
  expectIncludes(items, ["Item A", "Browser item"], "items after create");
  check((await page.inputValue("#item-name")) === "", "#item-name not cleared after create");
  const owner = await page
    .locator("#items li", { hasText: /^Browser item$/ })
    .getAttribute("data-owner");
  check(owner && owner !== "admin", `new item's owner is "${owner}": not the social user`);

  // 3. Fake Social Site, looked up by username.
  await page.fill("#fssp-username", "user1");
  await page.fill("#fssp-password", "user1");
  await page.fill("#fssp-lookup-username", "user1");
  await act(page, "fssp-login", "FSS + username login");
  await expectStatus(page, "Logged in as user1 (via Fake Social Site, looked up by username)",
    "FSS + username login");
  await act(page, "list-items", "list items (user1)");
  expectIncludes(await texts(page, "#items li"),
    ["Item A", "Item B", "Item C", "Item D", "Browser item"], "items as user1");

  // The console shows each request, and never a whole token.
  await Promise.all(bodyReads);
  const consoleText = (await page.textContent("#console")) ?? "";
  for (const wanted of [
    `POST ${fssUrl}/o/token/`,
    `POST ${apiUrl}/o/token/`,
    `POST ${apiUrl}/users/register-by-token/fake_social_site/`,
    `POST ${apiUrl}/users/register-by-token/fake_social_site_with_params/`,
    `GET ${apiUrl}/api/items/`,
    `GET ${apiUrl}/api/concepts/`,
    `POST ${apiUrl}/api/items/`,
    "\u2190 200",
    "\u2190 201",
  ]) {
    check(consoleText.includes(wanted), `console does not show "${wanted}"`);
  }
  // Local login, two FSS logins and two exchanges: at least five access tokens.
  check(seenTokens.size >= 5, `only ${seenTokens.size} token(s) seen in responses`);
  const shownToken = (await page.textContent("#token")) ?? "";
  for (const token of seenTokens) {
    check(!consoleText.includes(token), "the console shows a whole token");
    check(!shownToken.includes(token), "#token shows a whole token");
  }
  for (const password of ["admin", "user1"]) {
    check(!consoleText.includes(`password=${password}`), "the console shows a password");
  }
  step(`console: ${consoleText.length} characters, none of ${seenTokens.size} tokens in full`);

  await page.screenshot({ path: screenshotPath, fullPage: true });
  step(`screenshot ${screenshotPath}`);

  // Log out: the token is revoked and the session cleared.
  await act(page, "logout", "log out");
  check((await page.textContent("#status")) === "Not logged in", "#status after logging out");
  check((await page.textContent("#token")) === "none", "#token after logging out");
  check((await page.textContent("#console")).includes(`POST ${apiUrl}/o/revoke_token/`),
    "console does not show the revocation");
}

// ---- signin ------------------------------------------------------------------

const PENDING_KEY = "my-api-page.signin"; // app.js keeps the sign-in in progress here
const SIGNED_IN_VIA = "via Fake Social Site, OpenID Connect";
const NEW_ITEM = "Signed-in item";

// Waits until the page has dealt with what its URL brought (the message shown, the sign-in
// button enabled again); returns [text, isError].
async function settled(page) {
  await page.waitForFunction(() => {
    const box = document.getElementById("message");
    return !box.hidden && box.textContent !== "" && !document.getElementById("signin").disabled;
  }, null, { timeout: ACTION_TIMEOUT_MS });
  return page.$eval("#message", (box) => [box.textContent, box.classList.contains("error")]);
}

// Opens the page fresh and clicks "Sign in with Fake Social Site": returns the authorization
// request FSS received (checked) once its login page is shown.
async function startSignIn(page) {
  step(`open ${apiUrl}`);
  const response = await page.goto(apiUrl, { waitUntil: "load" });
  check(response && response.ok(), `GET ${apiUrl}: HTTP ${response && response.status()}`);
  check((await page.textContent("#status")) === "Not logged in", "#status before signing in");
  check(!(await page.$eval("#legacy", (d) => d.open)), "the legacy section is open");
  for (const id of ["local-password", "fss-password", "fssp-password"]) {
    check(!(await page.isVisible(`#${id}`)), `#${id} is on the main path`);
  }
  const fssUrl = await page.getAttribute('meta[name="fake-social-site-url"]', "content");
  const clientId = await page.getAttribute('meta[name="fake-social-site-client-id"]', "content");
  check(/^http:\/\/127\.0\.0\.1:\d+$/.test(fssUrl), `FSS URL not filled in: "${fssUrl}"`);
  await Promise.all([
    page.waitForURL((url) => url.href.startsWith(`${fssUrl}/o/authorize/`)),
    page.click("#signin"),
  ]);
  const request = new URL(page.url()).searchParams;
  const expected = {
    response_type: "code",
    client_id: clientId,
    redirect_uri: `${apiUrl}/`,
    scope: "openid profile email read",
    code_challenge_method: "S256",
  };
  for (const [key, value] of Object.entries(expected)) {
    check(request.get(key) === value, `authorize ${key} is "${request.get(key)}", expected "${value}"`);
  }
  for (const key of ["state", "nonce", "code_challenge"]) {
    check(/^[A-Za-z0-9_-]{43,}$/.test(request.get(key) ?? ""), `authorize ${key}: "${request.get(key)}"`);
  }
  step("at FSS's authorization endpoint with code, PKCE S256, state and nonce");
  return { fssUrl, request };
}

async function signin(page, browser) {
  // Allow: back on the page, signed in as the local user.
  const { fssUrl, request } = await startSignIn(page);
  await logInAtFss(page, "user1", "user1");
  const landed = await decideAtFss(page, "Allow", `${apiUrl}/`);
  const code = landed.searchParams.get("code");
  check(code, `no code in ${landed.href}`);
  check(landed.searchParams.get("state") === request.get("state"), `state changed: ${landed.href}`);
  check(landed.searchParams.get("iss") === fssUrl, `iss is not FSS's: ${landed.href}`);
  const [text, isError] = await settled(page);
  check(!isError, `sign-in: the page reported an error: ${text}`);
  step(`sign-in: ${text}`);
  await expectStatus(page, `Logged in as user1 (${SIGNED_IN_VIA})`, "sign-in");
  check(page.url() === `${apiUrl}/`, `the code stayed in the address bar: ${page.url()}`);
  check(await page.evaluate((key) => sessionStorage.getItem(key) === null, PENDING_KEY),
    "the verifier, state and nonce outlived the sign-in");

  // Then the API as that user.
  await act(page, "list-items", "list items (signed in)");
  expectIncludes(await texts(page, "#items li"), ["Item A", "Item B", "Item C", "Item D"], "items");
  await page.fill("#item-name", NEW_ITEM);
  await act(page, "create-item", "create item (signed in)");
  expectIncludes(await texts(page, "#items li"), [NEW_ITEM], "items after create");
  const owner = await page.locator("#items li", { hasText: NEW_ITEM }).getAttribute("data-owner");
  check(owner === "user1", `the new item's owner is "${owner}", expected "user1"`);

  await Promise.all(bodyReads);
  const consoleText = (await page.textContent("#console")) ?? "";
  for (const wanted of [
    `POST ${fssUrl}/o/token/`,
    `POST ${apiUrl}/users/register-by-token/fake_social_site_oidc/`,
    `GET ${apiUrl}/api/me/`,
    `POST ${apiUrl}/api/items/`,
  ]) {
    check(consoleText.includes(wanted), `console does not show "${wanted}"`);
  }
  check(seenTokens.size >= 3, `only ${seenTokens.size} token(s) seen in responses`);
  for (const secret of [...seenTokens, code]) {
    check(!consoleText.includes(secret), "the console shows a whole token or code");
  }
  await page.screenshot({ path: screenshotPath, fullPage: true });
  step(`screenshot ${screenshotPath}`);
  console.log("user=user1");
  console.log(`item=${NEW_ITEM}`);

  // The same answer again: the sign-in is over, so the code is refused unredeemed (and left
  // in the address bar: it may be someone's hand-made request).
  const redeemed = tokenRequests;
  await page.goto(landed.href, { waitUntil: "load" });
  const [refusal, refused] = await settled(page);
  check(refused && refusal.startsWith("Refused the code"), `a replayed answer: "${refusal}"`);
  check(page.url() === landed.href, `a code this page did not ask for was removed: ${page.url()}`);
  // Answers to a sign-in in progress, with another state or from another issuer: refused,
  // and the sign-in they hit is spent.
  const SENT_STATE = "the-state-this-page-sent";
  for (const [state, iss, wanted] of [
    ["another-state", fssUrl, "its state is not the one this page sent"],
    [SENT_STATE, "http://127.0.0.1:9", "it comes from \"http://127.0.0.1:9\""],
  ]) {
    await page.evaluate(([key, pending]) => sessionStorage.setItem(key, JSON.stringify(pending)), [
      PENDING_KEY, { state: SENT_STATE, nonce: "n", verifier: "v", redirect_uri: `${apiUrl}/` },
    ]);
    const forged = new URL(`${apiUrl}/`);
    forged.search = new URLSearchParams({ code: "forged", state, iss }).toString();
    await page.goto(forged.href, { waitUntil: "load" });
    const [text, isError] = await settled(page);
    check(isError && text.includes(wanted), `an answer with state ${state}, iss ${iss}: "${text}"`);
    check(page.url() === `${apiUrl}/`, `a refused answer stayed in the address bar: ${page.url()}`);
    check(await page.evaluate((key) => sessionStorage.getItem(key) === null, PENDING_KEY),
      "a refused answer left the sign-in in progress");
  }
  check(tokenRequests === redeemed, "a refused answer was redeemed at /o/token/");
  check((await page.textContent("#status")) === "Not logged in", "#status after refused answers");
  step("a replayed answer, another state and another issuer are refused");

  // Deny, in a fresh browser context (no FSS session, no consent given before).
  const other = await newPage(browser);
  await startSignIn(other);
  await logInAtFss(other, "user2", "user2");
  const denied = await decideAtFss(other, "Deny", `${apiUrl}/`);
  check(denied.searchParams.get("error") === "access_denied", `no access_denied in ${denied.href}`);
  const [shown, isDenial] = await settled(other);
  check(isDenial && shown.includes("access_denied"), `Deny shown as "${shown}"`);
  check((await other.textContent("#status")) === "Not logged in", "#status after Deny");
  check((await other.textContent("#token")) === "none", "#token after Deny");
  check(other.url() === `${apiUrl}/`, `the answer stayed in the address bar: ${other.url()}`);
  step(`Deny: ${shown}`);
  console.log("denied=user2");
}

// ---- main --------------------------------------------------------------------

const VIEWPORT = { viewport: { width: 1200, height: 900 } };
// The page a failure's screenshot shows: the last one opened.
let current;
async function newPage(browser) {
  current = await openPage(browser, VIEWPORT);
  watch(current);
  return current;
}

const scenario = { legacy, signin }[scenarioName];
if (!scenario) {
  console.error(`usage: ${usage}`);
  process.exit(2);
}

let browser;
let exitCode = 0;
try {
  browser = await launch();
  const page = await newPage(browser);
  try {
    await scenario(page, browser);
  } catch (err) {
    // A screenshot also when a check failed: it shows where the page stopped.
    await current.screenshot({ path: screenshotPath, fullPage: true }).then(
      () => console.error(`screenshot of the failure: ${screenshotPath}`),
      (shotErr) => console.error(`screenshot failed: ${shotErr.message}`),
    );
    throw err;
  }
  check(pageErrors.length === 0, `page errors:\n  ${pageErrors.join("\n  ")}`);
  check(consoleErrors.length === 0, `browser console errors:\n  ${consoleErrors.join("\n  ")}`);
  step("all checks passed");
} catch (err) {
  exitCode = 1;
  console.error(`FAILED: ${err instanceof CheckFailed ? err.message : err.stack ?? err}`);
  for (const [title, list] of [
    ["page errors", pageErrors],
    ["browser console errors", consoleErrors],
    ["failed requests", failedRequests],
  ]) {
    if (list.length > 0) console.error(`${title}:\n  ${list.join("\n  ")}`);
  }
} finally {
  if (browser) await browser.close().catch(() => {});
}
process.exit(exitCode);
