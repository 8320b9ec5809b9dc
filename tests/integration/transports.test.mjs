// The stock socket.io-client over each transport: polling only, websocket only, and
// polling upgraded to websocket, with messages flowing before, during and after.

import { test } from "node:test";
import assert from "node:assert/strict";
import {
  useServer, client, connected, echoRoundTrip, emitAck, waitEvent, collectEvents, sleep, ms,
  bounded,
} from "./helpers.mjs";

const srv = useServer();

test("polling only: connects, echoes and acks, and never upgrades", bounded(15000), async () => {
  const s = client(srv, "/", { transports: ["polling"] });
  await connected(s);
  assert.equal(s.io.engine.transport.name, "polling");
  await echoRoundTrip(s, "over polling", 42, { nested: [true, null] });
  assert.deepEqual(await emitAck(s, "message-with-ack", "a", 1), ["a", 1]);
  await sleep(ms(300));
  assert.equal(s.io.engine.transport.name, "polling");
});

test("websocket only: connects on websocket and echoes", bounded(15000), async () => {
  const s = client(srv, "/", { transports: ["websocket"] });
  await connected(s);
  assert.equal(s.io.engine.transport.name, "websocket");
  await echoRoundTrip(s, "over websocket", { n: 1 });
  assert.deepEqual(await emitAck(s, "message-with-ack", "b", [2]), ["b", [2]]);
});

test("polling then upgrade: the transport becomes websocket and messages still flow", bounded(15000), async () => {
  const s = client(srv, "/", { transports: ["polling", "websocket"], upgrade: true });
  const opened = waitEvent(s.io, "open");
  const upgraded = waitEvent(s.io.engine, "upgrade", ms(5000));
  await opened;
  assert.equal(s.io.engine.transport.name, "polling", "the session starts on polling");
  await connected(s);
  const [transport] = await upgraded;
  assert.equal(transport.name, "websocket");
  assert.equal(s.io.engine.transport.name, "websocket");
  await echoRoundTrip(s, "after upgrade");
  assert.deepEqual(await emitAck(s, "message-with-ack", "after", "upgrade"), ["after", "upgrade"]);
});

test("messages sent while the upgrade is in progress all arrive, in order", bounded(20000), async () => {
  const s = client(srv, "/", { transports: ["polling", "websocket"] });
  const n = 200;
  let next = 0;
  const burst = (k) => { for (let j = 0; j < k && next < n; j++) s.emit("message", next++); };
  const all = collectEvents(s, "message-back", n, ms(10000));
  const upgraded = waitEvent(s.io.engine, "upgrade", ms(5000));
  // Emits at every stage: before the namespace CONNECT completes, while the polling
  // transport is paused for the upgrade, right after the switch, and on websocket.
  s.io.once("open", () => burst(40));
  s.io.engine.once("upgrading", () => burst(40));
  s.io.engine.once("upgrade", () => burst(40));
  await connected(s);
  burst(40);
  await upgraded;
  burst(n);
  const got = await all;
  assert.deepEqual(got.map((a) => a[0]), Array.from({ length: n }, (_, i) => i));
  assert.equal(s.io.engine.transport.name, "websocket");
});

test("polling: a burst of messages is batched and delivered in order both ways", bounded(20000), async () => {
  const s = client(srv, "/", { transports: ["polling"] });
  await connected(s);
  const n = 300;
  const all = collectEvents(s, "message-back", n, ms(15000));
  for (let i = 0; i < n; i++) s.emit("message", `m${i}`, "x".repeat(i));
  const got = await all;
  got.forEach((args, i) => assert.deepEqual(args, [`m${i}`, "x".repeat(i)]));
});

test("UTF-8 text survives both transports byte for byte", bounded(15000), async () => {
  const text = "héllo wörld — € 😀 中文 \u2028 \"quoted\" \\ back \u0000 nul";
  for (const transports of [["polling"], ["websocket"]]) {
    const s = client(srv, "/", { transports });
    await connected(s);
    await echoRoundTrip(s, text, { [text.replace("\u0000", "")]: text });
    s.disconnect();
  }
});

// Known gap, kept visible: jansson (2.14) refuses NUL bytes in object keys when parsing,
// so such a packet is treated as malformed and the session closes. The Node server relays it.
test("an object key containing U+0000 is relayed like any other JSON", { ...bounded(15000), todo: "jansson cannot parse NUL in object keys" }, async () => {
  const s = client(srv, "/", { transports: ["websocket"] });
  await connected(s);
  await echoRoundTrip(s, { "a\u0000b": 1 });
});

test("a client that disconnects and a new one connect independently", bounded(15000), async () => {
  const a = client(srv, "/", { transports: ["websocket"] });
  const b = client(srv, "/", { transports: ["polling"] });
  await Promise.all([connected(a), connected(b)]);
  assert.notEqual(a.id, b.id);
  a.disconnect();
  await echoRoundTrip(b, "b still here");
  const c = client(srv, "/", { transports: ["websocket"] });
  await connected(c);
  await echoRoundTrip(c, "c is new");
});
