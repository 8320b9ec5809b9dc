// Website visitors (spec §1, v1.1): a page registers a visitor with a public widget key
// (POST /api/v1/helpdesk/visitors, checked against the --cors-origin origins), gets a
// visitor token the relay signed, connects with the real socket.io-client and writes; the
// agent sees who it is (customer {session_id, name, email, fields}). Refresh, identity
// verification (user_id + user_hash: one session u_<id> on every device), the refusals, the
// rate limit per client address, and the CORS preflight of the REST path. Also a backend's
// customer token with email and fields. Run embedded and, as the ".redis" entry, on Redis.

import { describe, test, afterEach } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import http from "node:http";
import { spawn } from "node:child_process";
import { waitEvent, sleep, ms, bounded, binary, sanitizerReport, HOST } from "./helpers.mjs";
import { eventually } from "./cluster-helpers.mjs";
import {
  useHelpdesk, agent, customer, hdClient, online, closeHdClients, send, jwt, refusal, API, TEST_API_KEY,
} from "./helpdesk-helpers.mjs";

afterEach(() => closeHdClients());

const WIDGET_KEY = "wk_public_shop_01";
const WIDGET_KEY_2 = "wk_public_blog_02";
const IDENTITY_SECRET = "identity-secret-0123456789abcdef";
const SHOP = "http://shop.example";
const BLOG = "https://blog.example:8443";
const EVIL = "http://evil.example";
const VISITOR_ARGS = [
  "--widget-key", WIDGET_KEY, "--widget-key", WIDGET_KEY_2, "--identity-secret", IDENTITY_SECRET,
  "--cors-origin", `${SHOP}, ${BLOG}`,
];
const DAY_S = 24 * 3600;

const userHash = (userId, secret = IDENTITY_SECRET) => crypto.createHmac("sha256", secret).update(userId).digest("hex");
const claimsOf = (token) => JSON.parse(Buffer.from(token.split(".")[1], "base64url").toString());

// A registration as a page's script makes it: fetch() with the page's Origin.
async function register(srv, body, { origin = SHOP, headers = {} } = {}) {
  const h = { "content-type": "application/json", ...headers };
  if (origin) h.origin = origin;
  const res = await fetch(`${srv.url}${API}/visitors`, {
    method: "POST", headers: h, body: typeof body === "string" ? body : JSON.stringify(body), signal: AbortSignal.timeout(ms(5000)),
  });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* asserted by the caller */ }
  return { status: res.status, headers: res.headers, body: json, text };
}

async function refresh(srv, token, { origin = SHOP } = {}) {
  const h = {};
  if (origin) h.origin = origin;
  if (token !== undefined) h.authorization = `Bearer ${token}`;
  const res = await fetch(`${srv.url}${API}/visitors/refresh`, { method: "POST", headers: h, signal: AbortSignal.timeout(ms(5000)) });
  return { status: res.status, headers: res.headers, body: JSON.parse(await res.text()) };
}

