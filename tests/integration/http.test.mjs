// The HTTP layer under the transports, as real clients use it.
//
// 1. Query strings are parsed whole. socket.io-client puts its `query` option first, so a
//    customer following the helpdesk contract's query-token form sends
//    `?token=<JWT>&EIO=4&transport=...`: a long parameter must not hide the ones after it
//    (raw polling, raw websocket, socket.io-client with and without the upgrade, and the
//    helpdesk daemon with a real JWT and a long API key).
// 2. Limits: the request line and the headers are parsed whole up to documented limits;
//    a request line over the limit is answered 414, headers over it 431, and the server
//    goes on serving.
// 3. Keep-alive: Node's default HTTP agent (Node >= 19) and fetch() reuse connections. After
//    any answer (Engine.IO 400s, 404, 413, a CORS preflight, /healthz, REST errors) the
//    connection either stays usable for the next request or the answer said
//    `Connection: close`; a client never sees "socket hang up" on its next request.

import { test, describe } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import net from "node:net";
import {
  useServer, client, connected, waitEvent, echoRoundTrip, assertEchoHealthy, wsConnect,
  jsonBody, sleep, deadline, ms, bounded, HOST, SIO_PATH, RawHttp, short,
} from "./helpers.mjs";
import { useHelpdesk, hdClient, jwt, send, TEST_API_KEY } from "./helpdesk-helpers.mjs";

// ---- limits ----
// The server parses the request line (URL included) and the headers whole up to its
// documented limits: 8 KiB for the request URL and 16 KiB for all headers together. The
// tests stay clear of the exact edges so that the limits may be tuned: a query value of
// QUERY_OK bytes (and a header of HEADER_OK bytes) must work, a URL of URL_TOO_LONG bytes
// must be answered 414, and a single header of HEADER_TOO_LARGE bytes (or many headers of
// that total) must be answered 431.
const QUERY_OK = 7000;
const HEADER_OK = 7000;
const URL_TOO_LONG = 64 * 1024;
const HEADER_TOO_LARGE = 64 * 1024;

// A helpdesk-style query token: a JWT is 144+ characters; 300 is well past that.
const LONG = 300;

const ORIGIN = "http://app.example";
const MAX_PAYLOAD = 10000;
const HANDSHAKE = `${SIO_PATH}?EIO=4&transport=polling`;

// The echo on `/`, with a CORS list (for the preflight and the "a header after a long one"
// checks) and a small --max-payload (for 413).
const srv = useServer({ args: ["--cors-origin", ORIGIN, "--max-payload", String(MAX_PAYLOAD)] });

// ---------- plain HTTP helpers ----------

// One request through `agent` (an http.Agent, undefined for Node's default agent);
// resolves with the answer, the socket it went over and whether that socket was reused.
// A failure rejects with the error, its reusedSocket set.
function agentRequest(agent, port, { method = "GET", path, headers = {}, body, timeoutMs = ms(5000) }) {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : Buffer.from(body);
    const hdrs = { ...headers };
    if (data !== undefined) {
      hdrs["content-length"] = data.length;
      hdrs["content-type"] ??= "text/plain;charset=UTF-8";
    }
    let socket = null;
    const req = http.request({ host: HOST, port, method, path, headers: hdrs, agent }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => {
        clearTimeout(timer);
        const buf = Buffer.concat(chunks);
        resolve({ status: res.statusCode, headers: res.headers, body: buf, text: buf.toString("utf8"), socket, reused: req.reusedSocket });
      });
      res.on("error", fail);
    });
    req.on("socket", (s) => { socket = s; });
    const timer = setTimeout(() => req.destroy(new Error(`no response within ${timeoutMs} ms`)), timeoutMs);
    function fail(e) {
      clearTimeout(timer);
      e.reusedSocket = req.reusedSocket;
      reject(e);
    }
    req.on("error", fail);
    req.end(data);
  });
}

