// Edges of the transport layer (libuv streams, http-parser, our WebSocket codec) that only
// show with hand-made bytes on a raw TCP connection: how requests and frames are cut into
// writes, pipelined, fragmented, interleaved, and the answers the protocols require.
//
// HTTP/1.1 (server/core/http.c, conn.c):
//   pipelined requests answered in order and whole; a request written a byte at a time; a
//   POST body cut across writes (Content-Length and chunked); Expect: 100-continue; HEAD;
//   HTTP/1.0 and Connection: close; the keep-alive idle deadline (5 s, as advertised by
//   `Keep-Alive: timeout=5`); bytes that are not HTTP (400 and Connection: close).
// WebSocket (protocol/websocket_codec.c, server/core/transport_websocket.c), with the upgrade
// done by hand (Sec-WebSocket-Accept checked) and every client frame masked:
//   a frame a byte per write; a fragmented message; a ping between fragments; the close
//   codes for an unmasked frame (1002), invalid UTF-8 (1007), RSV1 (1002), a message over
//   --max-payload (1009, on the header); the closing handshake; several frames in one
//   write; upgrade requests with a wrong version or no key (400).
//
// One `switchboard-echo --engine-io` serves the whole file: its echo sends every Engine.IO
// message back as it came ("4hello" → "4hello"), and it answers GET /healthz.

import { test, describe, afterEach } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { createHash, randomBytes as cryptoRandomBytes } from "node:crypto";
import {
  useServer, assertEngineEchoHealthy, request, wsFrame, sleep, ms, bounded, HOST, EIO_PATH, RS,
  RawHttp, short, waitFor, writeInPieces,
} from "./helpers.mjs";

const MAX_PAYLOAD = 10000;
const srv = useServer({ args: ["--engine-io", "--max-payload", String(MAX_PAYLOAD)] });

const HEALTH_BODY = '{"status":"ok"}';
const IDLE_S = 5; // the server's advertised keep-alive timeout (Keep-Alive: timeout=5)

// Every raw socket a test opens is destroyed after it, whatever happened.
const liveSockets = new Set();
afterEach(() => {
  for (const s of liveSockets) s.destroy();
  liveSockets.clear();
  srv.assertAlive();
});

const saysClose = (res) => /(^|,)\s*close\s*(,|$)/i.test(String(res.headers.connection ?? ""));
const saysKeepAlive = (res) => /(^|,)\s*keep-alive\s*(,|$)/i.test(String(res.headers.connection ?? ""));

function connectTcp() {
  return new Promise((resolve, reject) => {
    const sock = net.connect(srv.port, HOST);
    liveSockets.add(sock);
    sock.setNoDelay(true); // a write of one byte leaves as one segment
    const t = setTimeout(() => { sock.destroy(); reject(new Error("TCP connect timed out")); }, ms(5000));
    sock.once("connect", () => { clearTimeout(t); resolve(sock); });
    sock.once("error", (e) => { clearTimeout(t); reject(e); });
  });
}

const get = (path, extra = "", version = "1.1") => `GET ${path} HTTP/${version}\r\nHost: ${HOST}\r\n${extra}\r\n`;
const post = (path, body, extra = "") =>
  `POST ${path} HTTP/1.1\r\nHost: ${HOST}\r\nContent-Type: text/plain;charset=UTF-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extra}\r\n${body}`;

const HANDSHAKE = `${EIO_PATH}?EIO=4&transport=polling`;
const sessionPath = (sid) => `${EIO_PATH}?EIO=4&transport=polling&sid=${encodeURIComponent(sid)}`;

function assertHealth(res, what) {
  assert.equal(res.status, 200, `${what}: status ${res.status} ${short(res.text)}`);
  assert.equal(res.text, HEALTH_BODY, `${what}: body`);
}

function assertOpen(res, what = "handshake") {
  assert.equal(res.status, 200, `${what}: status ${res.status} ${short(res.text)}`);
  assert.ok(res.text.startsWith("0{"), `${what}: an OPEN packet, got ${JSON.stringify(short(res.text))}`);
  const open = JSON.parse(res.text.slice(1));
  assert.equal(typeof open.sid, "string", `${what}: sid`);
  return open;
}

// A polling session opened through the ordinary client (its own connection).
async function openSession() {
  const res = await request(srv.port, { path: HANDSHAKE });
  return assertOpen(res).sid;
}

async function closeSession(sid) {
  await request(srv.port, { method: "POST", path: sessionPath(sid), body: "1" }).catch(() => {});
}

