// socket.io-client 2.x (Engine.IO v3, Socket.IO protocol v4) behind --allow-eio3, as Node's
// socket.io 4.8 serves it with allowEIO3: true. The real socket.io-client 2.5.0 (npm alias
// socket.io-client-v2) over polling, websocket and the upgrade; raw v3 polling requests for
// the payload forms (string with UTF-16 lengths, binary, b64=1 base64) and malformed bodies;
// the reversed heartbeat (the client pings); the helpdesk with v2 customers and agents.
// Without the flag, EIO=3 is refused as before.

import { describe, test, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import ioV2 from "socket.io-client-v2";
import {
  useServer, request, jsonBody, client, connected, waitEvent, expectNoEvent, sleep, ms, bounded, wsConnect,
  HOST, TEST_API_KEY, binary,
} from "./helpers.mjs";
import { useHelpdesk, jwt, agent, customer, send, closeHdClients, NSP } from "./helpdesk-helpers.mjs";

const PING_INTERVAL = 400;
const PING_TIMEOUT = 300;

const v2Sockets = new Set();
function v2(srv, nsp = "/", opts = {}) {
  const s = ioV2(`http://${HOST}:${srv.port}${nsp}`, { forceNew: true, reconnection: false, timeout: ms(10000), ...opts });
  v2Sockets.add(s);
  return s;
}
function closeV2() {
  for (const s of v2Sockets) s.close();
  v2Sockets.clear();
}
after(closeV2);

function v2Connected(socket, timeoutMs = ms(10000)) {
  if (socket.connected) return Promise.resolve(socket);
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => done(reject, new Error(`v2 socket ${socket.nsp} not connected within ${timeoutMs} ms`)), timeoutMs);
    const done = (f, v) => { clearTimeout(t); socket.off("connect", ok); socket.off("error", ko); socket.off("connect_error", ko); f(v); };
    const ok = () => done(resolve, socket);
    const ko = (err) => done(reject, new Error(`v2 socket ${socket.nsp}: ${JSON.stringify(err?.message ?? err)}`));
    socket.on("connect", ok);
    socket.on("error", ko);
    socket.on("connect_error", ko);
  });
}

