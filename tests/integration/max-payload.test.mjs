// --max-payload: a message (websocket) or POST body (polling) of exactly the limit is
// accepted; one byte more closes that session (polling: HTTP 413), and the server keeps
// serving everybody else.

import { test, describe } from "node:test";
import assert from "node:assert/strict";
import {
  useServer, client, connected, waitEvent, collectEvents, echoRoundTrip, eioOpen, eioPost,
  eioCollect, expectSessionClosed, eioWsOpen, assertEchoHealthy, assertEngineEchoHealthy,
  randomBytes, ms, bounded,
} from "./helpers.mjs";

const MAX = 10000;

// Length of the Engine.IO packet socket.io-client sends for emit("message", text).
const messagePacketLength = (n) => Buffer.byteLength("42" + JSON.stringify(["message", "x".repeat(n)]));
// The string length whose packet is exactly `len` bytes.
const textForPacket = (len) => "x".repeat(len - messagePacketLength(0));

describe("raw Engine.IO (switchboard-echo --engine-io)", () => {
  const srv = useServer({ args: ["--engine-io", "--max-payload", String(MAX)] });

  test("the handshake advertises maxPayload on both transports", bounded(10000), async () => {
    const { open } = await eioOpen(srv);
    assert.equal(open.maxPayload, MAX);
    const ws = await eioWsOpen(srv);
    assert.equal(ws.open.maxPayload, MAX);
  });

  test("polling: a POST body of exactly maxPayload bytes is accepted", bounded(10000), async () => {
    const { sid } = await eioOpen(srv);
    const packet = "4" + "y".repeat(MAX - 1);
    const res = await eioPost(srv, sid, packet);
    assert.equal(res.status, 200);
    assert.equal(res.text, "ok");
    assert.deepEqual(await eioCollect(srv, sid, 1), [packet]);
  });

  test("polling: several packets in one body, total exactly maxPayload, are accepted", bounded(10000), async () => {
    const { sid } = await eioOpen(srv);
    const a = "4" + "a".repeat(4999), b = "4" + "b".repeat(MAX - 5000 - 2);
    const body = `${a}\x1e${b}`;
    assert.equal(Buffer.byteLength(body), MAX);
    assert.equal((await eioPost(srv, sid, body)).status, 200);
    assert.deepEqual(await eioCollect(srv, sid, 2), [a, b]);
  });

  test("polling: one byte over gets HTTP 413 and closes the session", bounded(10000), async () => {
    const { sid } = await eioOpen(srv);
    const res = await eioPost(srv, sid, "4" + "z".repeat(MAX));
    assert.equal(res.status, 413);
    await expectSessionClosed(srv, sid);
    await assertEngineEchoHealthy(srv);
  });

  test("polling: a far larger body is refused the same way", bounded(15000), async () => {
    const { sid } = await eioOpen(srv);
    let res;
    try {
      res = await eioPost(srv, sid, "4" + "z".repeat(5 * 1000 * 1000));
    } catch (e) {
      // the server may answer 413 and close before reading the rest; the client then sees a reset
      res = { status: e.code };
    }
    assert.ok([413, "ECONNRESET", "EPIPE"].includes(res.status), `got ${res.status}`);
    await expectSessionClosed(srv, sid);
    await assertEngineEchoHealthy(srv);
  });

  test("websocket: a text message of exactly maxPayload bytes is echoed", bounded(10000), async () => {
    const { conn } = await eioWsOpen(srv);
    const packet = "4" + "w".repeat(MAX - 1);
    conn.send(packet);
    assert.equal(await conn.next(), packet);
  });

  test("websocket: a binary message of exactly maxPayload bytes is echoed", bounded(10000), async () => {
    const { conn } = await eioWsOpen(srv);
    const bin = randomBytes(MAX, 5);
    conn.send(bin);
    assert.deepEqual(await conn.next(), bin);
  });

  test("websocket: one byte over closes that websocket", bounded(10000), async () => {
    const { conn } = await eioWsOpen(srv);
    conn.send("4" + "w".repeat(MAX));
    await conn.expectClosed();
    await assertEngineEchoHealthy(srv);
  });

  test("websocket: a binary message one byte over closes that websocket", bounded(10000), async () => {
    const { conn } = await eioWsOpen(srv);
    conn.send(randomBytes(MAX + 1, 6));
    await conn.expectClosed();
    await assertEngineEchoHealthy(srv);
  });

  test("websocket: a message over the limit in many fragments is refused too", bounded(10000), async () => {
    const { conn } = await eioWsOpen(srv);
    const chunk = "4" + "f".repeat(999);
    for (let i = 0; i < 11; i++) conn.ws.send(i === 0 ? chunk : "f".repeat(1000), { fin: i === 10 });
    await conn.expectClosed();
    await assertEngineEchoHealthy(srv);
  });
});

describe("Socket.IO (switchboard-echo)", () => {
  const srv = useServer({ args: ["--max-payload", String(MAX)] });

  for (const transport of ["polling", "websocket"]) {
    test(`${transport}: an event whose packet is exactly maxPayload bytes is echoed`, bounded(10000), async () => {
      const s = client(srv, "/", { transports: [transport] });
      await connected(s);
      const text = textForPacket(MAX);
      assert.equal(messagePacketLength(text.length), MAX);
      await echoRoundTrip(s, text);
    });

    test(`${transport}: one byte over disconnects that client only`, bounded(15000), async () => {
      const bystander = client(srv, "/", { transports: [transport] });
      const s = client(srv, "/", { transports: [transport] });
      await Promise.all([connected(s), connected(bystander)]);
      const down = waitEvent(s, "disconnect", ms(5000));
      s.emit("message", textForPacket(MAX + 1));
      const [reason] = await down;
      assert.ok(["transport error", "transport close"].includes(reason), `disconnect reason: ${reason}`);
      await echoRoundTrip(bystander, "bystander unaffected");
      await assertEchoHealthy(srv, { transports: [transport] });
    });
  }

  test("polling: many small events batched by the client stay under the limit and all arrive", bounded(15000), async () => {
    // The client splits its POSTs at maxPayload; the echoes (54 KB in all) come back in
    // poll responses larger than maxPayload, which bounds only what the server accepts.
    const s = client(srv, "/", { transports: ["polling"] });
    await connected(s);
    const n = 60;
    const all = collectEvents(s, "message-back", n, ms(10000));
    for (let i = 0; i < n; i++) s.emit("message", i, "p".repeat(900));
    const got = await all;
    assert.deepEqual(got.map((a) => a[0]), Array.from({ length: n }, (_, i) => i));
  });
});