function assertRegistered(r, { session } = {}) {
  assert.equal(r.status, 201, `registration: ${r.status} ${r.text}`);
  assert.deepEqual(Object.keys(r.body).sort(), ["data", "status_code"]);
  assert.equal(r.body.status_code, 200);
  assert.deepEqual(Object.keys(r.body.data).sort(), ["expires_at", "session_id", "visitor_token"]);
  if (session instanceof RegExp) assert.match(r.body.data.session_id, session);
  else if (session) assert.equal(r.body.data.session_id, session);
  assert.match(r.body.data.expires_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  return r.body.data;
}

const visitorSocket = (srv, token) => online(hdClient(srv, token));
// Agents that can take every conversation the file leaves queued.
const freeAgent = (srv, id) => agent(srv, id, { max_chats: 100 });

// Every payload of event at socket, and the one of a conversation once it came.
function collect(socket, event) {
  const got = [];
  socket.on(event, (x) => got.push(x));
  return got;
}
async function forChat(list, chat, what) {
  let hit;
  await eventually(() => {
    hit = list.find((x) => x.ticket_chat_id === chat);
    assert.ok(hit, `${what} of ${chat}`);
  });
  return hit;
}

describe("visitors: registration, the conversation, refresh", () => {
  const srv = useHelpdesk({ args: [...VISITOR_ARGS, "--visitor-rate", "1000"] });

  test("a visitor registers from the page, connects with its token and writes; the agent sees who it is", bounded(30000), async () => {
    const a = await freeAgent(srv, "vis-agent-1");
    const inquiries = collect(a, "inquiry");
    const assigned = collect(a, "assigned");
    const fields = { plan: "pro", seats: 12, trial: false };
    const before = Date.now();
    const r = await register(srv, { widget_key: WIDGET_KEY, name: "Vera Visitor", email: "vera@example.com", fields });
    const data = assertRegistered(r, { session: /^v_[A-Za-z0-9_-]{22}$/ });
    assert.equal(r.headers.get("access-control-allow-origin"), SHOP, "the page may read the answer");
    const exp = Date.parse(data.expires_at);
    assert.ok(exp >= before + 30 * DAY_S * 1000 - 2000 && exp <= Date.now() + 30 * DAY_S * 1000 + 2000, `expires_at ${data.expires_at}: 30 days`);
    const claims = claimsOf(data.visitor_token);
    assert.equal(claims.sub, data.session_id);
    assert.equal(claims.role, "customer");
    assert.equal(claims.vis, 1);
    assert.equal(claims.exp * 1000, exp);
    assert.deepEqual([claims.name, claims.email, claims.fields], ["Vera Visitor", "vera@example.com", fields]);

    const c = await visitorSocket(srv, data.visitor_token);
    const sent = await send(c, "hello from the website", { session_id: data.session_id });
    assert.equal(sent.status_code, 200, JSON.stringify(sent));
    assert.equal(sent.data.session_id, data.session_id);
    assert.deepEqual(sent.data.sender, { type: "customer", id: data.session_id, name: "Vera Visitor" });
    const who = { session_id: data.session_id, name: "Vera Visitor", email: "vera@example.com", fields };
    const inq = await forChat(inquiries, sent.data.ticket_chat_id, "inquiry");
    assert.deepEqual(inq.customer, who, "inquiry: the customer");
    const asg = await forChat(assigned, sent.data.ticket_chat_id, "assigned");
    assert.deepEqual(asg.customer, who, "assigned: the customer");
  });

  test("the second widget key and the second origin work too; a request without Origin (server to server) is allowed", bounded(15000), async () => {
    assertRegistered(await register(srv, { widget_key: WIDGET_KEY_2 }, { origin: BLOG }), { session: /^v_/ });
    const r = await register(srv, { widget_key: WIDGET_KEY }, { origin: null });
    const data = assertRegistered(r, { session: /^v_/ });
    const claims = claimsOf(data.visitor_token);
    assert.equal(claims.name, undefined, "no name given: no name claim");
    assert.equal(claims.email, undefined);
    assert.equal(claims.fields, undefined);
    // Two registrations are two sessions.
    const other = assertRegistered(await register(srv, { widget_key: WIDGET_KEY }));
    assert.notEqual(other.session_id, data.session_id);
  });

  test("refresh: a new token for the same session and details, which connects and finds its conversation", bounded(30000), async () => {
    const data = assertRegistered(await register(srv, { widget_key: WIDGET_KEY, name: "Rita", email: "rita@example.com", fields: { tier: "gold" } }));
    const c1 = await visitorSocket(srv, data.visitor_token);
    const first = await send(c1, "before the refresh", { session_id: data.session_id });
    assert.equal(first.status_code, 200);
    c1.close();
    await sleep(1100); // a later second: the new token expires later
    const r = await refresh(srv, data.visitor_token);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.headers.get("access-control-allow-origin"), SHOP);
    assert.equal(r.body.status_code, 200);
    assert.equal(r.body.data.session_id, data.session_id);
    assert.notEqual(r.body.data.visitor_token, data.visitor_token);
    assert.ok(Date.parse(r.body.data.expires_at) > Date.parse(data.expires_at), "the expiry moves on");
    const before = claimsOf(data.visitor_token), after = claimsOf(r.body.data.visitor_token);
    for (const k of ["sub", "role", "name", "email", "fields", "vis"]) assert.deepEqual(after[k], before[k], k);

    const c2 = await visitorSocket(srv, r.body.data.visitor_token);
    const second = await send(c2, "after the refresh", { session_id: data.session_id });
    assert.equal(second.status_code, 200);
    assert.equal(second.data.ticket_chat_id, first.data.ticket_chat_id, "the same session's open conversation");
    assert.equal(second.data.seq, 2);
  });

  test("refresh refusals: no token, an expired visitor token, a token that is not a visitor's", bounded(15000), async () => {
    let r = await refresh(srv, undefined);
    assert.equal(r.status, 401);
    assert.equal(r.body.error.message, "missing_token");
    r = await refresh(srv, "not-a-token");
    assert.equal(r.status, 401);
    const expired = jwt({ sub: "v_expired", role: "customer", vis: 1 }, { expIn: -3600 });
    r = await refresh(srv, expired);
    assert.equal(r.status, 401);
    assert.equal(r.body.error.message, "token_expired");
    r = await refresh(srv, jwt({ sub: "s-backend", role: "customer" }));
    assert.equal(r.status, 403, "a backend's customer token is the backend's to renew");
    r = await refresh(srv, jwt({ sub: "ag", role: "agent" }));
    assert.equal(r.status, 403);
    r = await refresh(srv, TEST_API_KEY);
    assert.equal(r.status, 403);
    const data = assertRegistered(await register(srv, { widget_key: WIDGET_KEY }));
    r = await refresh(srv, data.visitor_token, { origin: EVIL });
    assert.equal(r.status, 403, "refresh is held to the origins too");
    assert.equal(r.headers.get("access-control-allow-origin"), null);
  });

  test("identity verification: the same user on two devices is one session u_<id> and one conversation", bounded(30000), async () => {
    const a = await freeAgent(srv, "vis-agent-2");
    const assigned = collect(a, "assigned");
    const user = "user-42";
    const d1 = assertRegistered(await register(srv, { widget_key: WIDGET_KEY, name: "Uma", user_id: user, user_hash: userHash(user) }), { session: `u_${user}` });
    const d2 = assertRegistered(await register(srv, { widget_key: WIDGET_KEY_2, name: "Uma", user_id: user, user_hash: userHash(user).toUpperCase() }, { origin: BLOG }), { session: `u_${user}` });
    const phone = await visitorSocket(srv, d1.visitor_token);
    const laptop = await visitorSocket(srv, d2.visitor_token);
    const laptopGets = waitEvent(laptop, "support");
    const m1 = await send(phone, "from my phone", { session_id: `u_${user}` });
    assert.equal(m1.status_code, 200);
    assert.deepEqual((await laptopGets)[0].data, m1.data, "the other device is in the session");
    const m2 = await send(laptop, "and from my laptop", { session_id: `u_${user}` });
    assert.equal(m2.status_code, 200);
    assert.equal(m2.data.ticket_chat_id, m1.data.ticket_chat_id, "one conversation");
    const asg = await forChat(assigned, m1.data.ticket_chat_id, "assigned");
    assert.deepEqual(asg.customer, { session_id: `u_${user}`, name: "Uma", email: null, fields: null });
  });

  test("identity refusals: a wrong or missing user_hash is 401, a malformed user_id 400", bounded(15000), async () => {
    const base = { widget_key: WIDGET_KEY, user_id: "user-7" };
    for (const [body, status] of [
      [{ ...base, user_hash: userHash("user-8") }, 401],
      [{ ...base, user_hash: userHash("user-7", "another-secret-0123456789") }, 401],
      [{ ...base, user_hash: userHash("user-7").slice(1) }, 401],
      [{ ...base }, 401],
      [{ widget_key: WIDGET_KEY, user_hash: userHash("user-7") }, 400],
      [{ ...base, user_id: "has space", user_hash: userHash("has space") }, 400],
      [{ ...base, user_id: 42 }, 400],
      [{ ...base, user_id: "x".repeat(200), user_hash: userHash("x".repeat(200)) }, 400],
    ]) {
      const r = await register(srv, body);
      assert.equal(r.status, status, `${JSON.stringify(body).slice(0, 120)}: ${r.status} ${r.text}`);
      if (status === 401) assert.equal(r.body.error.code, "unauthorized");
    }
  });

  test("refusals: unknown widget key 401, an origin not configured 403, bad JSON 400, oversize details 413", bounded(20000), async () => {
    let r = await register(srv, { widget_key: "wk_unknown_key_99" });
    assert.equal(r.status, 401);
    assert.deepEqual(r.body.error.code, "unauthorized");
    r = await register(srv, {});
    assert.equal(r.status, 401, "no widget key");
    r = await register(srv, { widget_key: WIDGET_KEY }, { origin: EVIL });
    assert.equal(r.status, 403);
    assert.equal(r.body.error.code, "forbidden");
    assert.equal(r.headers.get("access-control-allow-origin"), null, "the foreign page cannot read it either");
    for (const origin of [`${SHOP}.evil.example`, "http://shop.exampl", "null", `${SHOP}/`]) {
      r = await register(srv, { widget_key: WIDGET_KEY }, { origin });
      assert.equal(r.status, 403, origin);
    }
    r = await register(srv, { widget_key: WIDGET_KEY }, { origin: `http://${"o".repeat(2000)}.example` });
    assert.equal(r.status, 403, "a long Origin is not taken for none");
    for (const body of ["{not json", "[1,2]", "\"widget\"", ""]) {
      r = await register(srv, body);
      assert.equal(r.status, 400, `body ${body}`);
      assert.equal(r.body.error.code, "bad_request");
    }
    const tooMany = Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`k${i}`, i]));
    const big = [
      { fields: tooMany }, { fields: { note: "n".repeat(513) } }, { fields: { ["k".repeat(65)]: 1 } },
      { fields: Object.fromEntries(Array.from({ length: 5 }, (_, i) => [`k${i}`, "v".repeat(500)])) },
      { name: "N".repeat(129) }, { email: `${"e".repeat(250)}@example.com` },
    ];
    for (const extra of big) {
      r = await register(srv, { widget_key: WIDGET_KEY, ...extra });
      assert.equal(r.status, 413, `${JSON.stringify(extra).slice(0, 80)}: ${r.status} ${r.text}`);
      assert.equal(r.body.error.code, "too_large");
    }
    for (const extra of [{ fields: { a: { b: 1 } } }, { fields: { a: [1] } }, { fields: { a: null } }, { fields: [1] }, { email: "not-an-email" }, { name: 7 }, { name: "a\nb" }]) {
      r = await register(srv, { widget_key: WIDGET_KEY, ...extra });
      assert.equal(r.status, 400, `${JSON.stringify(extra)}: ${r.status} ${r.text}`);
    }
    // At the bounds: accepted.
    const atBounds = Object.fromEntries(Array.from({ length: 32 }, (_, i) => [`k${i}`, i % 2 ? `v${i}` : i]));
    assertRegistered(await register(srv, { widget_key: WIDGET_KEY, name: "N".repeat(128), fields: atBounds }));
    const get = await fetch(`${srv.url}${API}/visitors`, { headers: { origin: SHOP } });
    assert.equal(get.status, 405);
    // The server is fine after all that.
    assertRegistered(await register(srv, { widget_key: WIDGET_KEY }));
  });

  test("CORS preflight of the REST path: 204 with the allow headers, for a configured origin only", bounded(10000), async () => {
    const preflight = (origin, extra = {}) => fetch(`${srv.url}${API}/visitors`, {
      method: "OPTIONS", headers: { origin, "access-control-request-method": "POST", ...extra },
    });
    let res = await preflight(SHOP, { "access-control-request-headers": "content-type" });
    assert.equal(res.status, 204);
    assert.equal(res.headers.get("access-control-allow-origin"), SHOP);
    assert.ok(res.headers.get("access-control-allow-methods").split(",").includes("POST"), res.headers.get("access-control-allow-methods"));
    assert.equal(res.headers.get("access-control-allow-headers").toLowerCase(), "content-type");
    res = await preflight(BLOG);
    assert.equal(res.status, 204);
    assert.equal(res.headers.get("access-control-allow-origin"), BLOG);
    assert.match(res.headers.get("access-control-allow-headers"), /content-type/i, "Content-Type allowed when none is named");
    res = await fetch(`${srv.url}${API}/visitors/refresh`, { method: "OPTIONS", headers: { origin: SHOP, "access-control-request-method": "POST", "access-control-request-headers": "authorization" } });
    assert.equal(res.status, 204);
    assert.equal(res.headers.get("access-control-allow-headers").toLowerCase(), "authorization");
    res = await preflight(EVIL);
    assert.equal(res.headers.get("access-control-allow-origin"), null);
  });

  test("a backend's customer token with email and fields: the agent sees them", bounded(20000), async () => {
    const a = await freeAgent(srv, "vis-agent-3");
    const assigned = collect(a, "assigned");
    const fields = { account: "A-100", vip: true, score: 9.5 };
    const c = await customer(srv, "jwt-cust-1", { email: "jo@example.com", fields });
    const m = await send(c, "signed in through the app", { session_id: "jwt-cust-1" });
    assert.equal(m.status_code, 200);
    const asg = await forChat(assigned, m.data.ticket_chat_id, "assigned");
    assert.deepEqual(asg.customer, { session_id: "jwt-cust-1", name: "Customer jwt-cust-1", email: "jo@example.com", fields });
    // Out of bounds in a token: refused at CONNECT.
    const tooMany = Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`k${i}`, i]));
    for (const extra of [{ fields: tooMany }, { fields: { a: { b: 1 } } }, { email: "nope" }, { email: `${"e".repeat(250)}@example.com` }]) {
      const err = await refusal(srv, jwt({ sub: "jwt-cust-2", role: "customer", ...extra }));
      assert.deepEqual(err.data, { code: "invalid_claims" }, JSON.stringify(extra).slice(0, 80));
    }
  });
});