// The next poll of the session (its own connection) must carry exactly `payload`.
async function expectPoll(sid, payload, what) {
  const res = await request(srv.port, { path: sessionPath(sid), timeoutMs: ms(5000) });
  assert.equal(res.status, 200, `${what}: poll status ${res.status} ${short(res.text)}`);
  assert.equal(res.text, payload, `${what}: the echo on the next poll`);
}

async function assertServing() {
  srv.assertAlive();
  assertHealth(await request(srv.port, { path: "/healthz" }), "GET /healthz afterwards");
  await assertEngineEchoHealthy(srv);
}

// ======================================= HTTP/1.1 =======================================

describe("HTTP/1.1 on a raw TCP connection", () => {
  test("pipelining: /healthz, a handshake and /healthz in one write are answered in order, each whole", bounded(10000), async () => {
    const c = new RawHttp(await connectTcp());
    c.send(get("/healthz") + get(HANDSHAKE) + get("/healthz"));
    const r1 = await c.response();
    assertHealth(r1, "1st pipelined answer");
    assert.ok(!saysClose(r1), "the 1st answer keeps the connection");
    const open = assertOpen(await c.response(), "2nd pipelined answer (the handshake)");
    assertHealth(await c.response(), "3rd pipelined answer");
    await sleep(ms(100));
    assert.equal(c.buf.length, 0, `nothing after the 3 answers, got ${JSON.stringify(short(c.buf.toString("latin1")))}`);
    assert.ok(!c.ended, "the connection stays open");
    // and it is still usable
    c.send(get("/healthz"));
    assertHealth(await c.response(), "a 4th request on the same connection");
    c.destroy();
    await closeSession(open.sid);
  });

  test("pipelining: a POST to a session then its poll, in one write: \"ok\", then the echo", bounded(10000), async () => {
    const sid = await openSession();
    const c = new RawHttp(await connectTcp());
    c.send(post(sessionPath(sid), "4pipelined") + get(sessionPath(sid)) + get("/healthz"));
    const r1 = await c.response();
    assert.equal(r1.status, 200, `POST: ${r1.status} ${r1.text}`);
    assert.equal(r1.text, "ok");
    const r2 = await c.response();
    assert.equal(r2.status, 200, `poll: ${r2.status} ${r2.text}`);
    assert.equal(r2.text, "4pipelined");
    assertHealth(await c.response(), "3rd pipelined answer");
    c.destroy();
    await closeSession(sid);
  });

  test("pipelining behind a parked long-poll: the next request waits for the poll's answer, order kept", bounded(10000), async () => {
    const sid = await openSession();
    const c = new RawHttp(await connectTcp());
    c.send(get(sessionPath(sid)) + get("/healthz"));
    await sleep(ms(300));
    assert.equal(c.buf.length, 0, `the poll is parked, and nothing may overtake it: got ${JSON.stringify(short(c.buf.toString("latin1")))}`);
    const posted = await request(srv.port, { method: "POST", path: sessionPath(sid), body: "4release" });
    assert.equal(posted.text, "ok");
    const poll = await c.response();
    assert.equal(poll.status, 200);
    assert.equal(poll.text, "4release", "the parked poll is answered first");
    assertHealth(await c.response(), "the request pipelined behind the poll");
    c.destroy();
    await closeSession(sid);
  });

  test("more than 64 KiB pipelined behind a parked long-poll: reading pauses, and every request is served once the poll is answered", bounded(20000), async () => {
    const sid = await openSession();
    const c = new RawHttp(await connectTcp());
    const health = get("/healthz");
    const count = Math.ceil((512 * 1024) / health.length); // far past the server's 64 KiB bound: most waits in the kernel
    c.send(get(sessionPath(sid)) + health.repeat(count));
    await sleep(ms(300));
    assert.equal(c.buf.length, 0, "the poll is parked, and nothing may overtake it");
    const posted = await request(srv.port, { method: "POST", path: sessionPath(sid), body: "4release" });
    assert.equal(posted.text, "ok");
    const poll = await c.response();
    assert.equal(poll.text, "4release", "the parked poll is answered first");
    for (let i = 0; i < count; i++) assertHealth(await c.response(), `pipelined request ${i + 1} of ${count}`);
    c.destroy();
    await closeSession(sid);
  });

  test("a request written one byte at a time is answered normally", bounded(10000), async () => {
    const c = new RawHttp(await connectTcp());
    await c.sendInPieces(get(HANDSHAKE), 1, 2);
    const { sid } = assertOpen(await c.response(), "handshake sent a byte at a time");
    // a POST: the head a byte at a time, then the body in one write
    const whole = post(sessionPath(sid), "4bytewise");
    const bodyAt = whole.indexOf("\r\n\r\n") + 4;
    await c.sendInPieces(whole.slice(0, bodyAt), 1, 2);
    await sleep(ms(20));
    c.send(whole.slice(bodyAt));
    const r = await c.response();
    assert.equal(r.status, 200, `POST: ${r.status} ${r.text}`);
    assert.equal(r.text, "ok");
    c.send(get(sessionPath(sid)));
    const poll = await c.response();
    assert.equal(poll.text, "4bytewise");
    c.destroy();
    await closeSession(sid);
  });

  test("a POST body cut across writes (Content-Length) is accepted and echoed on the next poll", bounded(10000), async () => {
    const sid = await openSession();
    const body = `4first part${RS}4second part`;
    const whole = post(sessionPath(sid), body);
    const bodyAt = whole.indexOf("\r\n\r\n") + 4;
    const c = new RawHttp(await connectTcp());
    c.send(whole.slice(0, bodyAt)); // the head alone
    await sleep(ms(30));
    const cut1 = bodyAt + 3, cut2 = bodyAt + body.indexOf(RS) + 1; // inside a packet, right after the separator
    c.send(whole.slice(bodyAt, cut1));
    await sleep(ms(30));
    c.send(whole.slice(cut1, cut2));
    await sleep(ms(30));
    assert.equal(c.buf.length, 0, "no answer before the body is whole");
    c.send(whole.slice(cut2));
    const r = await c.response();
    assert.equal(r.status, 200, `POST: ${r.status} ${r.text}`);
    assert.equal(r.text, "ok");
    c.destroy();
    await expectPoll(sid, `4first part${RS}4second part`, "Content-Length body in pieces");
    await closeSession(sid);
  });

  test("a chunked POST body (Transfer-Encoding: chunked) cut across writes is accepted and echoed", bounded(10000), async () => {
    const sid = await openSession();
    const body = `4chunked body across many writes${RS}4and a second packet`;
    let encoded = "";
    for (let i = 0; i < body.length; i += 7) {
      const part = body.slice(i, i + 7);
      encoded += `${Buffer.byteLength(part).toString(16)}\r\n${part}\r\n`;
    }
    encoded += "0\r\n\r\n";
    const c = new RawHttp(await connectTcp());
    c.send(`POST ${sessionPath(sid)} HTTP/1.1\r\nHost: ${HOST}\r\nContent-Type: text/plain;charset=UTF-8\r\nTransfer-Encoding: chunked\r\n\r\n`);
    // 3-byte pieces: cuts fall inside chunk sizes, inside data and between CR and LF
    await c.sendInPieces(encoded, 3, 3);
    const r = await c.response();
    assert.equal(r.status, 200, `chunked POST: ${r.status} ${r.text}`);
    assert.equal(r.text, "ok");
    c.send(get(sessionPath(sid)));
    const poll = await c.response();
    assert.equal(poll.status, 200);
    assert.equal(poll.text, body, "the chunked body, reassembled, echoed");
    c.destroy();
    await closeSession(sid);
  });

  test("Expect: 100-continue on a polling POST gets \"HTTP/1.1 100 Continue\" before the final answer", bounded(10000), async () => {
    const sid = await openSession();
    const body = "4after continue";
    const whole = post(sessionPath(sid), body, "Expect: 100-continue\r\n");
    const bodyAt = whole.indexOf("\r\n\r\n") + 4;
    const c = new RawHttp(await connectTcp());
    c.send(whole.slice(0, bodyAt));
    const interim = await c.response({ timeoutMs: ms(2000) });
    assert.equal(interim.statusLine, "HTTP/1.1 100 Continue", "the interim answer, sent before the body");
    c.send(whole.slice(bodyAt));
    const r = await c.response();
    assert.equal(r.status, 200, `final answer: ${r.status} ${r.text}`);
    assert.equal(r.text, "ok");
    c.send(get(sessionPath(sid)));
    const poll = await c.response();
    assert.equal(poll.text, body);
    c.destroy();
    await closeSession(sid);
  });

  test("HEAD /healthz: the GET's headers, no body, and the connection stays usable", bounded(10000), async () => {
    const c = new RawHttp(await connectTcp());
    c.send(`HEAD /healthz HTTP/1.1\r\nHost: ${HOST}\r\n\r\n`);
    const h = await c.response({ head: true });
    assert.equal(h.status, 200, `HEAD status ${h.status}`);
    assert.match(String(h.headers["content-type"]), /^application\/json/);
    assert.equal(h.headers["content-length"], String(HEALTH_BODY.length), "HEAD announces the GET's Content-Length");
    assert.ok(!saysClose(h), "HEAD keeps the connection");
    await sleep(ms(100));
    assert.equal(c.buf.length, 0, `no body after a HEAD answer, got ${JSON.stringify(short(c.buf.toString("latin1")))}`);
    c.send(get("/healthz"));
    const g = await c.response();
    assertHealth(g, "GET after HEAD on the same connection");
    assert.ok(!c.ended);
    c.destroy();
  });

  for (const [what, reqText] of [
    ["HTTP/1.0 without keep-alive", `GET /healthz HTTP/1.0\r\nHost: ${HOST}\r\n\r\n`],
    ["HTTP/1.1 with Connection: close", `GET /healthz HTTP/1.1\r\nHost: ${HOST}\r\nConnection: close\r\n\r\n`],
  ]) {
    test(`${what}: answered with Connection: close, then the server closes`, bounded(10000), async () => {
      const c = new RawHttp(await connectTcp());
      c.send(reqText);
      const r = await c.response();
      assertHealth(r, what);
      assert.ok(saysClose(r), `Connection: close expected, got ${r.headers.connection ?? "(none)"}`);
      assert.ok(await c.closedWithin(ms(2000)), "the server closes the connection after the answer");
      assert.equal(c.buf.length, 0, "nothing after the answer");
      c.destroy();
    });
  }

  test("HTTP/1.0 with Connection: keep-alive keeps the connection", bounded(10000), async () => {
    const c = new RawHttp(await connectTcp());
    c.send(get("/healthz", "Connection: keep-alive\r\n", "1.0"));
    const r = await c.response();
    assertHealth(r, "HTTP/1.0 keep-alive");
    assert.ok(saysKeepAlive(r), `Connection: keep-alive expected, got ${r.headers.connection ?? "(none)"}`);
    c.send(get("/healthz", "Connection: keep-alive\r\n", "1.0"));
    assertHealth(await c.response(), "a 2nd HTTP/1.0 request on the connection");
    c.destroy();
  });

  test(`an idle keep-alive connection is closed after ${IDLE_S} s (not before); a parked poll is not`, bounded(20000), async () => {
    // A long-poll on another connection idles just as long: it must survive (the session's
    // heartbeat, 25 s by default, is what ends it, not the keep-alive deadline).
    const sid = await openSession();
    const parked = new RawHttp(await connectTcp());
    parked.send(get(sessionPath(sid)));
    // Several idle connections, a fifth of a second apart, so that their deadlines fall at
    // different points of any clock granularity the server may have.
    const conns = [];
    for (let i = 0; i < 5; i++) {
      const c = new RawHttp(await connectTcp());
      c.send(get("/healthz"));
      const r = await c.response();
      assertHealth(r, `idle connection ${i}`);
      assert.ok(!saysClose(r), "a keep-alive answer");
      assert.match(String(r.headers["keep-alive"] ?? ""), /timeout=5\b/, "the advertised keep-alive timeout");
      conns.push({ c, answeredAt: Date.now() });
      await sleep(200);
    }
    const upper = ms(8000);
    await Promise.all(conns.map(({ c, answeredAt }) => c.closedWithin(answeredAt + upper - Date.now())));
    const lasted = conns.map(({ c, answeredAt }) => (c.ended ? c.endedAt - answeredAt : null));
    for (const [i, t] of lasted.entries()) {
      assert.ok(t !== null, `idle connection ${i} still open ${upper} ms after its answer (all: ${JSON.stringify(lasted)})`);
    }
    for (const { c } of conns) assert.equal(c.buf.length, 0, "an idle close sends no bytes");
    // the parked poll and the server are checked before the lower bound, so that a close
    // that comes too early is reported on its own
    assert.ok(!parked.ended, "the parked poll was cut by the keep-alive deadline");
    const posted = await request(srv.port, { method: "POST", path: sessionPath(sid), body: "4still parked" });
    assert.equal(posted.text, "ok");
    const poll = await parked.response();
    assert.equal(poll.text, "4still parked");
    parked.destroy();
    await closeSession(sid);
    await assertServing();
    // 150 ms of slack for timers; the lower bound is the server's own clock, not scaled
    const earliest = Math.min(...lasted);
    assert.ok(earliest >= IDLE_S * 1000 - 150,
      `an idle keep-alive connection was closed ${earliest} ms after its answer, before the advertised ` +
      `Keep-Alive: timeout=${IDLE_S} (ms from answer to close, connections 200 ms apart: ${JSON.stringify(lasted)})`);
  });

  for (const [what, bytes] of [
    ["\"hello\\r\\n\\r\\n\"", Buffer.from("hello\r\n\r\n")],
    ["a TLS ClientHello (binary)", Buffer.from("16030100c4010000c00303" + "ab".repeat(40) + "00000000ffff", "hex")],
    ["NUL bytes and noise", Buffer.from(Array.from({ length: 300 }, (_, i) => (i * 37) & 0xff))],
  ]) {
    test(`not HTTP (${what}): HTTP/1.1 400 with Connection: close, then the server closes`, bounded(10000), async () => {
      const c = new RawHttp(await connectTcp());
      c.send(bytes);
      const r = await c.response();
      assert.equal(r.statusLine.slice(0, 12), "HTTP/1.1 400", `status line: ${r.statusLine}`);
      assert.ok(saysClose(r), `Connection: close expected, got ${r.headers.connection ?? "(none)"}`);
      assert.ok(await c.closedWithin(ms(2000)), "the server closes the connection after the 400");
      c.destroy();
      await assertServing();
    });
  }

  test("garbage pipelined after a good request: the request is answered, then 400 and the close", bounded(10000), async () => {
    const c = new RawHttp(await connectTcp());
    c.send(get("/healthz") + "hello\r\n\r\n");
    assertHealth(await c.response(), "the good request");
    const r = await c.response();
    assert.equal(r.status, 400, `then: ${r.statusLine}`);
    assert.ok(saysClose(r));
    assert.ok(await c.closedWithin(ms(2000)), "the server closes the connection after the 400");
    c.destroy();
  });
});

