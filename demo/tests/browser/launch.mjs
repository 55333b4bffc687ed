// What the browser scripts share: their command line, Chromium launched with the network
// closed, timed steps and checks. Chromium: /usr/bin/chromium, or the path in $CHROMIUM.

import { chromium } from "playwright-core";

export const ACTION_TIMEOUT_MS = 15_000;

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

/** The script's `count` arguments; prints `usage` and exits 2 when one is missing or empty. */
export function args(count, usage) {
  const given = process.argv.slice(2, 2 + count);
  if (given.length < count || given.some((arg) => !arg)) {
    console.error(`usage: ${usage}`);
    process.exit(2);
  }
  return given;
}

const started = Date.now();
export const step = (text) => console.log(`[${((Date.now() - started) / 1000).toFixed(1)}s] ${text}`);

export class CheckFailed extends Error {}
export function check(condition, message) {
  if (!condition) throw new CheckFailed(message);
}

/** Headless Chromium, launched with the closed-network options. */
export async function launch() {
  const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
  const browser = await chromium.launch({ executablePath, headless: true, args: CHROMIUM_ARGS });
  step(`launched ${executablePath} ${browser.version()}`);
  return browser;
}

/** A new page of `browser` whose actions give up after ACTION_TIMEOUT_MS. */
export async function openPage(browser, options = {}) {
  const page = await browser.newPage(options);
  page.setDefaultTimeout(ACTION_TIMEOUT_MS);
  return page;
}
