// helpers.mjs: start the real switchboard binaries and talk to them the way clients do.
//
// Every test file starts its own server process on a free 127.0.0.1 port and stops it
// with SIGTERM at the end; stop() is also the sanitizer gate: the process must exit 0
// quickly and its stderr must hold no ASan/LSan/UBSan report, since the same suite runs
// against the Asan build. Clients (socket.io-client, raw Engine.IO over HTTP, raw ws,
// raw TCP) are created here so that each test closes what it opened.

import { before, after, afterEach } from "node:test";
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { io, Manager } from "socket.io-client";
import WebSocket from "ws";

export { sleep, io, Manager, WebSocket };

// The Asan build runs ~3x slower: every deadline goes through ms().
export const TIME_SCALE = Number(process.env.SWITCHBOARD_TIME_SCALE || 1);
export const ms = (n) => Math.round(n * TIME_SCALE);
// node:test options for one test bounded by n (scaled) milliseconds.
export const bounded = (n) => ({ timeout: ms(n) });

export const HOST = "127.0.0.1";
export const SIO_PATH = "/socket.io/";
export const EIO_PATH = "/engine.io/";
export const RS = "\x1e"; // Engine.IO record separator in polling payloads

// A timer for races: resolves with value after n ms without keeping the process alive.
export const deadline = (n, value = null) => sleep(n, value, { ref: false });

const VERBOSE = process.env.SWITCHBOARD_TEST_VERBOSE === "1";
const SANITIZER_PATTERNS = [
  /ERROR: AddressSanitizer/,
  /ERROR: LeakSanitizer/,
  /runtime error:/,
  /SUMMARY: UndefinedBehaviorSanitizer/,
];

export function binary(kind) {
  const name = kind === "server" ? "SWITCHBOARD_BIN" : "SWITCHBOARD_ECHO_BIN";
  const path = process.env[name];
  if (!path) throw new Error(`${name} is not set (ctest sets it from the CMake target)`);
  return path;
}

