// admin-ui.test.mjs: the real Admin UI (the built pages of @socket.io/admin-ui 0.5.1, its
// ui/dist, served by a small Node HTTP server on 127.0.0.1) in headless Chromium, pointed at
// switchboard's /admin: an operator fills the connection form, sees the server and the
// connected sockets, and disconnects one of them from the sockets page.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { hostname } from "node:os";
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, extname, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";
import { HOST, ms, bounded, startServer, client, connected, waitEvent, closeClients } from "./helpers.mjs";
import { launchBrowser, waitText, shot, DESKTOP } from "./browser-helpers.mjs";

const require = createRequire(import.meta.url);
const bcrypt = require("bcryptjs");
const UI_DIR = join(dirname(fileURLToPath(import.meta.url)), "node_modules", "@socket.io", "admin-ui", "ui", "dist");
const USER = "operator";
const PASSWORD = "ui-test-password";
const SERVER_ID = "switchboard-under-test";
const TYPES = { ".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".png": "image/png", ".svg": "image/svg+xml", ".map": "application/json" };

// The UI's files as the hosted admin.socket.io serves them (a static site).
function serveUi() {
  const server = http.createServer(async (req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url, "http://x").pathname)).replace(/^(\.\.[/\\])+/, "");
    try {
      const body = await readFile(join(UI_DIR, path === "/" ? "index.html" : path));
      res.writeHead(200, { "Content-Type": TYPES[extname(path) || ".html"] ?? "application/octet-stream" });
      res.end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  return new Promise((resolve) => server.listen(0, HOST, () => resolve(server)));
}

// A page in its own context. Requests leave this machine only for loopback: the UI's web
// fonts and icon font (Google Fonts, jsDelivr) are refused, and the page does without.
async function openUi(browser, url) {
  const context = await browser.newContext({ viewport: DESKTOP, deviceScaleFactor: 1 });
  await context.route("**/*", (route) => {
    const { hostname } = new URL(route.request().url());
    return hostname === HOST ? route.continue() : route.abort();
  });
  const page = await context.newPage();
  page.problems = [];
  page.on("pageerror", (e) => page.problems.push(`page error: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error" && !/Failed to load resource: net::ERR_FAILED/.test(m.text())) page.problems.push(`console.error: ${m.text()}`);
  });
  page.setDefaultTimeout(ms(10000));
  await page.goto(url);
  return page;
}

const browser = await launchBrowser();

describe("the Admin UI (@socket.io/admin-ui 0.5.1's pages) on switchboard", () => {
  let ui, srv, uiUrl;
  before(async () => {
    ui = await serveUi();
    uiUrl = `http://${HOST}:${ui.address().port}`;
    srv = await startServer({
      kind: "server",
      args: ["--admin-user", USER, "--admin-server-id", SERVER_ID, "--cors-origin", uiUrl, "--cors-credentials"],
      env: { SWITCHBOARD_ADMIN_PASSWORD_HASH: bcrypt.hashSync(PASSWORD, 8) },
    });
  });
  after(async () => {
    closeClients();
    await srv?.stop();
    await new Promise((resolve) => ui.close(resolve));
  });

  it("logs in, shows the server and the sockets, and disconnects one", bounded(60000), async () => {
    const a = client(srv, "/", { transports: ["websocket"] });
    const b = client(srv, "/", { transports: ["polling"] });
    await Promise.all([connected(a), connected(b)]);
    const [idA, idB] = [a.id, b.id];

    const page = await openUi(browser, uiUrl);
    await page.getByLabel("Server URL").fill(srv.url);
    await page.getByLabel("Username").fill(USER);
    await page.getByLabel("Password").fill(PASSWORD);
    await page.getByRole("button", { name: "Connect" }).click();
    await page.getByLabel("Server URL").waitFor({ state: "hidden" });
    // The UI keeps where it connected, as its connection store does.
    assert.equal(await page.evaluate(() => localStorage.getItem("server_url")), srv.url);
    assert.match(await page.evaluate(() => localStorage.getItem("session_id")), /^[0-9a-f]{16}$/);

    // The navigation an operator uses: the sockets pages are there because the server says
    // it runs in development mode (ALL_EVENTS), as Node's instrument() does by default.
    await page.getByRole("link", { name: "Servers" }).click();
    const servers = await waitText(page.locator("table"), new RegExp(SERVER_ID), ms(8000));
    assert.ok(servers.includes(hostname()), `the host name in ${servers}`);
    assert.match(servers, /Healthy/, servers);

    await page.getByRole("link", { name: "Sockets" }).click();
    const rows = page.locator("tbody");
    const listed = await waitText(rows, new RegExp(`${idA}[\\s\\S]*|${idB}`));
    for (const id of [idA, idB]) assert.ok(listed.includes(id), `${id} in ${listed}`);
    assert.match(listed, /WebSocket/);
    assert.match(listed, /HTTP long-polling/);
    await page.waitForTimeout(ms(800)); // the page transition, for the picture
    await shot(page, "admin-ui-sockets");

    const gone = waitEvent(a, "disconnect", ms(10000));
    await page.locator("tr", { hasText: idA }).locator("button").click();
    assert.deepEqual(await gone, ["io server disconnect", undefined]);
    assert.ok(b.connected, "only the socket whose button was clicked");
    assert.deepEqual(page.problems, [], "the page reported problems");
  });
});