// A request from another loopback address (Linux routes all of 127/8 to lo): another
// client address for the rate limiter.
function registerFrom(srv, localAddress, body, extraHeaders = {}) {
  return new Promise((resolve, reject) => {
    const data = Buffer.from(JSON.stringify(body));
    const req = http.request({
      host: HOST, port: srv.port, localAddress, method: "POST", path: `${API}/visitors`,
      headers: { "content-type": "application/json", "content-length": data.length, origin: SHOP, ...extraHeaders },
    }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, text: Buffer.concat(chunks).toString() }));
    });
    req.setTimeout(ms(5000), () => req.destroy(new Error("no answer")));
    req.on("error", reject);
    req.end(data);
  });
}

describe("visitors: the rate limit per client address", () => {
  const srv = useHelpdesk({ args: [...VISITOR_ARGS, "--visitor-rate", "3"] });

  test("a flood from one address gets 429 with Retry-After; another address is not held back", bounded(20000), async () => {
    const statuses = [];
    let limited = null;
    for (let i = 0; i < 6; i++) {
      const r = await register(srv, { widget_key: WIDGET_KEY });
      statuses.push(r.status);
      if (r.status === 429 && !limited) limited = r;
    }
    assert.deepEqual(statuses, [201, 201, 201, 429, 429, 429]);
    assert.equal(limited.body.error.code, "rate_limited");
    const retry = Number(limited.headers.get("retry-after"));
    assert.ok(Number.isInteger(retry) && retry >= 1 && retry <= 60, `Retry-After: ${limited.headers.get("retry-after")}`);
    // Refused attempts count too: a wrong widget key is not checked at speed.
    assert.equal((await register(srv, { widget_key: "wk_guess_000001" })).status, 429);
    const other = await registerFrom(srv, "127.0.0.2", { widget_key: WIDGET_KEY });
    assert.equal(other.status, 201, `from 127.0.0.2: ${other.status} ${other.text}`);
    // The socket side is not rate limited by it.
    const a = await agent(srv, "rl-agent");
    assert.ok(a.connected);
  });

  test("many addresses: each has its own bucket and the server keeps answering", bounded(30000), async () => {
    for (let i = 10; i < 40; i++) {
      const r = await registerFrom(srv, `127.0.1.${i}`, { widget_key: WIDGET_KEY });
      assert.equal(r.status, 201, `127.0.1.${i}: ${r.status}`);
    }
    const health = await fetch(`${srv.url}/healthz`);
    assert.equal(health.status, 200);
  });
});