export function freePort(host = HOST) {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on("error", reject);
    srv.listen(0, host, () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

export function sanitizerReport(text) {
  const hit = SANITIZER_PATTERNS.find((re) => re.test(text));
  if (!hit) return null;
  const at = text.search(hit);
  return text.slice(Math.max(0, at - 200), at + 4000);
}

const liveProcesses = new Set();
process.on("exit", () => {
  for (const p of liveProcesses) p.kill("SIGKILL");
});

// One running binary. stop() asserts the clean exit; stderr holds everything it logged.
export class ServerProcess {
  constructor(proc, port, path, argv) {
    this.proc = proc;
    this.pid = proc.pid;
    this.port = port;
    this.path = path;
    this.argv = argv;
    this.url = `http://${HOST}:${port}`;
    this.wsUrl = `ws://${HOST}:${port}`;
    this._stderr = [];
    this.exitInfo = null;
    proc.stderr.on("data", (d) => {
      this._stderr.push(d);
      if (VERBOSE) process.stderr.write(d);
    });
    proc.stdout.on("data", (d) => {
      if (VERBOSE) process.stderr.write(d);
    });
    this.exited = new Promise((resolve) => {
      proc.on("exit", (code, signal) => {
        this.exitInfo = { code, signal };
        liveProcesses.delete(proc);
        resolve(this.exitInfo);
      });
    });
    liveProcesses.add(proc);
  }

  get stderr() {
    return Buffer.concat(this._stderr).toString("utf8");
  }

  stderrTail(n = 3000) {
    const s = this.stderr;
    return s.length > n ? "…" + s.slice(-n) : s;
  }

  alive() {
    return this.exitInfo === null;
  }

  // Fails when the process died by itself (crash, sanitizer abort).
  assertAlive() {
    assert.ok(
      this.alive(),
      `server exited unexpectedly (${JSON.stringify(this.exitInfo)})\n--- stderr ---\n${this.stderrTail()}`
    );
  }

  rssKb() {
    const status = readFileSync(`/proc/${this.pid}/status`, "utf8");
    return Number(/VmRSS:\s+(\d+)/.exec(status)[1]);
  }

  // SIGTERM, then: exit code 0 within timeoutMs and no sanitizer report. Calling it
  // again returns the same outcome (a second SIGTERM would change what is tested).
  stop(opts) {
    if (!this._stopping) this._stopping = this._stop(opts);
    return this._stopping;
  }

  async _stop({ timeoutMs } = {}) {
    timeoutMs ??= ms(5000);
    const diedEarly = this.exitInfo;
    if (!diedEarly) this.proc.kill("SIGTERM");
    const info = await Promise.race([this.exited, deadline(timeoutMs)]);
    if (!info) {
      this.proc.kill("SIGKILL");
      await this.exited;
      assert.fail(`server did not exit within ${timeoutMs} ms of SIGTERM\n--- stderr ---\n${this.stderrTail()}`);
    }
    const report = sanitizerReport(this.stderr);
    assert.equal(report, null, `sanitizer report in server stderr:\n${report}`);
    assert.ok(!diedEarly, `server had already exited before SIGTERM: ${JSON.stringify(diedEarly)}\n${this.stderrTail()}`);
    assert.deepEqual(info, { code: 0, signal: null },
      `server exit after SIGTERM: ${JSON.stringify(info)}\n--- stderr ---\n${this.stderrTail()}`);
  }

  kill() {
    if (this.alive()) this.proc.kill("SIGKILL");
    return this.exited;
  }
}

function endpointPath(args) {
  if (args.includes("--engine-io")) return EIO_PATH;
  const i = args.indexOf("--path");
  return i >= 0 ? args[i + 1] : SIO_PATH;
}

// Answers true once a polling handshake succeeds; the probe session is closed at once.
async function probe(port, path) {
  try {
    const res = await request(port, { path: `${path}?EIO=4&transport=polling`, timeoutMs: 1000 });
    if (res.status !== 200 || !res.text.startsWith("0")) return false;
    const { sid } = JSON.parse(res.text.slice(1));
    await request(port, { method: "POST", path: `${path}?EIO=4&transport=polling&sid=${encodeURIComponent(sid)}`, body: "1", timeoutMs: 1000 }).catch(() => {});
    return true;
  } catch {
    return false;
  }
}

// Starts a binary ("echo" or "server") with flags, on a free port (or the given one),
// and resolves once it answers a handshake. Retries on a new port if another process
// took the free port in between. `command` ([program, ...leading args]) runs something
// else that takes the same flags instead: the Node.js reference node of the cluster tests.
// Credentials the daemon is started with unless a test gives its own: it refuses to start
// without any (see cli.test.mjs and helpdesk-cli.test.mjs).
export const TEST_JWT_SECRET = "integration-test-secret-0123456789";
export const TEST_API_KEY = "integration-test-api-key-0123456789";
const SERVER_ENV = { SWITCHBOARD_JWT_SECRET: TEST_JWT_SECRET, SWITCHBOARD_API_KEY: TEST_API_KEY };

export async function startServer({ kind = "echo", command, args = [], port, env = {}, readyTimeoutMs = ms(10000) } = {}) {
  if (kind === "server" && !command) env = { ...SERVER_ENV, ...env };
  const fixedPort = port !== undefined;
  const [program, ...lead] = command ?? [binary(kind)];
  for (let attempt = 0; ; attempt++) {
    const p = fixedPort ? port : await freePort();
    const argv = ["--host", HOST, "--port", String(p), ...args];
    const proc = spawn(program, [...lead, ...argv], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    const srv = new ServerProcess(proc, p, endpointPath(args), argv);
    const spawnError = new Promise((resolve) => proc.on("error", resolve));
    const deadline = Date.now() + readyTimeoutMs;
    let ready = false;
    while (!ready && srv.alive() && Date.now() < deadline) {
      const err = await Promise.race([spawnError, sleep(0).then(() => null)]);
      if (err) throw new Error(`cannot start ${program}: ${err.message}`);
      ready = await probe(p, srv.path);
      if (!ready) await sleep(50);
    }
    if (ready) return srv;
    if (srv.alive()) {
      await srv.kill();
      throw new Error(`${kind} ${argv.join(" ")} did not accept connections within ${readyTimeoutMs} ms\n${srv.stderrTail()}`);
    }
    const busy = /in use|EADDRINUSE|bind/i.test(srv.stderr);
    if (busy && attempt < 3 && !fixedPort) continue;
    if (busy && fixedPort && Date.now() < deadline) {
      await sleep(200); // the previous process on this port may still be releasing it
      continue;
    }
    throw new Error(`${kind} ${argv.join(" ")} exited before serving: ${JSON.stringify(srv.exitInfo)}\n${srv.stderrTail()}`);
  }
}

// One server for the enclosing file or describe block: started before its tests, its
// clients closed after each test, stopped (and checked) after the last one. The returned
// object stands for the ServerProcess once it runs.
export function useServer({ stopTimeoutMs, ...options } = {}) {
  let srv = null;
  before(async () => { srv = await startServer(options); });
  afterEach(() => closeClients());
  after(async () => {
    closeClients();
    if (srv) await srv.stop({ timeoutMs: stopTimeoutMs });
  });
  return new Proxy({}, {
    get(_, key) {
      if (!srv) throw new Error("the server is not started yet");
      const v = srv[key];
      return typeof v === "function" ? v.bind(srv) : v;
    },
  });
}

// Servers started by each test itself (restarts, shutdowns): whatever is still running
// after a test is stopped and checked then.
export function serversPerTest() {
  const running = [];
  afterEach(async () => {
    closeClients();
    for (const s of running.splice(0)) if (s.alive() || s._stopping) await s.stop();
  });
  return {
    start: async (options) => {
      const s = await startServer(options);
      running.push(s);
      return s;
    },
  };
}

// ---------- plain HTTP (node:http through Node's default agent, nothing added) ----------
// Requests go through http.globalAgent, which keeps connections alive in Node >= 19, as
// real clients do: a request may reuse a connection an earlier one left open, so the
// server must keep every connection it does not close with `Connection: close` usable
// (http.test.mjs checks that on its own agents).

export function request(port, { method = "GET", path, headers = {}, body, timeoutMs = ms(5000) } = {}) {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : Buffer.isBuffer(body) ? body : Buffer.from(body, "utf8");
    const hdrs = { ...headers };
    if (data !== undefined && hdrs["content-length"] === undefined) hdrs["content-length"] = data.length;
    if (data !== undefined && hdrs["content-type"] === undefined) hdrs["content-type"] = "text/plain;charset=UTF-8";
    const req = http.request({ host: HOST, port, method, path, headers: hdrs }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => {
        clearTimeout(timer);
        const buf = Buffer.concat(chunks);
        resolve({ status: res.statusCode, headers: res.headers, body: buf, text: buf.toString("utf8") });
      });
      res.on("error", (e) => { clearTimeout(timer); reject(e); });
    });
    const timer = setTimeout(() => {
      req.destroy(new Error(`${method} ${path}: no response within ${timeoutMs} ms`));
    }, timeoutMs);
    req.on("error", (e) => { clearTimeout(timer); reject(e); });
    if (data !== undefined) req.write(data);
    req.end();
  });
}