// ======================================= WebSocket =======================================

const WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
const OP = { CONT: 0x0, TEXT: 0x1, BINARY: 0x2, CLOSE: 0x8, PING: 0x9, PONG: 0xa };
const WS_PATH = `${EIO_PATH}?EIO=4&transport=websocket`;

// A masked client frame with a random key (helpers' wsFrame uses a fixed one).
function frame({ opcode = OP.TEXT, payload = "", fin = true, rsv = 0, mask = true, length } = {}) {
  const data = Buffer.isBuffer(payload) ? payload : Buffer.from(payload, "utf8");
  if (!mask) return wsFrame({ opcode, payload: data, fin, rsv, mask: false, lengthOverride: length });
  const n = length ?? data.length;
  const head = [Buffer.from([(fin ? 0x80 : 0) | (rsv << 4) | opcode])];
  if (n < 126) head.push(Buffer.from([0x80 | n]));
  else if (n < 65536) { const b = Buffer.alloc(3); b[0] = 0x80 | 126; b.writeUInt16BE(n, 1); head.push(b); }
  else { const b = Buffer.alloc(9); b[0] = 0x80 | 127; b.writeBigUInt64BE(BigInt(n), 1); head.push(b); }
  const key = cryptoRandomBytes(4);
  head.push(key);
  return Buffer.concat([...head, Buffer.from(data.map((b, i) => b ^ key[i & 3]))]);
}