describe("visitors: behind a trusted proxy", () => {
  // 127.0.0.1 is the proxy here: its X-Forwarded-For names the client; 127.0.0.2 is not a
  // proxy, so what it writes in the header is not believed.
  const srv = useHelpdesk({ args: [...VISITOR_ARGS, "--visitor-rate", "2", "--trusted-proxy", "127.0.0.1", "--trusted-proxy", "10.0.0.0/8"] });
  const via = (client, hops = []) => ({ headers: { "x-forwarded-for": [client, ...hops].join(", ") } });

  test("each client behind the proxy has its own bucket; a forged header from elsewhere changes nothing", bounded(20000), async () => {
    const statuses = async (opts) => {
      const out = [];
      for (let i = 0; i < 3; i++) out.push((await register(srv, { widget_key: WIDGET_KEY }, opts)).status);
      return out;
    };
    assert.deepEqual(await statuses(via("203.0.113.7")), [201, 201, 429], "one client through the proxy");
    assert.deepEqual(await statuses(via("203.0.113.8")), [201, 201, 429], "another client through the proxy");
    // Through a second trusted hop (10.0.0.5 appended by the first proxy), with a forged
    // leftmost entry: the client is the rightmost untrusted address, already limited.
    assert.deepEqual(await statuses(via("198.51.100.1", ["203.0.113.7", "10.0.0.5"])), [429, 429, 429]);
    // Not from a trusted proxy: the header is ignored, the peer's own bucket counts.
    const forged = [];
    for (let i = 0; i < 3; i++) {
      const r = await registerFrom(srv, "127.0.0.2", { widget_key: WIDGET_KEY }, { "x-forwarded-for": `198.51.100.${i + 10}` });
      forged.push(r.status);
    }
    assert.deepEqual(forged, [201, 201, 429]);
  });
});