export function jsonBody(res) {
  try {
    return JSON.parse(res.text);
  } catch {
    assert.fail(`expected a JSON body, got status ${res.status} body ${JSON.stringify(res.text.slice(0, 200))}`);
  }
}

// ---------- raw Engine.IO over HTTP long-polling ----------

export function eioQuery(path, { sid, transport = "polling", eio = "4", extra = "" } = {}) {
  let q = `${path}?EIO=${eio}&transport=${transport}`;
  if (sid) q += `&sid=${encodeURIComponent(sid)}`;
  return q + extra;
}

// GET handshake; returns { sid, open, res } where open is the parsed OPEN packet.
export async function eioOpen(srv, { path = srv.path, headers, extra } = {}) {
  const res = await request(srv.port, { path: eioQuery(path, { extra }), headers });
  assert.equal(res.status, 200, `handshake status ${res.status}: ${res.text}`);
  assert.ok(res.text.startsWith("0"), `handshake body must be an OPEN packet, got ${JSON.stringify(res.text)}`);
  const open = JSON.parse(res.text.slice(1));
  return { sid: open.sid, open, res };
}

export function eioGet(srv, sid, { path = srv.path, timeoutMs = ms(5000), headers } = {}) {
  return request(srv.port, { path: eioQuery(path, { sid }), timeoutMs, headers });
}

export function eioPost(srv, sid, body, { path = srv.path, headers, timeoutMs } = {}) {
  return request(srv.port, { method: "POST", path: eioQuery(path, { sid }), body, headers, timeoutMs });
}

export function splitPayload(text) {
  return text.length === 0 ? [] : text.split(RS);
}

