// Signs in at Fake Social Site as a person would, in headless Chromium: opens the
// authorization URL, fills the login form, clicks Allow on the consent page, and checks that
// the browser lands on the redirect URI with a code and the state.
//
//   node oidc_login.mjs <authorize_url> <redirect_uri> <state> <username> <password>
//
// The redirect URI is a page the test serves on loopback. Prints `code=<code>` on success.
// Same Chromium and launch options as drive.mjs. Run by demo/tests/oidc_browser.rs.

import { chromium } from "playwright-core";

const [authorizeUrl, redirectUri, state, username, password] = process.argv.slice(2);
if (!authorizeUrl || !redirectUri || !state || !username || !password) {
  console.error("usage: node oidc_login.mjs <authorize_url> <redirect_uri> <state> <username> <password>");
  process.exit(2);
}
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
const ACTION_TIMEOUT_MS = 15_000;

// The network here is closed: keep Chromium from calling home.
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

const started = Date.now();
const step = (text) => console.log(`[${((Date.now() - started) / 1000).toFixed(1)}s] ${text}`);

class CheckFailed extends Error {}
function check(condition, message) {
  if (!condition) throw new CheckFailed(message);
}

async function run(page) {
  const pageErrors = [];
  const consoleErrors = [];
  page.on("pageerror", (err) => pageErrors.push(String(err)));
  page.on("console", (msg) => {
    if (msg.type() === "error") consoleErrors.push(msg.text());
  });
  const first = await page.goto(authorizeUrl);
  check(first.status() === 200, `the authorization URL answered ${first.status()}`);
  const framing = first.headers()["content-security-policy"] || "";
  check(framing.includes("frame-ancestors 'none'"), `no frame-ancestors 'none': ${framing}`);
  await page.getByLabel("Username").fill(username);
  await page.getByLabel("Password").fill(password);
  step("login form filled");
  await page.getByRole("button", { name: "Sign in" }).click();

  await page.getByRole("button", { name: "Allow" }).waitFor();
  const consent = await page.textContent("body");
  check(consent.includes("my-api-app"), `the consent page does not name the client:\n${consent}`);
  check(consent.includes(username), `the consent page does not name the user:\n${consent}`);
  step("consent page shown");
  await Promise.all([
    page.waitForURL((url) => url.href.startsWith(redirectUri)),
    page.getByRole("button", { name: "Allow" }).click(),
  ]);

  const landed = new URL(page.url());
  const code = landed.searchParams.get("code");
  check(code && code.length >= 43, `no code in ${landed.href}`);
  check(landed.searchParams.get("state") === state, `state not returned unchanged: ${landed.href}`);
  check(pageErrors.length === 0, `page errors:\n  ${pageErrors.join("\n  ")}`);
  check(consoleErrors.length === 0, `browser console errors:\n  ${consoleErrors.join("\n  ")}`);
  step("landed on the redirect URI with a code and the state");
  console.log(`code=${code}`);
}

let browser;
try {
  browser = await chromium.launch({ executablePath, headless: true, args: CHROMIUM_ARGS });
  step(`launched ${executablePath} ${browser.version()}`);
  const page = await browser.newPage();
  page.setDefaultTimeout(ACTION_TIMEOUT_MS);
  await run(page);
} catch (err) {
  console.error(err instanceof CheckFailed ? `check failed: ${err.message}` : err);
  process.exitCode = 1;
} finally {
  if (browser) await browser.close().catch(() => {});
}
