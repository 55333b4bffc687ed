// Drives My API's test page in headless Chromium: the three logins, items and concepts.
//
//   node drive.mjs <my_api_url> <screenshot_path>
//
// Chromium as launch.mjs finds it. Exits non-zero with a message on any failed check, page
// error or console error. Run by demo/tests/browser.rs.

import { ACTION_TIMEOUT_MS, args, check, CheckFailed, launch, openPage, step } from "./launch.mjs";

const [apiUrl, screenshotPath] = args(2, "node drive.mjs <my_api_url> <screenshot_path>");

const pageErrors = [];
const consoleErrors = [];
const failedRequests = [];
// Every token value seen in a /o/token/ or register-by-token response (My API's and FSS's).
const seenTokens = new Set();
const bodyReads = [];

function watch(page) {
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
          for (const key of ["access_token", "refresh_token"]) {
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

async function run(page) {
  step(`open ${apiUrl}`);
  const response = await page.goto(apiUrl, { waitUntil: "load" });
  check(response && response.ok(), `GET ${apiUrl}: HTTP ${response && response.status()}`);
  check((await page.title()).includes("My API"), `unexpected page title "${await page.title()}"`);
  const fssUrl = await page.inputValue("#fss-url");
  check(/^http:\/\/127\.0\.0\.1:\d+$/.test(fssUrl), `#fss-url not filled in: "${fssUrl}"`);
  check((await page.textContent("#status")) === "Not logged in", "#status before any login");

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

let browser;
let exitCode = 0;
try {
  browser = await launch();
  const page = await openPage(browser, { viewport: { width: 1200, height: 900 } });
  watch(page);
  try {
    await run(page);
  } catch (err) {
    // A screenshot also when a check failed: it shows where the page stopped.
    await page.screenshot({ path: screenshotPath, fullPage: true }).then(
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