// Polls until `want` records (pings answered, noops skipped) arrived or the deadline.
export async function eioCollect(srv, sid, want, { path = srv.path, deadlineMs = ms(5000) } = {}) {
  const got = [];
  const end = Date.now() + deadlineMs;
  while (got.length < want) {
    const left = end - Date.now();
    assert.ok(left > 0, `expected ${want} packets, got ${JSON.stringify(got)}`);
    const res = await eioGet(srv, sid, { path, timeoutMs: left });
    assert.equal(res.status, 200, `poll status ${res.status}: ${res.text}`);
    for (const rec of splitPayload(res.text)) {
      if (rec === "2") await eioPost(srv, sid, "3", { path });
      else if (rec !== "6") got.push(rec);
    }
  }
  return got;
}

// The session must be gone: a poll answers 400 {"code":1,"message":"Session ID unknown"}.
// A poll may first drain what was queued before the close (it must then end with a
// CLOSE packet, or carry only NOOPs); a session still alive makes the poll hang, which
// fails this check once the deadline passes.
export async function expectSessionClosed(srv, sid, { path = srv.path, deadlineMs = ms(3000) } = {}) {
  const end = Date.now() + deadlineMs;
  const seen = [];
  for (;;) {
    const left = end - Date.now();
    assert.ok(left > 0, `session ${sid} still open after ${deadlineMs} ms (polls: ${JSON.stringify(seen)})`);
    let res;
    try {
      res = await eioGet(srv, sid, { path, timeoutMs: left });
    } catch (e) {
      assert.fail(`session ${sid} still open: poll got no answer within ${deadlineMs} ms (${e.message})`);
    }
    if (res.status === 400) {
      assert.deepEqual(jsonBody(res), { code: 1, message: "Session ID unknown" });
      return seen;
    }
    assert.equal(res.status, 200, `poll on a closing session: status ${res.status} ${res.text}`);
    const recs = splitPayload(res.text);
    seen.push(...recs);
    const closing = recs.at(-1) === "1" || recs.every((r) => r === "6");
    assert.ok(closing, `session ${sid} still delivering packets: ${JSON.stringify(recs).slice(0, 300)}`);
  }
}

// ---------- raw WebSocket (ws) ----------

// A ws connection with a message queue. autoPong answers Engine.IO pings and hides them.
export class WsConn {
  constructor(ws, { autoPong = true } = {}) {
    this.ws = ws;
    this.autoPong = autoPong;
    this.queue = [];
    this.waiters = [];
    this.pings = 0;
    this.closeInfo = null;
    this.closed = new Promise((resolve) => {
      ws.on("close", (code, reason) => {
        this.closeInfo = { code, reason: reason.toString() };
        resolve(this.closeInfo);
        for (const w of this.waiters.splice(0)) w.reject(new Error(`websocket closed (${code}) while waiting for a message`));
      });
    });
    ws.on("error", (e) => { this.error = e; });
    ws.on("message", (data, isBinary) => {
      const msg = isBinary ? Buffer.from(data) : data.toString("utf8");
      if (msg === "2") {
        this.pings++;
        if (this.autoPong) { ws.send("3"); return; }
      }
      const w = this.waiters.shift();
      if (w) w.resolve(msg); else this.queue.push(msg);
    });
  }