// A connect_error with what engine.io-client knows of the cause (the HTTP status of a
// failed poll, the websocket error) and the server's data.
async function connectedWhy(socket, timeoutMs = ms(10000)) {
  try {
    return await connected(socket, timeoutMs);
  } catch (err) {
    const d = err?.description;
    const cause = d === undefined ? "" : typeof d === "number" ? ` (HTTP ${d})` : ` (${d?.message ?? d?.error?.message ?? String(d)})`;
    throw new Error(`connect_error: ${err.message}${cause}${err.data === undefined ? "" : ` ${JSON.stringify(err.data)}`}`);
  }
}

// Call at once after creating the client; the returned function resolves once its
// Engine.IO connection runs over websocket (no timer is left behind when the test fails
// before waiting).
function upgradeOf(socket) {
  const engine = socket.io.engine;
  const done = new Promise((resolve) => engine.once("upgrade", resolve));
  return () => engine.transport?.name === "websocket" ? Promise.resolve() : Promise.race([
    done,
    deadline(ms(10000)).then(() => { throw new Error(`no upgrade to websocket within ${ms(10000)} ms`); }),
  ]);
}

const saysClose = (res) => /(^|,)\s*close\s*(,|$)/i.test(String(res.headers.connection ?? ""));
function assertOpen(res, what = "handshake") {
  assert.equal(res.status, 200, `${what}: status ${res.status} ${short(res.text, 200)}`);
  assert.ok(res.text.startsWith("0{"), `${what}: an Engine.IO OPEN packet, got ${short(JSON.stringify(res.text), 200)}`);
  const open = JSON.parse(res.text.slice(1));
  assert.equal(typeof open.sid, "string", `${what}: sid`);
  return open;
}

function assertEngineError(res, code, message) {
  assert.equal(res.status, 400, `status (body ${short(res.text, 200)})`);
  assert.match(String(res.headers["content-type"]), /^application\/json/);
  assert.deepEqual(jsonBody(res), { code, message });
}

const rawGet = (path, extra = "") => `GET ${path} HTTP/1.1\r\nHost: ${HOST}\r\n${extra}\r\n`;
const rawPost = (path, body, extra = "") =>
  `POST ${path} HTTP/1.1\r\nHost: ${HOST}\r\nContent-Type: text/plain;charset=UTF-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extra}\r\n${body}`;

// ================= 1. a long query parameter does not hide the ones after it =================