// An ack through the v2 API (a callback), bounded.
function v2Ack(socket, event, ...args) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no ack for "${event}" within ${ms(5000)} ms`)), ms(5000));
    socket.emit(event, ...args, (...reply) => { clearTimeout(t); resolve(reply); });
  });
}

// The first event whose first argument passes check (earlier ones, such as a conversation an
// earlier test left in the queue, are skipped).
function waitMatching(socket, event, check, timeoutMs = ms(5000)) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => { socket.off(event, h); reject(new Error(`no matching "${event}" within ${timeoutMs} ms`)); }, timeoutMs);
    const h = (arg) => {
      if (!check(arg)) return;
      clearTimeout(t);
      socket.off(event, h);
      resolve(arg);
    };
    socket.on(event, h);
  });
}

// ---------- raw Engine.IO v3 polling ----------

const v3Path = (srv, { sid, extra = "" } = {}) =>
  `${srv.path}?EIO=3&transport=polling${sid ? `&sid=${encodeURIComponent(sid)}` : ""}${extra}`;

// The string form: "<length>:<packet>", lengths in UTF-16 code units, which is what a
// JavaScript string's length counts.
function decodeV3String(text) {
  const out = [];
  let i = 0;
  while (i < text.length) {
    const colon = text.indexOf(":", i);
    assert.ok(colon > i, `no length at ${i} in ${JSON.stringify(text)}`);
    const n = Number(text.slice(i, colon));
    assert.ok(Number.isInteger(n) && colon + 1 + n <= text.length, `bad length in ${JSON.stringify(text)}`);
    out.push(text.slice(colon + 1, colon + 1 + n));
    i = colon + 1 + n;
  }
  return out;
}
const encodeV3String = (packets) => packets.map((p) => `${p.length}:${p}`).join("");

// The binary form: 0 (string) or 1 (binary), the length's digits as byte values, 0xff, then
// the packet (a binary one: the type byte 4 and the data).
function decodeV3Binary(buf) {
  const out = [];
  let i = 0;
  while (i < buf.length) {
    const kind = buf[i++];
    let digits = "";
    while (buf[i] !== 0xff) digits += String(buf[i++]);
    i++;
    const n = Number(digits);
    const data = buf.subarray(i, i + n);
    i += n;
    if (kind === 1) assert.equal(data[0], 4, "a binary packet is the MESSAGE type byte, then the data");
    out.push(kind === 0 ? data.toString("utf8") : Buffer.from(data.subarray(1)));
  }
  return out;
}
function encodeV3Binary(packets) {
  return Buffer.concat(packets.map((p) => {
    const data = Buffer.isBuffer(p) ? Buffer.concat([Buffer.from([4]), p]) : Buffer.from(p, "utf8");
    const digits = [...String(data.length)].map(Number);
    return Buffer.concat([Buffer.from([Buffer.isBuffer(p) ? 1 : 0, ...digits, 0xff]), data]);
  }));
}

async function v3Open(srv, extra = "") {
  const res = await request(srv.port, { path: v3Path(srv, { extra }) });
  assert.equal(res.status, 200, res.text);
  const [open, ...rest] = decodeV3String(res.text);
  assert.ok(open.startsWith("0"), `OPEN first: ${res.text}`);
  return { sid: JSON.parse(open.slice(1)).sid, open: JSON.parse(open.slice(1)), rest };
}
const v3Get = (srv, sid, extra = "") => request(srv.port, { path: v3Path(srv, { sid, extra }) });
const v3Post = (srv, sid, body, headers = {}) =>
  request(srv.port, { method: "POST", path: v3Path(srv, { sid }), body, headers });

// Polls until count packets (noops dropped) arrived; string or binary answers alike.
async function v3Collect(srv, sid, count) {
  const got = [];
  const end = Date.now() + ms(5000);
  while (got.length < count) {
    assert.ok(Date.now() < end, `only ${JSON.stringify(got)} within ${ms(5000)} ms`);
    const res = await v3Get(srv, sid);
    assert.equal(res.status, 200, res.text);
    const packets = res.headers["content-type"] === "application/octet-stream" ? decodeV3Binary(res.body) : decodeV3String(res.text);
    got.push(...packets.filter((p) => p !== "6"));
  }
  return got;
}

// Opens a v3 session and waits until "/" is joined (at once: the client never asks) and the
// echo server's "auth" event is in. Returns the sid and the OPEN packet.
async function v3Ready(srv, extra = "") {
  const { sid, open, rest } = await v3Open(srv, extra);
  const early = [...rest];
  while (!early.includes('42["auth",{}]')) early.push(...(await v3Collect(srv, sid, 1)));
  assert.deepEqual(early, ["40", '42["auth",{}]'], 'the implicit CONNECT to "/" without a payload');
  return { sid, open };
}

// A ready v3 session that also joined "/custom"; returns the sid.
async function v3Socket(srv) {
  const { sid } = await v3Ready(srv);
  const ok = await v3Post(srv, sid, encodeV3String(["40/custom,"]));
  assert.equal(ok.text, "ok");
  const got = await v3Collect(srv, sid, 2);
  assert.deepEqual(got.slice(0, 1), ["40/custom,"], "CONNECT answered without a payload");
  return sid;
}

test("--help of both binaries names --allow-eio3 and its environment variable", () => {
  for (const kind of ["echo", "server"]) {
    const r = spawnSync(binary(kind), ["--help"], { encoding: "utf8", timeout: ms(5000) });
    assert.equal(r.status, 0, r.stderr);
    const text = r.stdout + r.stderr;
    assert.match(text, /--allow-eio3\s+SWITCHBOARD_ALLOW_EIO3\s+serve Engine\.IO v3 clients/);
  }
});

describe("without --allow-eio3", () => {
  const srv = useServer();

  test("an EIO=3 handshake is refused on polling and websocket, as Node without allowEIO3", bounded(5000), async () => {
    for (const q of ["EIO=3&transport=polling", "transport=polling"]) {
      const res = await request(srv.port, { path: `${srv.path}?${q}` });
      assert.equal(res.status, 400);
      assert.deepEqual(jsonBody(res), { code: 5, message: "Unsupported protocol version" });
    }
    const s = v2(srv, "/", { transports: ["polling"] });
    const [err] = await waitEvent(s, "connect_error");
    assert.match(String(err.message ?? err), /xhr poll error|server error/);
  });
});

describe("with --allow-eio3", () => {
  const srv = useServer({ args: ["--allow-eio3", "--ping-interval", String(PING_INTERVAL), "--ping-timeout", String(PING_TIMEOUT)] });

  for (const transports of [["polling"], ["websocket"], undefined]) {
    const name = transports ? transports.join("") : "the default upgrade";
    test(`socket.io-client 2.5.0 over ${name}: "/" and a namespace, acks, binary both ways, rooms, server disconnect`, bounded(20000), async () => {
      try {
        const root = await v2Connected(v2(srv, "/", { transports }));
        const engineId = root.io.engine.id;
        assert.equal(root.id, engineId, 'in "/" the socket id is the Engine.IO sid (Node, protocol 3)');
        const custom = v2(srv, "/custom", { transports, query: { token: "t 1", lang: "fr" } });
        const [auth] = await waitEvent(custom, "auth", ms(5000));
        assert.deepEqual(auth, { token: "t 1", lang: "fr" }, "the namespace query is the auth payload");
        const [found] = await v2Ack(custom, "fetch-sockets", custom.id);
        assert.deepEqual(found.map((f) => f.id), [`/custom#${custom.io.engine.id}`], 'the server\'s id is "/nsp#sid"');
        if (!transports) {
          await new Promise((resolve) => (custom.io.engine.transport.name === "websocket" ? resolve() : custom.io.engine.once("upgrade", resolve)));
        }

        const text = "h\u00e9llo \u{1F600} \u{1F44D}\u{1F3FD} \u20ac";
        assert.deepEqual(await v2Ack(custom, "message-with-ack", text, { n: 1, s: "\u{1F600}" }), [text, { n: 1, s: "\u{1F600}" }]);
        const bytes = Buffer.from([0, 1, 2, 253, 254, 255]);
        const back = waitEvent(custom, "message-back");
        custom.emit("message", { caption: "\u{1F4F7}" }, bytes);
        const [obj, bin] = await back;
        assert.deepEqual(obj, { caption: "\u{1F4F7}" });
        assert.ok(Buffer.isBuffer(bin) && bin.equals(bytes), `binary back: ${bin}`);
        assert.deepEqual(await v2Ack(custom, "message-with-ack", bytes), [bytes]);

        const other = v2(srv, "/custom", { transports });
        await waitEvent(other, "auth", ms(5000));
        await v2Ack(custom, "join", "r1");
        await v2Ack(other, "join", "r1");
        const both = [waitEvent(custom, "room-message"), waitEvent(other, "room-message")];
        custom.emit("to-room", "r1", "to the room \u{1F600}", Buffer.from([7]));
        for (const [m, b] of await Promise.all(both)) {
          assert.equal(m, "to the room \u{1F600}");
          assert.ok(Buffer.from([7]).equals(b));
        }

        const gone = waitEvent(custom, "disconnect");
        await v2Ack(custom, "disconnect-sockets", custom.id, false);
        assert.deepEqual(await gone, ["io server disconnect"]);
        assert.ok(root.connected, '"/" stays connected when only "/custom" is disconnected');
      } finally {
        closeV2();
      }
    });
  }

  for (const transports of [["polling"], ["websocket"]]) {
    test(`socket.io-client 2.5.0 with forceBase64 over ${transports[0]}: binary as "b4" and base64 both ways`, bounded(10000), async () => {
      try {
        const s = v2(srv, "/custom", { transports, forceBase64: true });
        await waitEvent(s, "auth", ms(5000));
        const bytes = Buffer.from([0, 255, 1, 254, 0x7f]);
        const back = waitEvent(s, "message-back");
        s.emit("message", "\u{1F600}", bytes);
        const [t, b] = await back;
        assert.equal(t, "\u{1F600}");
        assert.ok(Buffer.from(b).equals(bytes), `binary back: ${JSON.stringify(b)}`);
      } finally {
        closeV2();
      }
    });
  }

  test("raw v3 websocket: binary as the type byte and data, or as a \"b4\" text frame with b64=1", bounded(10000), async () => {
    for (const b64 of [false, true]) {
      const ws = await wsConnect(`ws://${HOST}:${srv.port}${srv.path}?EIO=3&transport=websocket${b64 ? "&b64=1" : ""}`);
      assert.ok((await ws.next()).startsWith("0{"));
      assert.equal(await ws.next(), "40");
      assert.equal(await ws.next(), '42["auth",{}]');
      ws.send('451-["message",{"_placeholder":true,"num":0}]');
      ws.send(b64 ? "b4AQID" : Buffer.from([4, 1, 2, 3]));
      assert.equal(await ws.next(), '451-["message-back",{"_placeholder":true,"num":0}]');
      const bin = await ws.next();
      if (b64) assert.equal(bin, "b4AQID");
      else assert.ok(Buffer.from([4, 1, 2, 3]).equals(bin), `binary frame: ${JSON.stringify(bin)}`);
      ws.send("2");
      assert.equal(await ws.next(), "3", "the server answers the client's PING");
      ws.send(Buffer.from([2]));
      const closed = await ws.expectClosed();
      assert.equal(closed.code, 1002, "a binary frame that is not a message is a protocol error");
    }
  });

  test("refusals reach a v2 client as its error event, with Node's err.data || err.message", bounded(10000), async () => {
    try {
      const refused = v2(srv, "/refuse", { transports: ["websocket"] });
      assert.deepEqual((await waitEvent(refused, "error"))[0], { reason: "test" }, "the middleware's data");
      const unknown = v2(srv, "/no-such-namespace", { transports: ["polling"] });
      assert.deepEqual((await waitEvent(unknown, "error"))[0], { message: "Invalid namespace" });
    } finally {
      closeV2();
    }
  });

  test("a socket.io-client 4 next to v2 clients on the same server is unaffected", bounded(10000), async () => {
    const s = client(srv, "/custom", { transports: ["websocket"], auth: { a: 1 } });
    await connected(s);
    assert.match(s.id, /^[A-Za-z0-9_-]{20}$/, "v5 ids stay random, not the sid");
    assert.notEqual(s.id, s.io.engine.id);
    const r = v2(srv, "/custom", { transports: ["websocket"] });
    await waitEvent(r, "auth");
    await v2Ack(r, "join", "mixed");
    const got = waitEvent(r, "room-message");
    s.emit("to-room", "mixed", "from v5", Buffer.from([1, 2]));
    const [m, b] = await got;
    assert.equal(m, "from v5");
    assert.ok(Buffer.from([1, 2]).equals(b));
    closeV2();
  });

  test("raw v3 polling: the handshake, UTF-16 lengths both ways, binary payloads when the client reads binary", bounded(10000), async () => {
    const { sid, open } = await v3Ready(srv);
    assert.deepEqual(Object.keys(open), ["sid", "upgrades", "pingInterval", "pingTimeout", "maxPayload"], "as Node 4.8 sends it to v3 clients");
    assert.deepEqual(open.upgrades, ["websocket"]);
    assert.equal(open.pingInterval, PING_INTERVAL);
    const text = "\u{1F600}x\u00e9\u{1F44D}\u{1F3FD}";
    assert.equal((await v3Post(srv, sid, encodeV3String([`42["message-with-ack","${text}"]`.replace("42[", "421["), "2"]))).text, "ok");
    const res = await v3Get(srv, sid);
    assert.equal(res.headers["content-type"], "text/plain; charset=UTF-8");
    // The server computed the lengths: decoding them as JavaScript does must give whole packets.
    assert.deepEqual(decodeV3String(res.text), [`431["${text}"]`, "3"], "the ack, then a bare PONG");
    // An attachment: the client reads binary (no b64), so the answer is the binary form.
    const post = encodeV3String(['451-["message",{"_placeholder":true,"num":0}]', "b4AAEC/w=="]);
    assert.equal((await v3Post(srv, sid, post)).text, "ok");
    const bin = await v3Get(srv, sid);
    assert.equal(bin.headers["content-type"], "application/octet-stream");
    assert.deepEqual(decodeV3Binary(bin.body), ['451-["message-back",{"_placeholder":true,"num":0}]', Buffer.from([0, 1, 2, 255])]);
    // A binary-form POST (what the v2 client sends when it has binary to send).
    const body = encodeV3Binary([`451-["message",{"_placeholder":true,"num":0},"\u{1F600}"]`, Buffer.from([9, 8, 7])]);
    assert.equal((await v3Post(srv, sid, body, { "content-type": "application/octet-stream" })).text, "ok");
    assert.deepEqual(decodeV3Binary((await v3Get(srv, sid)).body), [`451-["message-back",{"_placeholder":true,"num":0},"\u{1F600}"]`, Buffer.from([9, 8, 7])]);
    assert.equal((await v3Post(srv, sid, "1:1")).text, "ok");
  });

  test("raw v3 polling with b64=1: binary packets come as b4 and base64 inside the string payload (fetch)", bounded(10000), async () => {
    const base = `http://${HOST}:${srv.port}${srv.path}?EIO=3&transport=polling&b64=1`;
    const first = await fetch(base);
    const [open] = decodeV3String(await first.text());
    const sid = JSON.parse(open.slice(1)).sid;
    const url = `${base}&sid=${sid}`;
    const poll = async () => {
      const r = await fetch(url);
      assert.equal(r.headers.get("content-type"), "text/plain; charset=UTF-8");
      return decodeV3String(await r.text());
    };
    const post = await fetch(url, { method: "POST", body: encodeV3String(['451-["message",{"_placeholder":true,"num":0}]', "b4AQID"]) });
    assert.equal(await post.text(), "ok");
    const got = [];
    while (!got.includes("b4AQID")) got.push(...(await poll()));
    assert.deepEqual(got.slice(-2), ['451-["message-back",{"_placeholder":true,"num":0}]', "b4AQID"]);
    await fetch(url, { method: "POST", body: "1:1" });
  });

  test("raw v3 upgrade: a GET sent during the upgrade is answered in the v3 string form (\"1:6\"), and the websocket carries on", bounded(10000), async () => {
    const { sid } = await v3Ready(srv);
    const ws = await wsConnect(`ws://${HOST}:${srv.port}${srv.path}?EIO=3&transport=websocket&sid=${encodeURIComponent(sid)}`);
    ws.send("2probe");
    assert.equal(await ws.next(), "3probe");
    const parked = v3Get(srv, sid); // after the probe
    await sleep(ms(100));
    ws.send("5");
    const res = await parked;
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(decodeV3String(res.text), ["6"], `the string form, as the v2 client parses it: ${JSON.stringify(res.text)}`);
    ws.send('42["message","after"]');
    assert.equal(await ws.next(), '42["message-back","after"]');
  });

  test("JSONP polling (j=) is not offered: Transport unknown", bounded(5000), async () => {
    for (const q of ["EIO=3&transport=polling&j=0", "EIO=4&transport=polling&j=1"]) {
      const res = await request(srv.port, { path: `${srv.path}?${q}` });
      assert.equal(res.status, 400, q);
      assert.deepEqual(jsonBody(res), { code: 0, message: "Transport unknown" });
    }
  });

  test("malformed v3 payloads are answered 400 and end the session, never the server", bounded(15000), async () => {
    const bad = [
      ["5:4abc", "text/plain;charset=UTF-8"],          // length past the end
      ["x:4", "text/plain;charset=UTF-8"],             // not a length
      ["3:4\u{1F600}1", "text/plain;charset=UTF-8"],   // a length without its ':' at the end
      ["2:4\u{1F600}", "text/plain;charset=UTF-8"],    // ends inside a surrogate pair
      ["", "text/plain;charset=UTF-8"],                // empty
      ["4:b4A=", "text/plain;charset=UTF-8"],          // bad base64
      [Buffer.from([0, 9, 0xff, 0x34]), "application/octet-stream"], // past the end
      [Buffer.from([7, 1, 0xff, 0x32]), "application/octet-stream"], // not 0 or 1
      [Buffer.from([0, 1, 2]), "application/octet-stream"],           // no 0xff
    ];
    for (const [body, type] of bad) {
      const sid = await v3Socket(srv);
      const res = await v3Post(srv, sid, body, { "content-type": type });
      assert.equal(res.status, 400, `${JSON.stringify(body)}: ${res.status} ${res.text}`);
      assert.deepEqual(jsonBody(res), { code: 3, message: "Bad request" });
      const after = await v3Get(srv, sid);
      assert.ok(after.status === 400 || decodeV3String(after.text).at(-1) === "1", `session closed after ${JSON.stringify(body)}: ${after.text}`);
    }
    // Edge cases that are well-formed: empty packets are skipped, leading zeros are digits.
    const sid = await v3Socket(srv);
    assert.equal((await v3Post(srv, sid, "0:01:20:")).text, "ok");
    assert.deepEqual(await v3Collect(srv, sid, 1), ["3"]);
    srv.assertAlive();
  });

  test("heartbeat v3: the client pings and the server answers; no server pings; silence ends the session", bounded(20000), async () => {
    // socket.io-client 2 pings every pingInterval: alive well past pingInterval + pingTimeout.
    const s = await v2Connected(v2(srv, "/", { transports: ["polling"] }));
    let pongs = 0;
    s.io.engine.on("pong", () => pongs++);
    await expectNoEvent(s, "disconnect", ms(3 * (PING_INTERVAL + PING_TIMEOUT)));
    assert.ok(s.connected);
    assert.ok(pongs >= 2, `pongs answered: ${pongs}`);
    closeV2();

    // A raw session that pings keeps living and never sees a PING from the server.
    const { sid } = await v3Ready(srv);
    const seen = [];
    const until = Date.now() + 3 * (PING_INTERVAL + PING_TIMEOUT);
    while (Date.now() < until) {
      assert.equal((await v3Post(srv, sid, "1:2")).text, "ok");
      const res = await v3Get(srv, sid);
      assert.equal(res.status, 200, `still open: ${res.text}`);
      seen.push(...decodeV3String(res.text));
      await sleep(PING_INTERVAL / 2);
    }
    assert.ok(!seen.includes("2"), `no server PING: ${JSON.stringify(seen)}`);
    assert.ok(seen.filter((p) => p === "3").length >= 3, `PONGs: ${JSON.stringify(seen)}`);

    // A silent one is closed after pingInterval + pingTimeout with "ping timeout".
    const silent = await v3Ready(srv);
    const started = Date.now();
    for (;;) {
      const res = await v3Get(srv, silent.sid);
      if (res.status === 400) break;
      const packets = decodeV3String(res.text);
      assert.ok(!packets.includes("2"), "no server PING");
      if (packets.at(-1) === "1") break;
      assert.ok(Date.now() - started < ms(5000), "closed within the timeout");
    }
    const waited = Date.now() - started;
    assert.ok(waited >= PING_INTERVAL + PING_TIMEOUT - 50, `closed after ${waited} ms, not before interval + timeout`);
    // A PONG from a v3 client is the wrong direction (Node: "invalid heartbeat direction").
    const wrong = await v3Ready(srv);
    await v3Post(srv, wrong.sid, "1:3");
    const res = await v3Get(srv, wrong.sid);
    assert.ok(res.status === 400 || decodeV3String(res.text).at(-1) === "1", `closed: ${res.text}`);
  });
});