  next(timeoutMs = ms(5000)) {
    if (this.queue.length) return Promise.resolve(this.queue.shift());
    if (this.closeInfo) return Promise.reject(new Error(`websocket already closed (${this.closeInfo.code})`));
    return new Promise((resolve, reject) => {
      const w = {
        resolve: (m) => { clearTimeout(t); resolve(m); },
        reject: (e) => { clearTimeout(t); reject(e); },
      };
      const t = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        reject(new Error(`no websocket message within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.push(w);
    });
  }

  send(data) {
    this.ws.send(data);
  }

  // Resolves with the close info, or fails if the server keeps the socket open.
  async expectClosed(timeoutMs = ms(3000), what = "server should close the websocket") {
    const r = await Promise.race([this.closed, deadline(timeoutMs)]);
    assert.ok(r, `${what} (still open after ${timeoutMs} ms)`);
    return r;
  }

  close() {
    if (!this.closeInfo) this.ws.terminate();
  }
}

const liveWs = new Set();

export function wsConnect(url, { autoPong = true, headers } = {}) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false, headers, handshakeTimeout: ms(5000) });
    const conn = new WsConn(ws, { autoPong });
    liveWs.add(conn);
    ws.once("open", () => resolve(conn));
    ws.once("unexpected-response", (req, res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => {
        const err = new Error(`websocket upgrade refused: HTTP ${res.statusCode}`);
        err.statusCode = res.statusCode;
        err.body = Buffer.concat(chunks).toString();
        reject(err);
      });
      req.destroy();
    });
    ws.once("error", reject);
  });
}

// Engine.IO over websocket only: returns { conn, open } after the OPEN packet.
export async function eioWsOpen(srv, { path = srv.path, autoPong = true, extra = "" } = {}) {
  const conn = await wsConnect(srv.wsUrl + eioQuery(path, { transport: "websocket", extra }), { autoPong });
  const first = await conn.next();
  assert.equal(typeof first, "string");
  assert.ok(first.startsWith("0"), `first websocket message must be OPEN, got ${JSON.stringify(first)}`);
  return { conn, open: JSON.parse(first.slice(1)) };
}

// Socket.IO CONNECT over a raw websocket; returns { conn, sid } with the `auth` event consumed.
export async function sioWsConnect(srv, { nsp = "/", auth } = {}) {
  const { conn } = await eioWsOpen(srv);
  const prefix = nsp === "/" ? "" : `${nsp},`;
  conn.send(`40${prefix}${auth ? JSON.stringify(auth) : ""}`);
  const reply = await conn.next();
  assert.ok(reply.startsWith(`40${prefix}{`), `CONNECT reply: ${reply}`);
  const { sid } = JSON.parse(reply.slice(2 + prefix.length));
  const authEvent = await conn.next();
  assert.ok(authEvent.startsWith(`42${prefix}["auth"`), `expected the auth event, got ${authEvent}`);
  return { conn, sid };
}

// ---------- raw TCP WebSocket (hand-made frames) ----------

// Sends an upgrade request on a plain TCP socket; resolves after the 101 response with
// { sock, rest } (rest: bytes after the response headers).
export function tcpUpgrade(srv, pathQuery) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(srv.port, HOST);
    liveTcp.add(sock);
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => { sock.destroy(); reject(new Error("no 101 response")); }, ms(5000));
    sock.on("error", (e) => { clearTimeout(timer); reject(e); });
    sock.on("connect", () => {
      sock.write(
        `GET ${pathQuery} HTTP/1.1\r\nHost: ${HOST}:${srv.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`
      );
    });
    const onData = (d) => {
      buf = Buffer.concat([buf, d]);
      const end = buf.indexOf("\r\n\r\n");
      if (end < 0) return;
      clearTimeout(timer);
      sock.off("data", onData);
      const head = buf.subarray(0, end).toString();
      if (!/^HTTP\/1\.1 101/.test(head)) { sock.destroy(); reject(new Error(`upgrade refused: ${head.split("\r\n")[0]}`)); return; }
      sock.pause();
      resolve({ sock, rest: buf.subarray(end + 4) });
    };
    sock.on("data", onData);
  });
}

const liveTcp = new Set();

// One client→server frame (masked unless told otherwise). lengthOverride writes a
// header length that differs from the payload actually sent.
export function wsFrame({ opcode = 1, payload = Buffer.alloc(0), fin = true, rsv = 0, mask = true, lengthOverride } = {}) {
  const data = Buffer.isBuffer(payload) ? payload : Buffer.from(payload);
  const len = lengthOverride ?? BigInt(data.length);
  const n = BigInt(len);
  const parts = [Buffer.from([(fin ? 0x80 : 0) | (rsv << 4) | opcode])];
  const maskBit = mask ? 0x80 : 0;
  if (n < 126n) parts.push(Buffer.from([maskBit | Number(n)]));
  else if (n < 65536n) { const b = Buffer.alloc(3); b[0] = maskBit | 126; b.writeUInt16BE(Number(n), 1); parts.push(b); }
  else { const b = Buffer.alloc(9); b[0] = maskBit | 127; b.writeBigUInt64BE(n, 1); parts.push(b); }
  if (mask) {
    const key = Buffer.from([0x12, 0x34, 0x56, 0x78]);
    parts.push(key);
    parts.push(Buffer.from(data.map((b, i) => b ^ key[i & 3])));
  } else {
    parts.push(data);
  }
  return Buffer.concat(parts);
}

// Parses server→client (unmasked) frames from buf; returns { frames, rest }.
export function parseFrames(buf) {
  const frames = [];
  let off = 0;
  for (;;) {
    if (buf.length - off < 2) break;
    const b0 = buf[off], b1 = buf[off + 1];
    let len = b1 & 0x7f, hdr = 2;
    if (len === 126) { if (buf.length - off < 4) break; len = buf.readUInt16BE(off + 2); hdr = 4; }
    else if (len === 127) { if (buf.length - off < 10) break; len = Number(buf.readBigUInt64BE(off + 2)); hdr = 10; }
    if (buf.length - off < hdr + len) break;
    frames.push({ fin: !!(b0 & 0x80), opcode: b0 & 0x0f, payload: buf.subarray(off + hdr, off + hdr + len) });
    off += hdr + len;
  }
  return { frames, rest: buf.subarray(off) };
}

// Resolves true once the peer closed (end or error) the TCP socket, false at the deadline.
export function tcpClosedWithin(sock, timeoutMs) {
  return new Promise((resolve) => {
    if (sock.destroyed || sock.readableEnded) { resolve(true); return; }
    const done = (v) => { clearTimeout(t); resolve(v); };
    const t = setTimeout(() => done(false), timeoutMs);
    sock.on("end", () => done(true));
    sock.on("close", () => done(true));
    sock.on("error", () => done(true));
    sock.resume(); // drain whatever the server sends (a close frame) so "end" can fire
  });
}

// After a websocket upgrade on sock: resolves "close-frame" as soon as the server sends a
// close frame (it starts the closing handshake, RFC 6455 §7.1.7 "fail the connection"),
// "closed" if it drops the TCP connection, or null at the deadline.
export function wsRejectedWithin(sock, rest, timeoutMs) {
  return new Promise((resolve) => {
    let buf = rest ?? Buffer.alloc(0);
    const done = (v) => { clearTimeout(t); sock.removeAllListeners("data"); resolve(v); };
    const t = setTimeout(() => done(null), timeoutMs);
    const scan = () => {
      const { frames, rest: left } = parseFrames(buf);
      buf = left;
      if (frames.some((f) => f.opcode === 0x8)) done("close-frame");
    };
    sock.on("data", (d) => { buf = Buffer.concat([buf, d]); scan(); });
    sock.on("end", () => done("closed"));
    sock.on("close", () => done("closed"));
    sock.on("error", () => done("closed"));
    scan();
    sock.resume();
  });
}

// ---------- socket.io-client ----------

const liveSockets = new Set();
const liveManagers = new Set();

// A socket.io-client socket on srv, never sharing a Manager, reconnection off unless told.
export function client(srv, nsp = "/", opts = {}) {
  const s = io(srv.url + nsp, { forceNew: true, reconnection: false, timeout: ms(10000), path: srv.path, ...opts });
  liveSockets.add(s);
  return s;
}

// A Manager for several namespaces over one Engine.IO connection.
export function manager(srv, opts = {}) {
  const m = new Manager(srv.url, { reconnection: false, timeout: ms(10000), path: srv.path, autoConnect: true, ...opts });
  liveManagers.add(m);
  return m;
}

// Closes every client, ws and TCP socket opened through these helpers.
export function closeClients() {
  for (const s of liveSockets) { s.disconnect(); s.io.disconnect(); }
  liveSockets.clear();
  for (const m of liveManagers) m.disconnect();
  liveManagers.clear();
  for (const c of liveWs) c.close();
  liveWs.clear();
  for (const s of liveTcp) s.destroy();
  liveTcp.clear();
}

// Resolves with the event's arguments (array), rejects after timeoutMs.
// (Rejections are marked handled so that a test failing on an earlier await does not
// also report this one as unhandled; awaiting it still throws.)
export function waitEvent(emitter, event, timeoutMs = ms(5000)) {
  return handled(new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      emitter.off(event, h);
      reject(new Error(`no "${event}" event within ${timeoutMs} ms`));
    }, timeoutMs);
    const h = (...args) => {
      clearTimeout(t);
      emitter.off(event, h);
      resolve(args);
    };
    emitter.on(event, h);
  }));
}

function handled(p) {
  p.catch(() => {});
  return p;
}

// Collects `count` occurrences of event (each an args array).
export function collectEvents(emitter, event, count, timeoutMs = ms(5000)) {
  return handled(new Promise((resolve, reject) => {
    const got = [];
    const t = setTimeout(() => {
      emitter.off(event, h);
      reject(new Error(`got ${got.length}/${count} "${event}" events within ${timeoutMs} ms: ${JSON.stringify(got).slice(0, 300)}`));
    }, timeoutMs);
    const h = (...args) => {
      got.push(args);
      if (got.length === count) {
        clearTimeout(t);
        emitter.off(event, h);
        resolve(got);
      }
    };
    emitter.on(event, h);
  }));
}

// Fails if event fires within windowMs.
export async function expectNoEvent(emitter, event, windowMs = ms(300)) {
  const seen = [];
  const h = (...args) => seen.push(args);
  emitter.on(event, h);
  await sleep(windowMs);
  emitter.off(event, h);
  assert.deepEqual(seen, [], `unexpected "${event}" event(s)`);
}

// Resolves once the socket is connected; a connect_error rejects with the server's error.
export function connected(socket, timeoutMs = ms(10000)) {
  if (socket.connected) return Promise.resolve(socket);
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => { cleanup(); reject(new Error(`socket ${socket.nsp} not connected within ${timeoutMs} ms`)); }, timeoutMs);
    const ok = () => { cleanup(); resolve(socket); };
    const ko = (err) => { cleanup(); reject(err); };
    const cleanup = () => { clearTimeout(t); socket.off("connect", ok); socket.off("connect_error", ko); };
    socket.on("connect", ok);
    socket.on("connect_error", ko);
  });
}

// Emits with an ack callback; resolves with every argument the ack carried.
export function emitAck(socket, event, ...args) {
  return emitAckWithin(ms(5000), socket, event, ...args);
}

export function emitAckWithin(timeoutMs, socket, event, ...args) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no ack for "${event}" within ${timeoutMs} ms`)), timeoutMs);
    socket.emit(event, ...args, (...reply) => {
      clearTimeout(t);
      resolve(reply);
    });
  });
}

// A connected client on nsp over one transport, member of rooms through the echo's acked
// `join`: the membership holds once this resolves.
export async function roomMember(srv, nsp, transport, ...rooms) {
  const s = client(srv, nsp, { transports: [transport] });
  await connected(s);
  for (const r of rooms) await emitAck(s, "join", r);
  return s;
}

// Sends `message` and expects `message-back` with the same args (the echo's contract).
export async function echoRoundTrip(socket, ...args) {
  const got = await new Promise((resolve, reject) => {
    const finish = (fn, v) => {
      clearTimeout(t);
      socket.off("message-back", onBack);
      socket.off("disconnect", onLost);
      fn(v);
    };
    const onBack = (...back) => finish(resolve, back);
    const onLost = (reason) => finish(reject, new Error(`disconnected (${reason}) instead of echoing`));
    const t = setTimeout(() => finish(reject, new Error(`no "message-back" within ${ms(5000)} ms`)), ms(5000));
    socket.on("message-back", onBack);
    socket.on("disconnect", onLost);
    socket.emit("message", ...args);
  });
  assert.deepEqual(got, args);
  return got;
}

// A fresh websocket client on `/` still gets its echo: the server serves everyone else.
export async function assertEchoHealthy(srv, { transports = ["websocket"] } = {}) {
  srv.assertAlive();
  const s = client(srv, "/", { transports });
  try {
    await connected(s);
    const token = `healthy-${Math.random().toString(36).slice(2)}`;
    await echoRoundTrip(s, token);
  } finally {
    s.disconnect();
    liveSockets.delete(s);
  }
}

// Same check for `switchboard-echo --engine-io`.
export async function assertEngineEchoHealthy(srv) {
  srv.assertAlive();
  const { conn } = await eioWsOpen(srv);
  try {
    conn.send("4healthy");
    assert.equal(await conn.next(), "4healthy");
  } finally {
    conn.close();
  }
}

export function randomBytes(n, seed = 1) {
  const b = Buffer.alloc(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    b[i] = x & 0xff;
  }
  return b;
}

// ---- raw HTTP ----

export const short = (s, n = 200) => (s.length > n ? `${s.slice(0, n)}…(${s.length} chars)` : s);

// Writes data in pieces of `size` bytes, `delayMs` apart (each write completes first).
export async function writeInPieces(sock, data, size, delayMs) {
  const buf = Buffer.isBuffer(data) ? data : Buffer.from(data, "latin1");
  for (let i = 0; i < buf.length; i += size) {
    await new Promise((resolve, reject) => sock.write(buf.subarray(i, i + size), (e) => (e ? reject(e) : resolve())));
    if (delayMs) await sleep(delayMs);
  }
}

// Waits on `obj.wake` until check() returns something other than undefined, the
// connection ended, or the deadline passed.
export async function waitFor(obj, check, timeoutMs, what) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = check();
    if (v !== undefined) return v;
    if (obj.ended) throw new Error(`connection ${obj.error ? `failed (${obj.error.code ?? obj.error.message})` : "closed"} while waiting for ${what}; buffered ${JSON.stringify(short(obj.buf.toString("latin1"), 300))}`);
    const left = end - Date.now();
    if (left <= 0) throw new Error(`no ${what} within ${timeoutMs} ms; buffered ${JSON.stringify(short(obj.buf.toString("latin1"), 300))}`);
    await new Promise((resolve) => {
      const t = setTimeout(resolve, left);
      obj.wake = () => { clearTimeout(t); resolve(); };
    });
  }
}

// A raw HTTP/1.1 client on one TCP connection: send bytes (whole or in pieces), read whole
// responses (Content-Length or chunked), see whether and when the server closed it.
export class RawHttp {
  static open(port) {
    return new Promise((resolve, reject) => {
      const sock = net.connect(port, HOST);
      sock.setNoDelay(true);
      sock.once("connect", () => resolve(new RawHttp(sock)));
      sock.once("error", reject);
    });
  }