describe("a long query parameter before EIO and transport (socket.io-client's order)", () => {
  const tokenX = "x".repeat(LONG);

  // Handshake with `pre` before and `post` after EIO/transport, then a session POST and a
  // poll with the same parameters around sid: the whole polling exchange works.
  async function pollingSession(pre, post = "") {
    const q = (extra) => `${SIO_PATH}?${pre}${pre ? "&" : ""}EIO=4&transport=polling${extra}${post}`;
    const hs = await agentRequest(undefined, srv.port, { path: q("") });
    const { sid } = assertOpen(hs, `handshake ${short(q(""))}`);
    const post1 = await agentRequest(undefined, srv.port, { method: "POST", path: q(`&sid=${encodeURIComponent(sid)}`), body: "40" });
    assert.equal(post1.status, 200, `POST with the long parameter before sid: ${post1.status} ${short(post1.text)}`);
    assert.equal(post1.text, "ok");
    const poll = await agentRequest(undefined, srv.port, { path: q(`&sid=${encodeURIComponent(sid)}`) });
    assert.equal(poll.status, 200, `poll: ${poll.status} ${short(poll.text)}`);
    assert.match(poll.text, /^40\{"sid":/, "the Socket.IO CONNECT answer");
    await agentRequest(undefined, srv.port, { method: "POST", path: q(`&sid=${encodeURIComponent(sid)}`), body: "1" });
  }

  test(`raw polling: GET ?token=<${LONG} chars>&EIO=4&transport=polling answers 200 with an OPEN packet`, bounded(10000), async () => {
    const res = await agentRequest(undefined, srv.port, { path: `${SIO_PATH}?token=${tokenX}&EIO=4&transport=polling` });
    const open = assertOpen(res);
    assert.deepEqual(open.upgrades, ["websocket"]);
    assert.equal(open.maxPayload, MAX_PAYLOAD);
  });

  for (const [what, pre, post] of [
    ["first (token=…)", `token=${tokenX}`, ""],
    ["first, with token_source after it", `token=${tokenX}&token_source=api`, ""],
    ["two long parameters first", `a=${"a".repeat(LONG)}&b=${"b".repeat(LONG)}`, ""],
    ["percent-encoded, first", `token=${"%41".repeat(LONG / 3)}%2B${"y".repeat(LONG)}`, ""],
    ["last", "", `&token=${tokenX}`],
  ]) {
    test(`raw polling: a ${LONG}+-character parameter ${what}: handshake, POST and poll of the session`, bounded(10000), async () => {
      await pollingSession(pre, post);
    });
  }

  test(`raw websocket: ?token=<${LONG} chars>&EIO=4&transport=websocket opens a session`, bounded(10000), async () => {
    const conn = await wsConnect(`${srv.wsUrl}${SIO_PATH}?token=${tokenX}&EIO=4&transport=websocket`);
    const first = await conn.next();
    assert.ok(first.startsWith("0{"), `first message must be OPEN, got ${short(JSON.stringify(first))}`);
    assert.deepEqual(JSON.parse(first.slice(1)).upgrades, []);
    conn.send("40");
    assert.match(await conn.next(), /^40\{"sid":/);
  });

  test(`raw websocket: upgrading a polling session with ?token=<${LONG} chars>&EIO=4&transport=websocket&sid=…`, bounded(10000), async () => {
    const pre = `${SIO_PATH}?token=${tokenX}&EIO=4`;
    const { sid } = assertOpen(await agentRequest(undefined, srv.port, { path: `${pre}&transport=polling` }));
    const conn = await wsConnect(`${srv.wsUrl}${pre}&transport=websocket&sid=${encodeURIComponent(sid)}`);
    conn.send("2probe");
    assert.equal(await conn.next(), "3probe");
    conn.send("5");
    conn.send("40");
    assert.match(await conn.next(), /^40\{"sid":/);
  });

  test(`socket.io-client with query { token: <${LONG} chars> }: polling, then the upgrade to websocket`, bounded(15000), async () => {
    const s = client(srv, "/", { query: { token: tokenX }, transports: ["polling", "websocket"] });
    const upgraded = upgradeOf(s);
    await connectedWhy(s);
    await echoRoundTrip(s, "over polling with a long query token");
    await upgraded();
    assert.equal(s.io.engine.transport.name, "websocket");
    await echoRoundTrip(s, "after the upgrade");
  });

  test(`socket.io-client with query { token: <${LONG} chars> }: websocket only`, bounded(15000), async () => {
    const s = client(srv, "/", { query: { token: tokenX }, transports: ["websocket"] });
    await connectedWhy(s);
    assert.equal(s.io.engine.transport.name, "websocket");
    await echoRoundTrip(s, "websocket with a long query token");
  });
});

// The contract's query-token form on the helpdesk daemon: `io(url + "/helpdesk", { query:
// { token } })` with a real JWT, and `{ token: <API key>, token_source: "api" }` with a long
// key. socket.io-client sends them before EIO and transport.
describe("helpdesk: the query-token form with a real JWT and a long API key", () => {
  const LONG_API_KEY = `k-${"0123456789abcdef".repeat(16)}`; // 258 characters
  const hd = useHelpdesk({ env: { SWITCHBOARD_API_KEY: `${TEST_API_KEY},${LONG_API_KEY}` } });

  // A customer token of a realistic size: name and departments make it longer than LONG.
  const customerJwt = (sub) => jwt({
    sub, role: "customer", name: `Customer ${sub} ${"n".repeat(60)}`, dept: ["billing", "shipping", "returns", "technical-support"],
    iat: Math.floor(Date.now() / 1000),
  });

  test("baseline: the same JWT in the auth payload connects (so a failure below is the query form's)", bounded(10000), async () => {
    const s = hdClient(hd, customerJwt("qt-auth"), { transports: ["polling", "websocket"] });
    await connectedWhy(s);
    const r = await send(s, "sent with an auth token");
    assert.equal(r.status_code, 200, JSON.stringify(r));
    assert.equal(r.data.sender.id, "qt-auth");
  });

  for (const transports of [["polling", "websocket"], ["websocket"]]) {
    test(`a customer JWT as ?token= connects over ${transports.join(" then ")} and acts as its sub`, bounded(15000), async () => {
      const sub = `qt-${transports.length}`;
      const token = customerJwt(sub);
      assert.ok(token.length > LONG, `the token is ${token.length} characters`);
      const s = hdClient(hd, undefined, { query: { token }, transports });
      const upgraded = transports.length > 1 ? upgradeOf(s) : null;
      await connectedWhy(s);
      const r = await send(s, "sent with a query token");
      assert.equal(r.status_code, 200, JSON.stringify(r));
      assert.equal(r.data.sender.type, "customer");
      assert.equal(r.data.sender.id, sub);
      if (upgraded) {
        await upgraded();
        assert.equal(s.io.engine.transport.name, "websocket");
        const again = await send(s, "after the upgrade", { ticket_chat_id: r.data.ticket_chat_id });
        assert.equal(again.status_code, 200, JSON.stringify(again));
        assert.equal(again.data.seq, 2);
      }
    });
  }

  for (const transports of [["polling", "websocket"], ["websocket"]]) {
    test(`a ${LONG_API_KEY.length}-character API key as ?token=…&token_source=api over ${transports.join(" then ")}`, bounded(15000), async () => {
      const s = hdClient(hd, undefined, { query: { token: LONG_API_KEY, token_source: "api" }, transports });
      await connectedWhy(s);
      const r = await send(s, "sent by the integration", { session_id: `api-qt-${transports.length}` });
      assert.equal(r.status_code, 200, JSON.stringify(r));
      assert.deepEqual(r.data.sender, { type: "customer", id: `api-qt-${transports.length}`, name: null });
    });
  }

  test("a JWT with a bad signature as ?token= is still refused (the token is read, not skipped)", bounded(10000), async () => {
    const good = customerJwt("qt-bad");
    const bad = good.slice(0, -4) + (good.endsWith("AAAA") ? "BBBB" : "AAAA");
    const s = hdClient(hd, undefined, { query: { token: bad }, transports: ["polling", "websocket"] });
    const [err] = await waitEvent(s, "connect_error", ms(5000));
    assert.equal(err.message, "unauthorized", `${err.message} ${JSON.stringify(err.data)}`);
    assert.deepEqual(err.data, { code: "bad_signature" });
  });
});

// ================= 2. limits of the request line and the headers =================

describe(`limits: a ${QUERY_OK}-byte query and a ${HEADER_OK}-byte header work; ${URL_TOO_LONG}-byte URLs get 414, ${HEADER_TOO_LARGE}-byte headers 431`, () => {
  const big = "q".repeat(QUERY_OK);

  test(`a ${QUERY_OK}-character query value before EIO and transport: raw polling and raw websocket`, bounded(10000), async () => {
    const res = await agentRequest(undefined, srv.port, { path: `${SIO_PATH}?token=${big}&EIO=4&transport=polling` });
    assertOpen(res);
    const last = await agentRequest(undefined, srv.port, { path: `${SIO_PATH}?EIO=4&transport=polling&token=${big}` });
    assertOpen(last, "the long value last");
    const conn = await wsConnect(`${srv.wsUrl}${SIO_PATH}?token=${big}&EIO=4&transport=websocket`);
    const first = await conn.next();
    assert.ok(first.startsWith("0{"), `OPEN over websocket, got ${short(JSON.stringify(first))}`);
  });

  test(`socket.io-client with a ${QUERY_OK}-character query token: polling then the upgrade`, bounded(15000), async () => {
    const s = client(srv, "/", { query: { token: big }, transports: ["polling", "websocket"] });
    const upgraded = upgradeOf(s);
    await connectedWhy(s);
    await upgraded();
    await echoRoundTrip(s, "with a 7,000-character query");
  });

  test(`a ${HEADER_OK}-byte header does not hide the headers after it (Origin, for CORS)`, bounded(10000), async () => {
    const res = await agentRequest(undefined, srv.port, {
      path: HANDSHAKE,
      headers: { "x-filler": "h".repeat(HEADER_OK), origin: ORIGIN },
    });
    assertOpen(res);
    assert.equal(res.headers["access-control-allow-origin"], ORIGIN, "the Origin after the long header was seen");
  });

  async function expectRefused(request, status) {
    const c = await RawHttp.open(srv.port);
    try {
      c.send(request);
      const res = await c.response({ timeoutMs: ms(5000) });
      assert.equal(res.status, status, `status ${res.status} ${short(res.text)}`);
      return res;
    } finally {
      c.destroy();
    }
  }

  async function assertStillServing() {
    srv.assertAlive();
    assertOpen(await agentRequest(undefined, srv.port, { path: HANDSHAKE }), "a handshake afterwards");
    await assertEchoHealthy(srv);
    await assertEchoHealthy(srv, { transports: ["polling", "websocket"] });
  }

  test(`a ${URL_TOO_LONG}-byte URL: 414, and the server goes on serving`, bounded(15000), async () => {
    await expectRefused(rawGet(`${SIO_PATH}?token=${"u".repeat(URL_TOO_LONG)}&EIO=4&transport=polling`), 414);
    await assertStillServing();
  });

  test(`a websocket upgrade with a ${URL_TOO_LONG}-byte URL: 414, and the server goes on serving`, bounded(15000), async () => {
    await expectRefused(rawGet(`${SIO_PATH}?token=${"u".repeat(URL_TOO_LONG)}&EIO=4&transport=websocket`,
      "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"), 414);
    await assertStillServing();
  });

  test(`one ${HEADER_TOO_LARGE}-byte header: 431, and the server goes on serving`, bounded(15000), async () => {
    await expectRefused(rawGet(HANDSHAKE, `X-Big: ${"h".repeat(HEADER_TOO_LARGE)}\r\n`), 431);
    await assertStillServing();
  });

  test(`headers of ${HEADER_TOO_LARGE} bytes in all, none of them long: 431, and the server goes on serving`, bounded(15000), async () => {
    const n = Math.ceil(HEADER_TOO_LARGE / 512);
    const many = Array.from({ length: n }, (_, i) => `X-Part-${i}: ${"p".repeat(500)}\r\n`).join("");
    await expectRefused(rawGet(HANDSHAKE, many), 431);
    await assertStillServing();
  });
});

// ================= 3. keep-alive survives every answer =================

// Requests that get an error answer, with what the answer must be.
const ENGINE_ERRORS = [
  ["Unsupported protocol version", { path: `${SIO_PATH}?EIO=3&transport=polling` }, 5],
  ["Transport unknown", { path: `${SIO_PATH}?EIO=4&transport=carrier-pigeon` }, 0],
  ["Session ID unknown (GET)", { path: `${SIO_PATH}?EIO=4&transport=polling&sid=no-such-session` }, 1],
  ["Session ID unknown (POST)", { method: "POST", path: `${SIO_PATH}?EIO=4&transport=polling&sid=no-such-session`, body: "4hello" }, 1],
  ["Bad handshake method", { method: "POST", path: `${SIO_PATH}?EIO=4&transport=polling`, body: "40" }, 2],
  ["Bad request", { path: `${SIO_PATH}?EIO=4&transport=websocket` }, 3],
];
const MESSAGES = { 0: "Transport unknown", 1: "Session ID unknown", 2: "Bad handshake method", 3: "Bad request", 5: "Unsupported protocol version" };

describe("keep-alive: the next request on the connection after any answer", () => {
  // A keep-alive agent with one socket, so that the next request goes over the same
  // connection whenever it is still usable.
  function oneSocketAgent() {
    return new http.Agent({ keepAlive: true, maxSockets: 1 });
  }

  // `first` was answered on agent; now a handshake on the same agent must succeed, over the
  // same socket unless the answer said Connection: close.
  async function handshakeAfter(agent, port, first, what, path = HANDSHAKE) {
    let second;
    try {
      second = await agentRequest(agent, port, { path });
    } catch (e) {
      assert.fail(`${what}: the handshake sent next on the same keep-alive agent failed: ${e.code ?? ""} ${e.message} ` +
        `(over the reused socket: ${e.reusedSocket}); the ${first.status} before it had ` +
        `Connection: ${first.headers.connection ?? "(none)"}`);
    }
    assertOpen(second, `${what}: the handshake after it`);
    assert.ok(saysClose(first) || (second.reused && second.socket === first.socket),
      `${what}: the ${first.status} answer neither kept the connection (the next request went over ` +
      `${second.reused ? "a reused" : "a new"} socket) nor said Connection: close (it said ${first.headers.connection ?? "nothing"})`);
    return second;
  }

  test("two handshakes on a keep-alive agent share one connection", bounded(10000), async () => {
    const agent = oneSocketAgent();
    try {
      const a = await agentRequest(agent, srv.port, { path: HANDSHAKE });
      assertOpen(a);
      assert.ok(!saysClose(a), "a handshake answer keeps the connection");
      const b = await agentRequest(agent, srv.port, { path: HANDSHAKE });
      assertOpen(b);
      assert.ok(b.reused && b.socket === a.socket, "the second handshake went over the first one's connection");
    } finally {
      agent.destroy();
    }
  });

  for (const [what, req, code] of ENGINE_ERRORS) {
    test(`400 ${what}, then a handshake on the same keep-alive agent`, bounded(10000), async () => {
      const agent = oneSocketAgent();
      try {
        // one request first, so that the error answer itself goes over a reused connection too
        assertOpen(await agentRequest(agent, srv.port, { path: HANDSHAKE }));
        const first = await agentRequest(agent, srv.port, req);
        assertEngineError(first, code, MESSAGES[code]);
        await handshakeAfter(agent, srv.port, first, `400 ${what}`);
      } finally {
        agent.destroy();
      }
    });
  }

  test("404 on an unknown path, then a handshake on the same keep-alive agent", bounded(10000), async () => {
    const agent = oneSocketAgent();
    try {
      const first = await agentRequest(agent, srv.port, { path: "/no-such-path" });
      assert.equal(first.status, 404);
      await handshakeAfter(agent, srv.port, first, "404");
    } finally {
      agent.destroy();
    }
  });

  test("413 on a POST body over --max-payload, then a handshake on the same keep-alive agent", bounded(10000), async () => {
    const agent = oneSocketAgent();
    try {
      const { sid } = assertOpen(await agentRequest(agent, srv.port, { path: HANDSHAKE }));
      const first = await agentRequest(agent, srv.port, {
        method: "POST", path: `${SIO_PATH}?EIO=4&transport=polling&sid=${encodeURIComponent(sid)}`, body: "4" + "z".repeat(MAX_PAYLOAD),
      });
      assert.equal(first.status, 413);
      await handshakeAfter(agent, srv.port, first, "413");
    } finally {
      agent.destroy();
    }
  });

  test("a CORS preflight (OPTIONS, 204), then a handshake on the same keep-alive agent", bounded(10000), async () => {
    const agent = oneSocketAgent();
    try {
      const first = await agentRequest(agent, srv.port, {
        method: "OPTIONS", path: HANDSHAKE,
        headers: { origin: ORIGIN, "access-control-request-method": "POST", "access-control-request-headers": "content-type" },
      });
      assert.equal(first.status, 204);
      assert.equal(first.headers["access-control-allow-origin"], ORIGIN);
      await handshakeAfter(agent, srv.port, first, "preflight");
    } finally {
      agent.destroy();
    }
  });

  test("every error answer in a row, then a handshake, through Node's default agent", bounded(15000), async () => {
    assert.equal(http.globalAgent.keepAlive, true, "Node >= 19: the default agent keeps connections alive");
    for (const [what, req, code] of ENGINE_ERRORS) {
      let first;
      try {
        first = await agentRequest(undefined, srv.port, req);
      } catch (e) {
        assert.fail(`400 ${what}: ${e.code ?? ""} ${e.message} (over a reused socket: ${e.reusedSocket})`);
      }
      assertEngineError(first, code, MESSAGES[code]);
      try {
        assertOpen(await agentRequest(undefined, srv.port, { path: HANDSHAKE }), `handshake after 400 ${what}`);
      } catch (e) {
        if (e instanceof assert.AssertionError) throw e;
        assert.fail(`the handshake after 400 ${what}: ${e.code ?? ""} ${e.message} (over a reused socket: ${e.reusedSocket})`);
      }
    }
  });

  test("fetch() (undici, keep-alive): each error answer, then a handshake", bounded(20000), async () => {
    const base = `http://${HOST}:${srv.port}`;
    const { sid } = assertOpen(await agentRequest(undefined, srv.port, { path: HANDSHAKE }));
    const cases = [
      ...ENGINE_ERRORS.map(([what, req, code]) => [`400 ${what}`, req, 400, { code, message: MESSAGES[code] }]),
      ["404", { path: "/no-such-path" }, 404],
      ["413", { method: "POST", path: `${SIO_PATH}?EIO=4&transport=polling&sid=${encodeURIComponent(sid)}`, body: "4" + "z".repeat(MAX_PAYLOAD) }, 413],
      ["preflight", { method: "OPTIONS", path: HANDSHAKE, headers: { origin: ORIGIN, "access-control-request-method": "POST" } }, 204],
    ];
    const go = async (what, { method = "GET", path, headers, body }) => {
      try {
        const r = await fetch(base + path, { method, headers, body, signal: AbortSignal.timeout(ms(5000)) });
        return { status: r.status, text: await r.text() };
      } catch (e) {
        assert.fail(`${what}: fetch ${method} ${short(path, 60)} failed: ${e.message} (${e.cause?.code ?? e.cause?.message ?? "no cause"})`);
      }
    };
    for (const [what, req, status, json] of cases) {
      const first = await go(what, req);
      assert.equal(first.status, status, `${what}: ${short(first.text)}`);
      if (json) assert.deepEqual(JSON.parse(first.text), json);
      const second = await go(`the handshake after ${what}`, { path: HANDSHAKE });
      assertOpen(second, `the handshake after ${what}`);
    }
  });

  // The same, on one raw TCP connection: no client-side timing decides the outcome. The
  // server keeps the connection and answers the next request, or said Connection: close
  // and closes it.
  const RAW_CASES = [
    ...ENGINE_ERRORS.map(([what, req, code]) => [`400 ${what}`, req, 400]),
    ["404", { path: "/no-such-path" }, 404],
    ["preflight", { method: "OPTIONS", path: HANDSHAKE, extra: `Origin: ${ORIGIN}\r\nAccess-Control-Request-Method: POST\r\n` }, 204],
    ["413", { method: "POST", path: "(a session)", body: "4" + "z".repeat(MAX_PAYLOAD) }, 413],
  ];
  for (const [what, req, status] of RAW_CASES) {
    test(`raw TCP: ${what}, then a handshake on the same connection (or Connection: close and a close)`, bounded(10000), async () => {
      let path = req.path;
      if (path === "(a session)") {
        const { sid } = assertOpen(await agentRequest(undefined, srv.port, { path: HANDSHAKE }));
        path = `${SIO_PATH}?EIO=4&transport=polling&sid=${encodeURIComponent(sid)}`;
      }
      const c = await RawHttp.open(srv.port);
      try {
        c.send(rawGet(HANDSHAKE));
        assertOpen(await c.response(), "the first handshake on the connection");
        const method = req.method ?? "GET";
        c.send(req.body !== undefined ? rawPost(path, req.body, req.extra) : rawGet(path, req.extra).replace(/^GET/, method));
        const first = await c.response();
        assert.equal(first.status, status, `${what}: ${short(first.text)}`);
        if (saysClose(first)) {
          assert.ok(await c.closedWithin(ms(2000)), `${what}: answered Connection: close but kept the connection open`);
          return;
        }
        c.send(rawGet(HANDSHAKE));
        let second;
        try {
          second = await c.response();
        } catch (e) {
          assert.fail(`${what}: answered without Connection: close, then dropped the connection: ${e.message}`);
        }
        assertOpen(second, `the handshake after ${what}`);
      } finally {
        c.destroy();
      }
    });
  }
});

describe("keep-alive on the helpdesk daemon: health checks and REST errors", () => {
  const hd = useHelpdesk();

  const CASES = [
    ["GET /healthz", { path: "/healthz" }, 200, { status: "ok" }],
    ["GET /readyz", { path: "/readyz" }, 200, { status: "ready" }],
    ["GET /nope", { path: "/nope" }, 404],
    ["REST without a token", { path: "/api/v1/helpdesk/inquiries/" }, 401],
    ["REST with a bad token", { path: "/api/v1/helpdesk/inquiries/", headers: { authorization: "Bearer not-a-token" } }, 401],
    ["REST with a wrong method", { method: "DELETE", path: "/api/v1/helpdesk/inquiries/", headers: { authorization: `Bearer ${TEST_API_KEY}` } }, 405],
    ["REST with malformed JSON", {
      method: "POST", path: "/api/v1/helpdesk/conversations/no-such-chat/messages/", body: "{not json",
      headers: { authorization: `Bearer ${TEST_API_KEY}`, "content-type": "application/json" },
    }, 400],
    ["Engine.IO 400 on the daemon", { path: `${SIO_PATH}?EIO=3&transport=polling` }, 400, { code: 5, message: MESSAGES[5] }],
  ];

  for (const [what, req, status, json] of CASES) {
    test(`${what} (${status}), then a handshake and /healthz on the same keep-alive agent`, bounded(10000), async () => {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      try {
        const first = await agentRequest(agent, hd.port, req);
        assert.equal(first.status, status, `${what}: ${short(first.text, 200)}`);
        if (json) assert.deepEqual(jsonBody(first), json);
        const kept = !saysClose(first);
        let second, third;
        try {
          second = await agentRequest(agent, hd.port, { path: HANDSHAKE });
          third = await agentRequest(agent, hd.port, { path: "/healthz" });
        } catch (e) {
          assert.fail(`${what}: the next request on the keep-alive agent failed: ${e.code ?? ""} ${e.message} ` +
            `(over the reused socket: ${e.reusedSocket}); the ${first.status} had Connection: ${first.headers.connection ?? "(none)"}`);
        }
        assertOpen(second, `the handshake after ${what}`);
        assert.equal(third.status, 200);
        assert.ok(!kept || (second.reused && second.socket === first.socket),
          `${what}: the ${first.status} answer neither kept the connection nor said Connection: close`);
      } finally {
        agent.destroy();
      }
    });
  }

  test("fetch(): health checks and REST errors interleaved with handshakes", bounded(15000), async () => {
    const base = `http://${HOST}:${hd.port}`;
    for (const [what, { method = "GET", path, headers, body }, status] of CASES) {
      for (const [label, m, p, h, b, want] of [[what, method, path, headers, body, status], [`handshake after ${what}`, "GET", HANDSHAKE, undefined, undefined, 200]]) {
        let r;
        try {
          r = await fetch(base + p, { method: m, headers: h, body: b, signal: AbortSignal.timeout(ms(5000)) });
        } catch (e) {
          assert.fail(`${label}: fetch failed: ${e.message} (${e.cause?.code ?? e.cause?.message ?? "no cause"})`);
        }
        const text = await r.text();
        assert.equal(r.status, want, `${label}: ${short(text)}`);
      }
    }
  });
});
