// Malformed input over both transports. Each bad request is answered the way the Node
// engine.io / socket.io server answers it (error codes and messages are engine.io's
// Server.errorMessages), only the offending session is closed, and everybody else keeps
// being served: a bystander client stays connected through the whole file, and a fresh
// client gets its echo after every case.

import { test, describe, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import {
  startServer, client, connected, closeClients, echoRoundTrip, assertEchoHealthy, request,
  jsonBody, eioQuery, eioOpen, eioGet, eioPost, expectSessionClosed, eioWsOpen, sioWsConnect,
  wsConnect, tcpUpgrade, wsFrame, tcpClosedWithin, wsRejectedWithin, waitEvent, sleep, io, ms,
  bounded, HOST,
} from "./helpers.mjs";
import net from "node:net";

let srv;
let bystander;
before(async () => {
  srv = await startServer();
  // created outside the helpers' registry so that closeClients() leaves it alone
  bystander = io(srv.url, { forceNew: true, reconnection: false, transports: ["websocket"] });
  await connected(bystander);
});
afterEach(() => srv.assertAlive());
after(async () => {
  try {
    assert.ok(bystander.connected, "the bystander must survive every malformed input");
    await echoRoundTrip(bystander, "bystander still served");
  } finally {
    bystander.disconnect();
    closeClients();
    await srv.stop();
  }
});

// The engine.io server's error responses: HTTP 400, JSON {code, message}.
async function expectEngineError(res, code, message) {
  assert.equal(res.status, 400, `status (body ${res.text})`);
  assert.match(String(res.headers["content-type"]), /^application\/json/);
  assert.deepEqual(jsonBody(res), { code, message });
}

describe("handshake errors (HTTP)", () => {
  test("unknown transport: 400 {code 0, Transport unknown}", bounded(10000), async () => {
    await expectEngineError(await request(srv.port, { path: "/socket.io/?EIO=4&transport=carrier-pigeon" }), 0, "Transport unknown");
    await expectEngineError(await request(srv.port, { path: "/socket.io/?EIO=4" }), 0, "Transport unknown");
    await expectEngineError(await request(srv.port, { path: "/socket.io/?EIO=4&transport=constructor" }), 0, "Transport unknown");
  });

  test("unknown sid: 400 {code 1, Session ID unknown} on GET and POST", bounded(10000), async () => {
    await expectEngineError(await eioGet(srv, "no-such-session"), 1, "Session ID unknown");
    await expectEngineError(await eioPost(srv, "no-such-session", "4hello"), 1, "Session ID unknown");
  });

  test("handshake by POST: 400 {code 2, Bad handshake method}", bounded(10000), async () => {
    await expectEngineError(await request(srv.port, { method: "POST", path: eioQuery("/socket.io/"), body: "40" }), 2, "Bad handshake method");
  });

  test("handshake by PUT is refused with 400", bounded(10000), async () => {
    const res = await request(srv.port, { method: "PUT", path: eioQuery("/socket.io/"), body: "x" });
    assert.equal(res.status, 400);
  });

  test("EIO=3, a missing EIO and EIO=abc: 400 {code 5, Unsupported protocol version}", bounded(10000), async () => {
    await expectEngineError(await request(srv.port, { path: "/socket.io/?EIO=3&transport=polling" }), 5, "Unsupported protocol version");
    await expectEngineError(await request(srv.port, { path: "/socket.io/?transport=polling" }), 5, "Unsupported protocol version");
    await expectEngineError(await request(srv.port, { path: "/socket.io/?EIO=abc&transport=polling" }), 5, "Unsupported protocol version");
  });

  test("transport=websocket without an upgrade: 400 {code 3, Bad request}", bounded(10000), async () => {
    await expectEngineError(await request(srv.port, { path: "/socket.io/?EIO=4&transport=websocket" }), 3, "Bad request");
  });

  test("a polling session addressed as websocket without upgrade: 400 {code 3, Bad request}", bounded(10000), async () => {
    const { sid } = await eioOpen(srv);
    await expectEngineError(
      await request(srv.port, { path: eioQuery("/socket.io/", { sid, transport: "websocket" }) }), 3, "Bad request");
  });

  for (const [what, query] of [
    ["EIO=3", "?EIO=3&transport=websocket"],
    ["unknown transport", "?EIO=4&transport=foo"],
    ["unknown sid", "?EIO=4&transport=websocket&sid=nope"],
  ]) {
    test(`websocket upgrade with ${what} opens no session`, bounded(10000), async () => {
      // Refusing the upgrade (HTTP 400) is the clean answer; the Node server completes
      // some upgrades first and then drops the socket. Either way no OPEN packet arrives.
      let conn = null, err = null;
      try {
        conn = await wsConnect(`${srv.wsUrl}/socket.io/${query}`);
      } catch (e) {
        err = e;
      }
      if (err) {
        assert.equal(err.statusCode, 400, String(err));
      } else {
        const first = await Promise.race([conn.next(ms(2000)).catch(() => null), conn.closed.then(() => null)]);
        assert.equal(first, null, `no OPEN packet may arrive, got ${JSON.stringify(first)}`);
        await conn.expectClosed();
      }
      await assertEchoHealthy(srv);
    });
  }
});

describe("polling session errors", () => {
  afterEach(() => closeClients());

  for (const [what, body] of [
    ["not a packet ('abc')", "abc"],
    ["bad base64 ('bXX!')", "bXX!"],
    ["an empty body", ""],
    ["an unknown packet type ('9')", "9"],
    ["a good packet then garbage", "4hello\x1exyz"],
    ["an empty record between packets", "4a\x1e\x1e4b"],
  ]) {
    test(`POST with ${what}: HTTP 400 and the session is closed`, bounded(10000), async () => {
      const { sid } = await eioOpen(srv);
      const res = await eioPost(srv, sid, body);
      assert.equal(res.status, 400, `POST status (body ${res.text})`);
      await expectSessionClosed(srv, sid);
      await assertEchoHealthy(srv);
    });
  }

  test("a Socket.IO-level garbage packet over polling closes that session", bounded(10000), async () => {
    const { sid } = await eioOpen(srv);
    await eioPost(srv, sid, "4abc");
    await expectSessionClosed(srv, sid);
    await assertEchoHealthy(srv, { transports: ["polling"] });
  });

  test("two GETs at once on one session: the second gets 400 and the session closes", bounded(10000), async () => {
    const { sid } = await eioOpen(srv);
    const first = eioGet(srv, sid);
    await sleep(50);
    const second = await eioGet(srv, sid);
    assert.ok([400, 500].includes(second.status), `second GET status ${second.status}`);
    const r1 = await first;
    assert.equal(r1.status, 200);
    assert.equal(r1.text, "1", "the parked GET is answered with a CLOSE packet");
    await expectSessionClosed(srv, sid);
    await assertEchoHealthy(srv);
  });
});

describe("websocket: malformed Engine.IO and Socket.IO packets", () => {
  afterEach(() => closeClients());

  for (const [what, frame] of [
    ["an Engine.IO packet of unknown type", "abc"],
    ["an empty text frame", ""],
    ["Engine.IO type 9", "9"],
  ]) {
    test(`${what} closes that websocket`, bounded(10000), async () => {
      const { conn } = await eioWsOpen(srv);
      conn.send(frame);
      await conn.expectClosed();
      await assertEchoHealthy(srv);
    });
  }

  test("a malformed CONNECT ('4abc' before any namespace) closes the websocket", bounded(10000), async () => {
    const { conn } = await eioWsOpen(srv);
    conn.send("4abc");
    await conn.expectClosed();
    await assertEchoHealthy(srv);
  });

  for (const [what, frames] of [
    ["unknown Socket.IO packet type", ["4abc"]],
    ["event data that is not an array", ["42{}"]],
    ["truncated JSON", ['42["message",']],
    ["an event name that is an object", ["42[{}]"]],
    ["a reserved event name", ['42["connect"]']],
    ["an invalid ack id", ['42abc["message-with-ack",1,"2",{"3":[false]}]']],
    ["an ack id beyond 2^53-1", ['429007199254740992["message-with-ack",1]']],
    ["text while binary attachments are expected", ['451-["message",{"_placeholder":true,"num":0}]', '42["message","x"]']],
    ["a binary frame with no binary packet pending", [Buffer.from([1, 2, 3])]],
    ["a placeholder naming a missing attachment", ['451-["message",{"_placeholder":true,"num":5}]', Buffer.from([1])]],
    ["an absurd attachment count", ['451000000-["message",{"_placeholder":true,"num":0}]']],
    ["invalid UTF-8 inside a text frame", [{ text: Buffer.from('42["message","\xff\xfe"]', "latin1") }]],
  ]) {
    test(`Socket.IO: ${what} closes that session`, bounded(10000), async () => {
      const { conn } = await sioWsConnect(srv);
      for (const f of frames) {
        if (f.text) conn.ws.send(f.text, { binary: false }); // raw bytes in a text frame
        else conn.send(f);
      }
      await conn.expectClosed();
      await assertEchoHealthy(srv);
    });
  }

  test("a valid packet right after a rejected session works on a new session", bounded(10000), async () => {
    const { conn } = await sioWsConnect(srv);
    conn.send("42{}");
    await conn.expectClosed();
    const again = await sioWsConnect(srv);
    again.conn.send('42["message","ok"]');
    assert.equal(await again.conn.next(), '42["message-back","ok"]');
  });
});

describe("raw websocket frames on the TCP socket", () => {
  afterEach(() => closeClients());

  const upgradePath = "/socket.io/?EIO=4&transport=websocket";
  const cases = [
    ["an unmasked client frame", () => wsFrame({ payload: "4hello", mask: false })],
    ["a reserved opcode (0x3)", () => wsFrame({ opcode: 0x3, payload: "4x" })],
    ["RSV1 set without an extension", () => wsFrame({ rsv: 4, payload: "4x" })],
    ["a ping with a 200-byte payload", () => wsFrame({ opcode: 0x9, payload: Buffer.alloc(200) })],
    ["a fragmented ping", () => wsFrame({ opcode: 0x9, payload: "p", fin: false })],
    ["a continuation frame with nothing to continue", () => wsFrame({ opcode: 0x0, payload: "4x" })],
    ["a new text frame inside a fragmented message", () => Buffer.concat([
      wsFrame({ opcode: 0x1, payload: "4a", fin: false }), wsFrame({ opcode: 0x1, payload: "4b" })])],
    ["a length of 2^63-1", () => wsFrame({ payload: "4x", lengthOverride: 2n ** 63n - 1n })],
    ["4 KiB of garbage", () => Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919 + 13) & 0xff))],
  ];

  for (const [what, bytes] of cases) {
    test(`${what}: the server fails the connection at once`, bounded(10000), async () => {
      const { sock, rest } = await tcpUpgrade(srv, upgradePath);
      sock.write(bytes());
      const how = await wsRejectedWithin(sock, rest, ms(2000));
      assert.ok(how, "the server must send a close frame or drop the connection");
      sock.destroy();
      await assertEchoHealthy(srv);
    });
  }

  test("a truncated frame followed by end of stream: cleaned up", bounded(10000), async () => {
    const { sock } = await tcpUpgrade(srv, upgradePath);
    const f = wsFrame({ payload: "4" + "t".repeat(1000) });
    sock.write(f.subarray(0, 300));
    sock.end();
    assert.ok(await tcpClosedWithin(sock, ms(3000)), "the server must close its side");
    await assertEchoHealthy(srv);
  });

  test("a connection reset in the middle of a large frame: cleaned up", bounded(10000), async () => {
    const { sock } = await tcpUpgrade(srv, upgradePath);
    const f = wsFrame({ payload: "4" + "r".repeat(200000) });
    sock.write(f.subarray(0, 100000));
    await sleep(50);
    sock.resetAndDestroy();
    await sleep(100);
    await assertEchoHealthy(srv);
  });

  test("a close frame from the client is answered and the connection ends", bounded(10000), async () => {
    const { sock, rest } = await tcpUpgrade(srv, upgradePath);
    const payload = Buffer.from([0x03, 0xe8]); // 1000, normal closure
    sock.write(wsFrame({ opcode: 0x8, payload }));
    assert.equal(await wsRejectedWithin(sock, rest, ms(2000)), "close-frame", "the server answers with its close frame");
    assert.ok(await tcpClosedWithin(sock, ms(3000)), "then closes the TCP connection");
    await assertEchoHealthy(srv);
  });

  test("a valid frame after the upgrade is served (the raw path itself works)", bounded(10000), async () => {
    const { sock } = await tcpUpgrade(srv, upgradePath);
    // if this one fails, the failures above say nothing about malformed input
    const chunks = [];
    sock.on("data", (d) => chunks.push(d));
    sock.resume();
    sock.write(wsFrame({ payload: "40" }));
    const deadlineAt = Date.now() + ms(3000);
    while (!Buffer.concat(chunks).includes('40{"sid"') && Date.now() < deadlineAt) await sleep(20);
    assert.ok(Buffer.concat(chunks).includes('40{"sid"'), "CONNECT reply over hand-made frames");
    sock.destroy();
  });
});