  constructor(sock) {
    this.sock = sock;
    this.buf = Buffer.alloc(0);
    this.ended = false;
    this.endedAt = null;
    this.error = null;
    this.wake = null;
    const wake = () => { const w = this.wake; this.wake = null; if (w) w(); };
    const ended = () => { if (!this.ended) { this.ended = true; this.endedAt = Date.now(); } wake(); };
    sock.on("data", (d) => { this.buf = Buffer.concat([this.buf, d]); wake(); });
    sock.on("end", ended);
    sock.on("close", ended);
    sock.on("error", (e) => { this.error = e; ended(); });
  }

  send(data) {
    this.sock.write(data);
  }

  sendInPieces(data, size, delayMs) {
    return writeInPieces(this.sock, data, size, delayMs);
  }

  // The next whole response (an interim 1xx one included): { status, statusLine, headers,
  // body, text }. `head`: the response answers a HEAD request (no body whatever the
  // headers say).
  response({ head = false, timeoutMs = ms(5000) } = {}) {
    return waitFor(this, () => this._parse(head), timeoutMs, "whole HTTP response");
  }

  _parse(head) {
    const headEnd = this.buf.indexOf("\r\n\r\n");
    if (headEnd < 0) return undefined;
    const lines = this.buf.subarray(0, headEnd).toString("latin1").split("\r\n");
    const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0]);
    if (!m) throw new Error(`not an HTTP response: ${JSON.stringify(short(this.buf.toString("latin1"), 200))}`);
    const headers = {};
    for (const l of lines.slice(1)) {
      const i = l.indexOf(":");
      const name = l.slice(0, i).trim().toLowerCase(), value = l.slice(i + 1).trim();
      headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
    }
    const status = Number(m[1]);
    let at = headEnd + 4, body;
    if (head || status === 204 || status === 304 || (status >= 100 && status < 200)) {
      body = Buffer.alloc(0);
    } else if (/chunked/i.test(headers["transfer-encoding"] ?? "")) {
      const parts = [];
      for (;;) {
        const eol = this.buf.indexOf("\r\n", at);
        if (eol < 0) return undefined;
        const size = parseInt(this.buf.subarray(at, eol).toString("latin1"), 16);
        if (this.buf.length < eol + 2 + size + 2) return undefined;
        parts.push(this.buf.subarray(eol + 2, eol + 2 + size));
        at = eol + 2 + size + 2;
        if (size === 0) break;
      }
      body = Buffer.concat(parts);
    } else {
      assert.ok(headers["content-length"] !== undefined, `a ${status} response without Content-Length or chunked: ${lines.join(" | ")}`);
      const len = Number(headers["content-length"]);
      if (this.buf.length < at + len) return undefined;
      body = this.buf.subarray(at, at + len);
      at += len;
    }
    this.buf = this.buf.subarray(at);
    return { status, statusLine: lines[0], headers, body, text: body.toString("utf8") };
  }

  // True once the server closed the connection, false at the deadline.
  async closedWithin(timeoutMs) {
    try {
      await waitFor(this, () => undefined, timeoutMs, "the close");
    } catch {
      // ended or timed out: this.ended says which
    }
    return this.ended;
  }

  destroy() {
    this.sock.destroy();
  }
}

