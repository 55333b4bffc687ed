// Signs in at Fake Social Site as a person would, in headless Chromium: opens the
// authorization URL, fills the login form, clicks Allow on the consent page, and checks that
// the browser lands on the redirect URI with a code and the state.
//
//   node oidc_login.mjs <authorize_url> <redirect_uri> <state> <username> <password>
//
// The redirect URI is a page the test serves on loopback. Prints `code=<code>` on success.
// Chromium and its options from launch.mjs. Run by demo/tests/oidc_browser.rs.

import { decideAtFss, logInAtFss } from "./fss_pages.mjs";
import { args, check, CheckFailed, launch, openPage, step } from "./launch.mjs";

const [authorizeUrl, redirectUri, state, username, password] = args(
  5,
  "node oidc_login.mjs <authorize_url> <redirect_uri> <state> <username> <password>",
);

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
  await logInAtFss(page, username, password);
  const landed = await decideAtFss(page, "Allow", redirectUri);
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
  browser = await launch();
  const page = await openPage(browser);
  await run(page);
} catch (err) {
  console.error(err instanceof CheckFailed ? `check failed: ${err.message}` : err);
  process.exitCode = 1;
} finally {
  if (browser) await browser.close().catch(() => {});
}