const closePayload = (code, reason = "") => Buffer.concat([Buffer.from([code >> 8, code & 0xff]), Buffer.from(reason)]);

// A websocket client on a raw TCP connection: the upgrade done by hand, server frames
// parsed (and checked: unmasked, no RSV bits).
class RawWs {
  // Sends the upgrade; resolves { ws } after a 101 whose Sec-WebSocket-Accept matches the
  // key, or rejects.
  static async open(path = WS_PATH, { headers } = {}) {
    const sock = await connectTcp();
    const key = cryptoRandomBytes(16).toString("base64");
    const hdrs = headers ?? `Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n`;
    const ws = new RawWs(sock);
    sock.write(`GET ${path} HTTP/1.1\r\nHost: ${HOST}:${srv.port}\r\n${hdrs}\r\n`);
    const head = await waitFor(ws, () => {
      const end = ws.buf.indexOf("\r\n\r\n");
      if (end < 0) return undefined;
      const text = ws.buf.subarray(0, end).toString("latin1");
      ws.buf = ws.buf.subarray(end + 4);
      return text;
    }, ms(5000), "the upgrade answer");
    const lines = head.split("\r\n");
    const hs = {};
    for (const l of lines.slice(1)) {
      const i = l.indexOf(":");
      hs[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
    }
    ws.status = Number(/^HTTP\/1\.1 (\d{3})/.exec(lines[0])?.[1]);
    ws.headers = hs;
    ws.statusLine = lines[0];
    if (ws.status === 101) {
      assert.equal(lines[0], "HTTP/1.1 101 Switching Protocols");
      assert.match(hs.upgrade ?? "", /^websocket$/i, "Upgrade: websocket");
      assert.match(hs.connection ?? "", /(^|,)\s*upgrade\s*(,|$)/i, "Connection: Upgrade");
      const want = createHash("sha1").update(key + WS_GUID).digest("base64");
      assert.equal(hs["sec-websocket-accept"], want, `Sec-WebSocket-Accept for key ${key}`);
    }
    return ws;
  }

  constructor(sock) {
    this.sock = sock;
    this.buf = Buffer.alloc(0);
    this.ended = false;
    this.error = null;
    this.wake = null;
    const wake = () => { const w = this.wake; this.wake = null; if (w) w(); };
    sock.on("data", (d) => { this.buf = Buffer.concat([this.buf, d]); wake(); });
    sock.on("end", () => { this.ended = true; wake(); });
    sock.on("close", () => { this.ended = true; wake(); });
    sock.on("error", (e) => { this.error = e; this.ended = true; wake(); });
  }

  _parseOne() {
    const b = this.buf;
    if (b.length < 2) return undefined;
    assert.equal(b[0] & 0x70, 0, `server frame with RSV bits: 0x${b[0].toString(16)}`);
    assert.equal(b[1] & 0x80, 0, "server frames must not be masked");
    let len = b[1] & 0x7f, hdr = 2;
    if (len === 126) { if (b.length < 4) return undefined; len = b.readUInt16BE(2); hdr = 4; }
    else if (len === 127) { if (b.length < 10) return undefined; len = Number(b.readBigUInt64BE(2)); hdr = 10; }
    if (b.length < hdr + len) return undefined;
    const f = { fin: !!(b[0] & 0x80), opcode: b[0] & 0x0f, payload: Buffer.from(b.subarray(hdr, hdr + len)) };
    f.text = f.payload.toString("utf8");
    this.buf = b.subarray(hdr + len);
    return f;
  }

  // The next frame from the server.
  frame(timeoutMs = ms(5000)) {
    return waitFor(this, () => this._parseOne(), timeoutMs, "websocket frame");
  }

  // The next data frame, answering Engine.IO pings ("2") on the way; must be a whole text
  // message.
  async message(timeoutMs = ms(5000)) {
    for (;;) {
      const f = await this.frame(timeoutMs);
      if (f.opcode === OP.TEXT && f.text === "2") { this.send(frame({ payload: "3" })); continue; }
      assert.equal(f.opcode, OP.TEXT, `a text frame expected, got opcode ${f.opcode} ${JSON.stringify(short(f.text))}`);
      assert.ok(f.fin, "the server sends a message as one frame");
      return f.text;
    }
  }

  // After the 101: the Engine.IO OPEN packet.
  async expectOpen() {
    const first = await this.message();
    assert.ok(first.startsWith("0{"), `the first message is OPEN, got ${JSON.stringify(short(first))}`);
    return JSON.parse(first.slice(1));
  }

  // The server's close frame (data frames before it are skipped): its { code, reason }.
  async expectCloseFrame(timeoutMs = ms(3000)) {
    for (;;) {
      const f = await this.frame(timeoutMs);
      if (f.opcode !== OP.CLOSE) continue;
      if (f.payload.length === 0) return { code: 1005, reason: "" };
      assert.ok(f.payload.length >= 2, "a close payload has at least the 2-byte code");
      return { code: f.payload.readUInt16BE(0), reason: f.payload.subarray(2).toString("utf8") };
    }
  }

  async closedWithin(timeoutMs) {
    try {
      await waitFor(this, () => undefined, timeoutMs, "the close");
    } catch {
      // ended or timed out
    }
    return this.ended;
  }

  send(bytes) {
    this.sock.write(bytes);
  }

  sendInPieces(bytes, size, delayMs) {
    return writeInPieces(this.sock, bytes, size, delayMs);
  }

  destroy() {
    this.sock.destroy();
  }
}

async function openEngineWs() {
  const ws = await RawWs.open();
  assert.equal(ws.status, 101, `upgrade refused: ${ws.statusLine}`);
  await ws.expectOpen();
  return ws;
}

// The server fails the connection with `code`: its close frame, then the TCP close.
async function expectFailed(ws, code, what) {
  const got = await ws.expectCloseFrame();
  assert.equal(got.code, code, `${what}: close code ${got.code} (reason ${JSON.stringify(got.reason)})`);
  assert.ok(await ws.closedWithin(ms(3000)), `${what}: the server closes the TCP connection after its close frame`);
}

describe("WebSocket framing on a raw TCP connection", () => {
  test("the upgrade: 101 with the right Sec-WebSocket-Accept, then OPEN; \"4hello\" is echoed", bounded(10000), async () => {
    const ws = await openEngineWs();
    ws.send(frame({ payload: "4hello" }));
    assert.equal(await ws.message(), "4hello");
    ws.destroy();
  });

  test("a frame delivered one byte per write (16-bit length) is processed", bounded(10000), async () => {
    const ws = await openEngineWs();
    const text = "4" + "bytewise-".repeat(20); // 181 bytes: a 16-bit extended length
    await ws.sendInPieces(frame({ payload: text }), 1, 2);
    assert.equal(await ws.message(), text);
    // the connection goes on normally afterwards
    ws.send(frame({ payload: "4after" }));
    assert.equal(await ws.message(), "4after");
    ws.destroy();
  });

  test("a message in three fragments (TEXT fin=0, CONTINUATION, CONTINUATION fin=1) is delivered whole", bounded(10000), async () => {
    const ws = await openEngineWs();
    ws.send(frame({ opcode: OP.TEXT, payload: "4frag", fin: false }));
    await sleep(ms(20));
    ws.send(frame({ opcode: OP.CONT, payload: "mented ", fin: false }));
    await sleep(ms(20));
    ws.send(frame({ opcode: OP.CONT, payload: "message", fin: true }));
    assert.equal(await ws.message(), "4fragmented message");
    ws.send(frame({ payload: "4next" }));
    assert.equal(await ws.message(), "4next", "an unfragmented message after a fragmented one");
    ws.destroy();
  });

  test("a UTF-8 character cut between two fragments is accepted and echoed whole", bounded(10000), async () => {
    const ws = await openEngineWs();
    const text = "4h\u00e9llo \u20ac \u{1F600}";
    const bytes = Buffer.from(text, "utf8");
    const euroAt = bytes.indexOf(Buffer.from("\u20ac", "utf8"));
    const emojiAt = bytes.indexOf(Buffer.from("\u{1F600}", "utf8"));
    // cuts inside é, inside € and inside the emoji
    const cuts = [3, euroAt + 1, emojiAt + 2, bytes.length];
    let prev = 0;
    cuts.forEach((cut, i) => {
      ws.send(frame({ opcode: i === 0 ? OP.TEXT : OP.CONT, payload: bytes.subarray(prev, cut), fin: i === cuts.length - 1 }));
      prev = cut;
    });
    assert.equal(await ws.message(), text);
    ws.destroy();
  });

  test("a PING between fragments gets a PONG with its payload, and the message still arrives whole", bounded(10000), async () => {
    const ws = await openEngineWs();
    ws.send(frame({ opcode: OP.TEXT, payload: "4inter", fin: false }));
    await sleep(ms(20));
    ws.send(frame({ opcode: OP.PING, payload: "are you there?" }));
    const pong = await ws.frame();
    assert.equal(pong.opcode, OP.PONG, `a PONG expected before the message ends, got opcode ${pong.opcode} ${JSON.stringify(pong.text)}`);
    assert.ok(pong.fin);
    assert.equal(pong.text, "are you there?");
    ws.send(frame({ opcode: OP.CONT, payload: "leaved", fin: false }));
    ws.send(frame({ opcode: OP.PING, payload: Buffer.from([0, 1, 2, 0xff]) })); // binary ping data, same write burst
    ws.send(frame({ opcode: OP.CONT, payload: " message", fin: true }));
    const pong2 = await ws.frame();
    assert.equal(pong2.opcode, OP.PONG);
    assert.deepEqual([...pong2.payload], [0, 1, 2, 0xff]);
    assert.equal(await ws.message(), "4interleaved message");
    ws.destroy();
  });

  test("several messages in one TCP write are all processed, in order", bounded(10000), async () => {
    const ws = await openEngineWs();
    const texts = ["4one", "4two", "4" + "three".repeat(40), "4four"];
    ws.send(Buffer.concat([
      ...texts.slice(0, 3).map((t) => frame({ payload: t })),
      frame({ opcode: OP.PING, payload: "p" }),
      frame({ payload: texts[3] }),
    ]));
    const got = [];
    let pongs = 0;
    while (got.length < texts.length) {
      const f = await ws.frame();
      if (f.opcode === OP.PONG) { pongs++; assert.equal(f.text, "p"); continue; }
      if (f.opcode === OP.TEXT && f.text === "2") { ws.send(frame({ payload: "3" })); continue; }
      assert.equal(f.opcode, OP.TEXT, `opcode ${f.opcode}`);
      got.push(f.text);
    }
    assert.deepEqual(got, texts);
    assert.equal(pongs, 1, "the PING in the same write is answered");
    ws.destroy();
  });

  test("an unmasked client frame: close 1002, then the TCP connection closes", bounded(10000), async () => {
    const ws = await openEngineWs();
    ws.send(frame({ payload: "4unmasked", mask: false }));
    await expectFailed(ws, 1002, "unmasked frame");
    ws.destroy();
    await assertServing();
  });

  test("a text frame with invalid UTF-8: close 1007", bounded(10000), async () => {
    const ws = await openEngineWs();
    ws.send(frame({ payload: Buffer.from([0x34, 0x61, 0xc3, 0x28, 0x62]) })); // "4a" + a broken 2-byte sequence + "b"
    await expectFailed(ws, 1007, "invalid UTF-8");
    ws.destroy();
    await assertServing();
  });

  test("a fragmented text message that ends inside a UTF-8 character: close 1007", bounded(10000), async () => {
    const ws = await openEngineWs();
    ws.send(frame({ opcode: OP.TEXT, payload: "4abc", fin: false }));
    ws.send(frame({ opcode: OP.CONT, payload: Buffer.from([0xe2, 0x82]), fin: true })); // € without its last byte
    await expectFailed(ws, 1007, "truncated UTF-8 at the end of a message");
    ws.destroy();
  });

  test("a frame with RSV1 set (no extension negotiated): close 1002", bounded(10000), async () => {
    const ws = await openEngineWs();
    ws.send(frame({ payload: "4compressed?", rsv: 4 }));
    await expectFailed(ws, 1002, "RSV1");
    ws.destroy();
    await assertServing();
  });

  test("a close frame (1000 + reason) from the client gets a close frame with 1000, and the connection ends", bounded(10000), async () => {
    const ws = await openEngineWs();
    ws.send(frame({ opcode: OP.CLOSE, payload: closePayload(1000, "client is done") }));
    const got = await ws.expectCloseFrame();
    assert.equal(got.code, 1000, `close code echoed: ${got.code}`);
    assert.ok(await ws.closedWithin(ms(3000)), "the server ends the TCP connection after its close frame");
    ws.destroy();
    await assertServing();
  });

  test(`a frame header announcing ${MAX_PAYLOAD + 1} bytes (over --max-payload): close 1009 before the payload is sent`, bounded(10000), async () => {
    const ws = await openEngineWs();
    const full = frame({ payload: "4" + "x".repeat(MAX_PAYLOAD) }); // MAX_PAYLOAD + 1 bytes
    ws.send(full.subarray(0, 2 + 2 + 4)); // header, 16-bit length, mask key: no payload
    await expectFailed(ws, 1009, "over --max-payload");
    ws.destroy();
    await assertServing();
  });

  test("fragments that add up to more than --max-payload: close 1009 at the header of the one that crosses it", bounded(10000), async () => {
    const ws = await openEngineWs();
    ws.send(frame({ opcode: OP.TEXT, payload: "4" + "a".repeat(6000), fin: false }));
    const second = frame({ opcode: OP.CONT, payload: "b".repeat(5000), fin: true });
    ws.send(second.subarray(0, 8)); // header only
    await expectFailed(ws, 1009, "fragmented message over --max-payload");
    ws.destroy();
  });

  test("a message of exactly --max-payload bytes is accepted", bounded(10000), async () => {
    const ws = await openEngineWs();
    const text = "4" + "y".repeat(MAX_PAYLOAD - 1);
    ws.send(frame({ payload: text }));
    assert.equal(await ws.message(), text);
    ws.destroy();
  });
});

describe("refused upgrade requests", () => {
  const KEY = "dGhlIHNhbXBsZSBub25jZQ==";
  for (const [what, headers] of [
    ["Sec-WebSocket-Version: 8", `Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 8\r\n`],
    ["no Sec-WebSocket-Key", "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"],
    ["no Sec-WebSocket-Version", `Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${KEY}\r\n`],
  ]) {
    test(`an upgrade with ${what} is refused with HTTP 400 and the server stays healthy`, bounded(10000), async () => {
      const ws = await RawWs.open(WS_PATH, { headers });
      assert.equal(ws.status, 400, `status line: ${ws.statusLine}`);
      assert.equal(ws.headers["sec-websocket-accept"], undefined, "no handshake answer");
      ws.destroy();
      await assertServing();
    });
  }
});