describe("with --allow-eio3 and --recovery-window", () => {
  const srv = useServer({ args: ["--allow-eio3", "--recovery-window", "60000"] });

  test("a v2 socket is never kept for recovery: a CONNECT naming an empty pid does not get a dropped v2 socket's id or rooms", bounded(15000), async () => {
    try {
      const victim = v2(srv, "/custom", { transports: ["websocket"] });
      await waitEvent(victim, "auth", ms(5000));
      await v2Ack(victim, "join", "secret-room");
      const victimId = `/custom#${victim.io.engine.id}`;
      victim.io.engine.close(); // the transport closes: a reason Node's recovery keeps sockets for
      await sleep(ms(200));
      const thief = client(srv, "/custom", { transports: ["websocket"], auth: { pid: "" } });
      await connected(thief);
      assert.notEqual(thief.id, victimId, "not the dropped v2 socket's id");
      assert.ok(!thief.recovered, "nothing recovered");
      const probe = client(srv, "/custom", { transports: ["websocket"] });
      await connected(probe);
      const none = expectNoEvent(thief, "room-message", ms(300));
      probe.emit("to-room", "secret-room", "for the v2 socket only");
      await none;
    } finally {
      closeV2();
    }
  });
});

describe("helpdesk with socket.io-client 2 customers and agents", () => {
  const srv = useHelpdesk({ args: ["--allow-eio3"] });
  const hd = (token, transports, extra = {}) => v2(srv, NSP, { transports, query: { token, ...extra } });

  test("a v2 customer with a JWT in the query, over polling, talks to a v4 agent", bounded(20000), async () => {
    try {
      const a = await agent(srv, "v2-a1");
      const toAgent = waitMatching(a, "support", (p) => p.data?.session_id === "v2-s1");
      const c = await v2Connected(hd(jwt({ sub: "v2-s1", role: "customer", name: "Customer \u{1F600}" }), ["polling"]));
      const [r] = await v2Ack(c, "support", { session_id: "v2-s1", message: "hello \u{1F600} \u00e9", attachment: false, ticket_chat_id: null, client_msg_id: "v2-m1" });
      assert.equal(r.status_code, 200, JSON.stringify(r));
      assert.equal(r.data.message, "hello \u{1F600} \u00e9");
      assert.deepEqual(r.data.sender, { type: "customer", id: "v2-s1", name: "Customer \u{1F600}" });
      const atAgent = await toAgent;
      assert.deepEqual(atAgent.data, r.data);
      const toCustomer = waitMatching(c, "support", (p) => p.data?.sender?.type === "agent");
      const reply = await send(a, "agent here \u{1F44B}", { ticket_chat_id: r.data.ticket_chat_id });
      assert.equal(reply.status_code, 200);
      assert.deepEqual((await toCustomer).data, reply.data);
    } finally {
      closeV2();
      closeHdClients();
    }
  });

  test("a v2 client with the API key in the query (token_source=api), over websocket", bounded(15000), async () => {
    try {
      const api = await v2Connected(hd(TEST_API_KEY, ["websocket"], { token_source: "api" }));
      const [r] = await v2Ack(api, "support", { session_id: "v2-api", message: "from the integration", attachment: false });
      assert.equal(r.status_code, 200, JSON.stringify(r));
      assert.deepEqual(r.data.sender, { type: "customer", id: "v2-api", name: null });
    } finally {
      closeV2();
    }
  });

  test("a v2 agent (default upgrade) receives a v4 customer's message and answers", bounded(20000), async () => {
    try {
      const a = await v2Connected(hd(jwt({ sub: "v2-agent", role: "agent", name: "Agent v2" }), undefined));
      const toAgent = waitMatching(a, "support", (p) => p.data?.session_id === "v4-s2");
      const c = await customer(srv, "v4-s2");
      const first = await send(c, "need help", { session_id: "v4-s2" });
      assert.equal(first.status_code, 200);
      const atAgent = await toAgent;
      assert.deepEqual(atAgent.data, first.data);
      const toCustomer = waitMatching(c, "support", (p) => p.data?.sender?.type === "agent");
      const [r] = await v2Ack(a, "support", { ticket_chat_id: first.data.ticket_chat_id, message: "on it \u{1F600}", attachment: false });
      assert.equal(r.status_code, 200, JSON.stringify(r));
      assert.deepEqual((await toCustomer).data, r.data);
    } finally {
      closeV2();
      closeHdClients();
    }
  });

  test("credentials in the CONNECT's own query (none in the handshake's) are found, raw v3 polling", bounded(10000), async () => {
    const { sid, rest } = await v3Open(srv);
    const early = [...rest];
    while (!early.includes("40")) early.push(...(await v3Collect(srv, sid, 1)));
    const q = `token=${encodeURIComponent(TEST_API_KEY)}&token_source=api`;
    assert.equal((await v3Post(srv, sid, encodeV3String([`40${NSP}?${q},`]))).text, "ok");
    assert.deepEqual(await v3Collect(srv, sid, 1), [`40${NSP},`]);
    const msg = JSON.stringify(["support", { session_id: "raw-v3", message: "raw \u{1F600}", attachment: false }]);
    assert.equal((await v3Post(srv, sid, encodeV3String([`42${NSP},7${msg}`]))).text, "ok");
    const got = [];
    while (!got.some((p) => p.startsWith(`43${NSP},7`))) got.push(...(await v3Collect(srv, sid, 1)));
    const [r] = JSON.parse(got.find((p) => p.startsWith(`43${NSP},7`)).slice(`43${NSP},7`.length));
    assert.equal(r.status_code, 200, JSON.stringify(r));
    assert.equal(r.data.message, "raw \u{1F600}");
    await v3Post(srv, sid, "1:1");
  });

  test("a bad token reaches the v2 client as its error event", bounded(10000), async () => {
    try {
      const bad = hd("not-a-token", ["polling"]);
      const [err] = await waitEvent(bad, "error");
      assert.equal(typeof err, "object", "the refusal's data, as Node sends err.data to protocol v4 clients");
      assert.equal(typeof err.code, "string");
      const key = hd("wrong-key-0123456789", ["websocket"], { token_source: "api" });
      assert.deepEqual((await waitEvent(key, "error"))[0], { code: "invalid_api_key" });
    } finally {
      closeV2();
    }
  });
});