describe("visitors: configuration", () => {
  function run(args, env) {
    return new Promise((resolve, reject) => {
      const p = spawn(binary("server"), ["--host", HOST, "--port", "0", ...args], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
      const err = [];
      p.stderr.on("data", (d) => err.push(d));
      p.stdout.resume();
      p.on("error", reject);
      const killer = setTimeout(() => p.kill("SIGKILL"), ms(5000));
      p.on("exit", (code, signal) => { clearTimeout(killer); resolve({ code, signal, stderr: Buffer.concat(err).toString() }); });
    });
  }

  test("widget keys without a JWT secret: the daemon refuses to start and says why", bounded(15000), async () => {
    const r = await run(["--widget-key", WIDGET_KEY], { SWITCHBOARD_API_KEY: TEST_API_KEY, SWITCHBOARD_JWT_SECRET: "" });
    assert.notEqual(r.code, 0);
    assert.equal(r.signal, null, "refused, not killed");
    assert.match(r.stderr, /--widget-key needs --jwt-secret/);
    assert.equal(sanitizerReport(r.stderr), null);
    const short = await run(["--widget-key", "short"], { SWITCHBOARD_JWT_SECRET: "integration-test-secret-0123456789" });
    assert.notEqual(short.code, 0);
    assert.match(short.stderr, /widget key #1 is too short/);
    const proxy = await run(["--trusted-proxy", "10.0.0.0/99"], { SWITCHBOARD_JWT_SECRET: "integration-test-secret-0123456789" });
    assert.notEqual(proxy.code, 0);
    assert.match(proxy.stderr, /invalid value for --trusted-proxy: '10.0.0.0\/99'/);
  });
});