describe("garbage HTTP", () => {
  function rawHttp(text, timeoutMs = ms(3000)) {
    return new Promise((resolve) => {
      const sock = net.connect(srv.port, HOST);
      const chunks = [];
      const done = (closed) => { clearTimeout(t); sock.destroy(); resolve({ closed, text: Buffer.concat(chunks).toString("latin1") }); };
      const t = setTimeout(() => done(false), timeoutMs);
      sock.on("data", (d) => {
        chunks.push(d);
        if (/^HTTP\/1\.[01] \d{3}/.test(Buffer.concat(chunks).toString("latin1"))) done(false);
      });
      sock.on("end", () => done(true));
      sock.on("close", () => done(true));
      sock.on("error", () => done(true));
      sock.on("connect", () => sock.write(text));
    });
  }

  for (const [what, text] of [
    ["a non-HTTP line", "GARBAGE GARBAGE\r\n\r\n"],
    ["binary noise", Buffer.from(Array.from({ length: 2048 }, (_, i) => (i * 31 + 7) & 0xff)).toString("latin1")],
    ["a 64 KiB header", `GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(65536)}\r\n\r\n`],
    ["a negative Content-Length", "POST /socket.io/?EIO=4&transport=polling&sid=x HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\nabc"],
  ]) {
    test(`${what}: answered with an error or closed, server unharmed`, bounded(10000), async () => {
      const r = await rawHttp(text);
      assert.ok(r.closed || /^HTTP\/1\.[01] [45]\d\d/.test(r.text), `server kept the connection open without an error response: ${r.text.slice(0, 100)}`);
      if (r.text) assert.match(r.text, /^HTTP\/1\.[01] [45]\d\d/);
      await assertEchoHealthy(srv);
    });
  }

  test("a request for another path is answered 404 and the server goes on", bounded(10000), async () => {
    const res = await request(srv.port, { path: "/not-socket-io/" });
    assert.equal(res.status, 404);
    await assertEchoHealthy(srv);
  });
});

test("after all of this the bystander was never disconnected", bounded(10000), async () => {
  const quiet = waitEvent(bystander, "disconnect", ms(200)).then(() => "disconnected", () => "ok");
  assert.equal(await quiet, "ok");
  assert.ok(bystander.connected);
});
