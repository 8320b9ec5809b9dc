// Acknowledgements in both directions, on both transports and on a custom namespace.
//
// client → server: the echo acks `message-with-ack` with its arguments.
// server → client: on `request-ack` (...args) the echo emits `ack-me` (...args) with an
// ack callback; when the client acks with (...reply), it emits `ack-result` (...reply).

import { test } from "node:test";
import assert from "node:assert/strict";
import {
  useServer, client, connected, emitAck, waitEvent, ms, bounded,
} from "./helpers.mjs";

const srv = useServer();

for (const transport of ["polling", "websocket"]) {
  test(`${transport}: the server acks with the event's arguments`, bounded(15000), async () => {
    const s = client(srv, "/", { transports: [transport] });
    await connected(s);
    assert.deepEqual(await emitAck(s, "message-with-ack", 1, "2", { 3: [false] }), [1, "2", { 3: [false] }]);
    assert.deepEqual(await emitAck(s, "message-with-ack"), []);
    assert.deepEqual(await emitAck(s, "message-with-ack", null, [], {}), [null, [], {}]);
  });

  test(`${transport}: the client acks a server emit and the server gets the reply`, bounded(15000), async () => {
    const s = client(srv, "/", { transports: [transport] });
    await connected(s);
    const asked = waitEvent(s, "ack-me");
    const result = waitEvent(s, "ack-result");
    s.emit("request-ack", "question", 7);
    const args = await asked;
    const ack = args.pop();
    assert.equal(typeof ack, "function", "ack-me must carry an ack callback");
    assert.deepEqual(args, ["question", 7]);
    ack("answer", { to: args[0] }, 8);
    assert.deepEqual(await result, ["answer", { to: "question" }, 8]);
  });
}

test("concurrent acks each reach their own callback", bounded(20000), async () => {
  const s = client(srv, "/", { transports: ["websocket"] });
  await connected(s);
  const n = 500;
  const replies = await Promise.all(
    Array.from({ length: n }, (_, i) => emitAck(s, "message-with-ack", i, `id-${i}`))
  );
  replies.forEach((r, i) => assert.deepEqual(r, [i, `id-${i}`]));
});

test("acks keep working across the polling → websocket upgrade", bounded(20000), async () => {
  const s = client(srv, "/", { transports: ["polling", "websocket"] });
  const upgraded = waitEvent(s.io.engine, "upgrade", ms(5000));
  const pending = [];
  const burst = (k) => { for (let j = 0; j < k; j++) pending.push(emitAck(s, "message-with-ack", pending.length)); };
  s.io.once("open", () => burst(30));
  s.io.engine.once("upgrading", () => burst(30));
  await connected(s);
  burst(30);
  await upgraded;
  burst(30);
  const replies = await Promise.all(pending);
  replies.forEach((r, i) => assert.deepEqual(r, [i]));
  assert.equal(s.io.engine.transport.name, "websocket");
});

test("acks on a custom namespace", bounded(15000), async () => {
  const s = client(srv, "/custom", { transports: ["websocket"] });
  await connected(s);
  assert.deepEqual(await emitAck(s, "message-with-ack", "custom", 1), ["custom", 1]);
  const asked = waitEvent(s, "ack-me");
  const result = waitEvent(s, "ack-result");
  s.emit("request-ack", "from custom");
  const args = await asked;
  args.pop()("reply on custom");
  assert.deepEqual(await result, ["reply on custom"]);
});

test("large ack ids from the client are echoed back exactly", bounded(15000), async () => {
  // socket.io-client numbers acks from 0 upwards; push the counter a long way first.
  const s = client(srv, "/", { transports: ["websocket"] });
  await connected(s);
  s.ids = 2 ** 31 - 5; // cross the signed 32-bit boundary on the server
  for (let i = 0; i < 10; i++) {
    assert.deepEqual(await emitAck(s, "message-with-ack", i), [i]);
  }
  s.ids = Number.MAX_SAFE_INTEGER - 3; // the largest ids a JavaScript client can send
  for (let i = 0; i < 3; i++) {
    assert.deepEqual(await emitAck(s, "message-with-ack", `big-${i}`), [`big-${i}`]);
  }
});
