// Many clients at once: 1,000 concurrent websocket clients each complete an ack round
// trip while all of them are connected, plus a crowd of polling clients.

import { test } from "node:test";
import assert from "node:assert/strict";
import {
  useServer, client, connected, emitAckWithin, waitEvent, assertEchoHealthy, ms, bounded,
} from "./helpers.mjs";

const srv = useServer({ stopTimeoutMs: ms(10000) });

// Runs fn(i) for i in [0, n) with at most `width` in flight.
async function inBatches(n, width, fn) {
  const out = new Array(n);
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      out[i] = await fn(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, n) }, worker));
  return out;
}

async function crowd(n, transports, width) {
  const started = Date.now();
  const sockets = await inBatches(n, width, async (i) => {
    const s = client(srv, "/", { transports, auth: { i } });
    await connected(s, ms(30000));
    return s;
  });
  const connectMs = Date.now() - started;
  assert.equal(new Set(sockets.map((s) => s.id)).size, n, "every client has its own socket id");
  assert.ok(sockets.every((s) => s.connected), "all connected at the same time");
  return { sockets, connectMs };
}

test("1,000 websocket clients connected at once each complete an ack round trip", bounded(120000), async () => {
  const n = 1000;
  const { sockets, connectMs } = await crowd(n, ["websocket"], 100);
  const t0 = Date.now();
  const replies = await Promise.all(
    sockets.map((s, i) => emitAckWithin(ms(30000), s, "message-with-ack", i, `client-${i}`))
  );
  const ackMs = Date.now() - t0;
  replies.forEach((r, i) => assert.deepEqual(r, [i, `client-${i}`]));
  // All still connected after the burst, and a broadcast-free echo still works.
  assert.ok(sockets.every((s) => s.connected));
  await assertEchoHealthy(srv);
  console.log(`# ${n} websocket clients: connected in ${connectMs} ms, ${n} acks in ${ackMs} ms`);
  // Disconnect them all; the server must notice and stay healthy.
  for (const s of sockets) s.disconnect();
  await assertEchoHealthy(srv);
});

test("200 polling clients each complete an ack round trip", bounded(120000), async () => {
  const n = 200;
  const { sockets, connectMs } = await crowd(n, ["polling"], 50);
  const t0 = Date.now();
  const replies = await Promise.all(
    sockets.map((s, i) => emitAckWithin(ms(30000), s, "message-with-ack", i))
  );
  replies.forEach((r, i) => assert.deepEqual(r, [i]));
  console.log(`# ${n} polling clients: connected in ${connectMs} ms, acks in ${Date.now() - t0} ms`);
});

test("clients connecting and leaving in a churn do not disturb a long-lived one", bounded(120000), async () => {
  const steady = client(srv, "/", { transports: ["websocket"] });
  await connected(steady);
  let echoes = 0;
  steady.on("message-back", () => echoes++);
  const ticker = setInterval(() => steady.emit("message", "tick"), 20);
  try {
    await inBatches(300, 30, async (i) => {
      const s = client(srv, "/", { transports: [i % 3 === 0 ? "polling" : "websocket"] });
      await connected(s, ms(30000));
      if (i % 2 === 0) await emitAckWithin(ms(30000), s, "message-with-ack", i);
      s.disconnect();
    });
  } finally {
    clearInterval(ticker);
  }
  const last = waitEvent(steady, "message-back");
  steady.emit("message", "last");
  await last;
  assert.ok(steady.connected);
  assert.ok(echoes > 0);
});
