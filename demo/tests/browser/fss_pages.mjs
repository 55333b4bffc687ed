// Fake Social Site's own pages as a person uses them: the login form, then the consent page.
// Shared by the scripts that sign in through them (oidc_login.mjs, drive.mjs).

import { check, step } from "./launch.mjs";

/** Fills and sends FSS's login form; returns once the consent page asks to Allow or Deny. */
export async function logInAtFss(page, username, password) {
  await page.getByLabel("Username").fill(username);
  await page.getByLabel("Password").fill(password);
  step(`FSS login form filled for ${username}`);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("button", { name: "Allow" }).waitFor();
  const consent = (await page.textContent("body")) ?? "";
  check(consent.includes("my-api-app"), `the consent page does not name the client:\n${consent}`);
  check(consent.includes(username), `the consent page does not name the user:\n${consent}`);
  step("FSS consent page shown");
}

/**
 * Clicks `decision` ("Allow" or "Deny") on the consent page and waits until the browser is
 * back at a URL starting with `redirectUri`; returns the URL FSS sent it to (taken from the
 * request: the page there may already have removed the answer from its address).
 */
export async function decideAtFss(page, decision, redirectUri) {
  const [request] = await Promise.all([
    page.waitForRequest((req) => req.isNavigationRequest() && req.url().startsWith(redirectUri)),
    page.waitForURL((url) => url.href.startsWith(redirectUri)),
    page.getByRole("button", { name: decision }).click(),
  ]);
  step(`${decision} clicked; back at ${redirectUri}`);
  return new URL(request.url());
}
