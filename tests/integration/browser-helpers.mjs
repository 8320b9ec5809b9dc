// The browser the page tests drive: Debian's Chromium through playwright-core (both
// installed by scripts/setup.sh), headless, each page's console errors and uncaught
// exceptions collected so a test can require that there were none.
import { after } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { ms } from "./helpers.mjs";

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const WEB_DIR = join(ROOT, "web");
export const CHROMIUM = process.env.CHROMIUM_BIN || "/usr/bin/chromium";
export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 390, height: 844 };

// The screenshots the README shows are these tests' own: written to docs/screenshots/ when
// SB_UPDATE_SCREENSHOTS=1, else to a temporary folder (taken and checked all the same).
export const SHOTS_DIR = process.env.SB_UPDATE_SCREENSHOTS === "1"
  ? join(ROOT, "docs", "screenshots")
  : mkdtempSync(join(tmpdir(), "sb-shots-"));
mkdirSync(SHOTS_DIR, { recursive: true });

export async function launchBrowser() {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: scripts/setup.sh installs Debian's chromium`);
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"],
  });
  after(() => browser.close());
  return browser;
}

// A page in a context of its own (its own storage: one visitor, one agent), with what went
// wrong in it kept in page.problems. Failed requests for the relay while it is stopped on
// purpose are the browser's, not the page's: a test that restarts the daemon says which
// messages it expects (allow).
export async function openPage(browser, url, { viewport = DESKTOP, allow = [] } = {}) {
  const context = await browser.newContext({ viewport, deviceScaleFactor: 1 });
  const page = await context.newPage();
  page.problems = [];
  page.allow = allow;
  page.websockets = [];
  page.on("console", (m) => {
    if (m.type() === "error" || m.type() === "warning") page.problems.push(`console.${m.type()}: ${m.text()}`);
  });
  page.on("pageerror", (e) => page.problems.push(`page error: ${e.message}`));
  page.on("websocket", (ws) => page.websockets.push(ws.url()));
  page.setDefaultTimeout(ms(10000));
  await page.goto(url);
  return page;
}

export function assertNoProblems(page) {
  const left = page.problems.filter((p) => !page.allow.some((re) => re.test(p)));
  assert.deepEqual(left, [], `the page at ${page.url()} reported problems`);
}

// Text that a locator must come to contain.
export async function waitText(locator, pattern, timeout = ms(10000)) {
  const deadline = Date.now() + timeout;
  let last = "";
  while (Date.now() < deadline) {
    last = (await locator.allTextContents().catch(() => [])).join(" | ");
    if (pattern.test(last)) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`expected ${pattern} in the text, last seen: ${JSON.stringify(last.slice(0, 300))}`);
}

export async function shot(page, name) {
  const path = join(SHOTS_DIR, `${name}.png`);
  const buf = await page.screenshot({ path });
  assert.ok(buf.length > 5000, `${name}: a screenshot of something`);
  return path;
}
