// The daemon's --web folder and --demo mode over plain HTTP: content types, ETag and 304,
// folders and their redirects, what is left out, the bounds, and that nothing of the demo
// answers without --demo. The pages themselves run in Chromium: web-pages.test.mjs.
import { test, describe, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createHash, createHmac } from "node:crypto";
import { startServer, request, jsonBody, TEST_JWT_SECRET } from "./helpers.mjs";
import { API } from "./helpdesk-helpers.mjs";

const dir = mkdtempSync(join(tmpdir(), "sb-web-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const files = {
  "widget.js": "console.log('widget');\n",
  "console/index.html": "<!doctype html><title>console</title>\n",
  "console/console.css": "body{}\n",
  "demo/index.html": "<!doctype html><title>demo</title>\n",
  "vendor/socket.io.min.js": "/* bundle */\n",
  "img/logo.svg": "<svg xmlns='http://www.w3.org/2000/svg'/>",
  "myindex.html": "<!doctype html><title>not a folder's</title>\n",
  ".secret": "hidden\n",
  "node_modules/x/index.js": "npm's\n",
  "package.json": "{}\n",
};
for (const [name, text] of Object.entries(files)) {
  mkdirSync(join(dir, name, ".."), { recursive: true });
  writeFileSync(join(dir, name), text);
}

async function get(srv, path, headers = {}, method = "GET", body) {
  const res = await request(srv.port, { method, path, headers, body });
  return res;
}

const etagOf = (text) => `"${createHash("sha256").update(text).digest("hex").slice(0, 32)}"`;

describe("--web without --demo", () => {
  let srv;
  test("start", async () => { srv = await startServer({ kind: "server", args: ["--web", dir] }); });

  test("files with their content type, an ETag of their content, no-cache and nosniff", async () => {
    for (const [path, type, name] of [
      ["/widget.js", "text/javascript; charset=utf-8", "widget.js"],
      ["/console/console.css", "text/css; charset=utf-8", "console/console.css"],
      ["/img/logo.svg", "image/svg+xml", "img/logo.svg"],
      ["/vendor/socket.io.min.js", "text/javascript; charset=utf-8", "vendor/socket.io.min.js"],
    ]) {
      const res = await get(srv, path);
      assert.equal(res.status, 200, path);
      assert.equal(res.headers["content-type"], type, path);
      assert.equal(res.body.toString(), files[name], path);
      assert.equal(res.headers.etag, etagOf(files[name]), path);
      assert.equal(res.headers["cache-control"], "no-cache", path);
      assert.equal(res.headers["x-content-type-options"], "nosniff", path);
    }
  });

  test("If-None-Match: 304 with no body for the same content, 200 for another", async () => {
    const etag = etagOf(files["widget.js"]);
    let res = await get(srv, "/widget.js", { "if-none-match": etag });
    assert.equal(res.status, 304);
    assert.equal(res.body.length, 0);
    assert.equal(res.headers.etag, etag);
    res = await get(srv, "/widget.js", { "if-none-match": `W/"0000", ${etag}` });
    assert.equal(res.status, 304, "a list naming it");
    res = await get(srv, "/widget.js", { "if-none-match": '"0000"' });
    assert.equal(res.status, 200);
  });

  test("a folder serves its index.html; without the slash it redirects", async () => {
    let res = await get(srv, "/console/");
    assert.equal(res.status, 200);
    assert.equal(res.headers["content-type"], "text/html; charset=utf-8");
    assert.equal(res.body.toString(), files["console/index.html"]);
    res = await get(srv, "/console");
    assert.equal(res.status, 301);
    assert.equal(res.headers.location, "/console/");
    res = await get(srv, "/console/index.html");
    assert.equal(res.status, 200);
  });

  test("hidden files, node_modules, npm's files, escapes and unknown paths: 404", async () => {
    for (const path of ["/.secret", "/node_modules/x/index.js", "/package.json", "/../widget.js",
      "/console/../widget.js", "/%2e%2e/widget.js", "/nope.js", "/img/", "/my", "/my/"]) {
      assert.equal((await get(srv, path)).status, 404, path);
    }
  });

  test("other methods: 405 with Allow", async () => {
    const res = await get(srv, "/widget.js", { "content-type": "text/plain" }, "POST", "x");
    assert.equal(res.status, 405);
    assert.equal(res.headers.allow, "GET");
  });

  test("nothing of the demo: /demo/, /, POST /demo/token, the demo widget key", async () => {
    assert.equal((await get(srv, "/demo/")).status, 404);
    assert.equal((await get(srv, "/")).status, 404);
    const body = JSON.stringify({ id: "agent-1" });
    assert.equal((await get(srv, "/demo/token", { "content-type": "application/json" }, "POST", body)).status, 404);
    const res = await get(srv, `${API}/visitors`, { "content-type": "application/json" }, "POST",
      JSON.stringify({ widget_key: "demo-widget" }));
    assert.equal(res.status, 401);
  });

  test("the helpdesk's own paths still answer beside the folder", async () => {
    assert.equal((await get(srv, "/healthz")).status, 200);
    assert.equal((await get(srv, "/metrics")).status, 200);
  });

  test("stop", async () => { await srv.stop(); });
});

describe("--demo", () => {
  let srv;
  test("start", async () => { srv = await startServer({ kind: "server", args: ["--web", dir, "--demo"] }); });

  test("/demo/ is served and / leads to it", async () => {
    let res = await get(srv, "/demo/");
    assert.equal(res.status, 200);
    assert.equal(res.body.toString(), files["demo/index.html"]);
    res = await get(srv, "/");
    assert.equal(res.status, 302);
    assert.equal(res.headers.location, "/demo/");
  });

  test("POST /demo/token signs an agent or supervisor token with the JWT secret", async () => {
    const res = await get(srv, "/demo/token", { "content-type": "application/json" }, "POST",
      JSON.stringify({ id: "agent-7", name: "Ada", role: "supervisor", dept: ["sales"] }));
    assert.equal(res.status, 200);
    const { token, expires_at } = jsonBody(res);
    const [h, p, s] = token.split(".");
    assert.equal(createHmac("sha256", TEST_JWT_SECRET).update(`${h}.${p}`).digest("base64url"), s);
    const claims = JSON.parse(Buffer.from(p, "base64url").toString());
    assert.equal(claims.sub, "agent-7");
    assert.equal(claims.role, "supervisor");
    assert.equal(claims.name, "Ada");
    assert.deepEqual(claims.dept, ["sales"]);
    assert.equal(claims.exp, expires_at);
    assert.ok(expires_at > Date.now() / 1000 + 3600);
  });

  test("refusals: bad JSON, an id that is not plain, a customer role, GET", async () => {
    for (const body of ["{", JSON.stringify({ id: "a b" }), JSON.stringify({ id: "c", role: "customer" }),
      JSON.stringify({ name: "no id" }), JSON.stringify({ id: "x", dept: "sales" })]) {
      const res = await get(srv, "/demo/token", { "content-type": "application/json" }, "POST", body);
      assert.equal(res.status, 400, body);
      assert.equal(jsonBody(res).error.code, "bad_request");
    }
    assert.equal((await get(srv, "/demo/token")).status, 405);
  });

  test("the demo widget key registers visitors from the relay's own origin only", async () => {
    const body = JSON.stringify({ widget_key: "demo-widget", name: "Vic" });
    const own = `http://127.0.0.1:${srv.port}`;
    let res = await get(srv, `${API}/visitors`, { "content-type": "application/json", origin: own }, "POST", body);
    assert.equal(res.status, 201);
    assert.match(jsonBody(res).data.session_id, /^v_/);
    res = await get(srv, `${API}/visitors`, { "content-type": "application/json", origin: `http://127.0.0.1:${srv.port + 1}` }, "POST", body);
    assert.equal(res.status, 403, "another port is another origin");
    res = await get(srv, `${API}/visitors`, { "content-type": "application/json", origin: "http://evil.example" }, "POST", body);
    assert.equal(res.status, 403);
  });

  test("stop", async () => { await srv.stop(); });
});

describe("start-up refusals", () => {
  async function refused(args, pattern, env = {}) {
    await assert.rejects(startServer({ kind: "server", args, env, readyTimeoutMs: 3000 }), pattern);
  }

  test("--demo on an address other than loopback", async () => {
    await refused(["--demo", "--host", "0.0.0.0"], /--demo gives agent tokens to anyone/);
  });

  test("--demo without a JWT secret", async () => {
    await refused(["--demo"], /--demo needs --jwt-secret/, { SWITCHBOARD_JWT_SECRET: "" });
  });

  test("--web of a missing folder", async () => {
    await refused(["--web", join(dir, "missing")], /--web: .*missing: No such file/);
  });

  test("--web beyond the bounds: more than 512 files", async () => {
    const big = mkdtempSync(join(tmpdir(), "sb-web-big-"));
    try {
      for (let i = 0; i < 513; i++) writeFileSync(join(big, `f${i}.txt`), "x");
      await refused(["--web", big], /more files than the limit of 512/);
    } finally {
      rmSync(big, { recursive: true, force: true });
    }
  });
});
