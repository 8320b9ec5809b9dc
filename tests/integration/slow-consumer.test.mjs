// Slow consumers (--max-outbound): a client that stops reading while the server has a
// lot to send it is disconnected once its queue passes the limit, instead of making the
// server's memory grow; other clients keep being served. The server's RSS is read from
// /proc/<pid>/status while the data is pushed.

import { test } from "node:test";
import assert from "node:assert/strict";
import {
  useServer, client, connected, emitAck, echoRoundTrip, tcpUpgrade, wsFrame, parseFrames, eioOpen,
  eioPost, expectSessionClosed, assertEchoHealthy, sleep, ms, bounded,
} from "./helpers.mjs";

const MAX_OUTBOUND = 1000 * 1000;
const MESSAGE_BYTES = 100 * 1000;
const MESSAGES = 600; // 60 MB in all: far beyond the queue limit plus the kernel's socket buffers
// Bounded: the queue limit, one message being decoded and encoded, the read of a partly
// received frame and allocator slack. Unbounded queueing would add tens of MB on top.
const RSS_GROWTH_LIMIT_KB = 32 * 1024;

const srv = useServer({ args: ["--max-outbound", String(MAX_OUTBOUND)], stopTimeoutMs: ms(10000) });

function rssSampler(server) {
  let peak = server.rssKb();
  const timer = setInterval(() => {
    try { peak = Math.max(peak, server.rssKb()); } catch { /* exited: stop() reports it */ }
  }, 20);
  return { stop: () => { clearInterval(timer); return peak; } };
}

// A hand-made websocket client: connects to "/", then never reads until told to.
async function rawSocketIoClient() {
  const { sock, rest } = await tcpUpgrade(srv, "/socket.io/?EIO=4&transport=websocket");
  let buf = rest;
  const frames = [];
  let ended = false;
  sock.on("data", (d) => {
    const r = parseFrames(Buffer.concat([buf, d]));
    buf = r.rest;
    frames.push(...r.frames);
  });
  sock.on("error", () => { ended = true; });
  sock.on("close", () => { ended = true; });
  sock.resume();
  sock.write(wsFrame({ payload: "40" }));
  const until = async (pred, what) => {
    const end = Date.now() + ms(5000);
    while (!pred() && Date.now() < end) await sleep(10);
    assert.ok(pred(), what);
  };
  await until(() => frames.some((f) => f.payload.toString().startsWith('40{"sid"')), "CONNECT reply");
  return { sock, frames, until, isEnded: () => ended };
}

async function drainUntilClosed(c, timeoutMs) {
  c.sock.resume();
  const end = Date.now() + timeoutMs;
  while (!c.isEnded() && Date.now() < end) await sleep(20);
  return c.isEnded();
}

function countEvents(frames, name) {
  return frames.filter((f) => f.payload.toString("latin1", 0, 40).startsWith(`42["${name}"`)).length;
}

test("a websocket client that never reads its echoes is disconnected; RSS stays bounded", bounded(90000), async () => {
  const slow = await rawSocketIoClient();
  await sleep(ms(200));
  const before = srv.rssKb();
  slow.sock.pause(); // from now on the client reads nothing
  const rss = rssSampler(srv);
  const frame = wsFrame({ payload: `42${JSON.stringify(["message", "s".repeat(MESSAGE_BYTES)])}` });
  let written = 0;
  for (let i = 0; i < MESSAGES && !slow.isEnded(); i++) {
    if (!slow.sock.write(frame)) await new Promise((r) => { slow.sock.once("drain", r); slow.sock.once("close", r); setTimeout(r, ms(2000)); });
    written++;
  }
  await sleep(ms(1000));
  const peak = rss.stop();
  const closed = await drainUntilClosed(slow, ms(15000));
  const echoes = countEvents(slow.frames, "message-back");
  console.log(`# slow ws: wrote ${written} messages, got ${echoes} echoes back, server RSS ${before} → peak ${peak} kB`);
  assert.ok(closed, `the slow client must be disconnected (got ${echoes}/${written} echoes and the socket stayed open)`);
  assert.ok(echoes < MESSAGES, "disconnected before all echoes were sent");
  assert.ok(peak - before < RSS_GROWTH_LIMIT_KB, `server RSS grew by ${peak - before} kB (limit ${RSS_GROWTH_LIMIT_KB} kB)`);
  await assertEchoHealthy(srv);
});

test("a room member that never reads is dropped; the other members get everything", bounded(120000), async () => {
  const slow = await rawSocketIoClient();
  slow.sock.write(wsFrame({ payload: '420["join","firehose"]' }));
  await slow.until(() => slow.frames.some((f) => f.payload.toString().startsWith("430[")), "join ack");
  const healthy = client(srv, "/", { transports: ["websocket"] });
  await connected(healthy);
  await emitAck(healthy, "join", "firehose");
  const producer = client(srv, "/", { transports: ["websocket"] });
  await connected(producer);

  await sleep(ms(200));
  const before = srv.rssKb();
  slow.sock.pause();
  const rss = rssSampler(srv);
  // The producer paces itself on the healthy member (a few messages in flight at most),
  // so only the member that stopped reading falls behind.
  const n = 300, window = 4;
  const got = [];
  let lost = null;
  healthy.on("room-message", (...args) => got.push(args[0]));
  healthy.on("disconnect", (reason) => { lost = reason; });
  const payload = "f".repeat(MESSAGE_BYTES);
  for (let i = 0; i < n; i += window) {
    for (let j = i; j < Math.min(n, i + window); j++) producer.emit("to-room", "firehose", j, payload);
    const end = Date.now() + ms(10000);
    while (got.length < Math.min(n, i + window) && !lost && Date.now() < end) await sleep(2);
    assert.equal(lost, null, `the healthy member was disconnected (${lost}) after ${got.length} broadcasts`);
    assert.equal(got.length, Math.min(n, i + window), `the healthy member stalled at ${got.length} broadcasts`);
  }
  const peak = rss.stop();
  assert.deepEqual(got, Array.from({ length: n }, (_, i) => i), "the healthy member got every broadcast, in order");
  const closed = await drainUntilClosed(slow, ms(15000));
  const seen = countEvents(slow.frames, "room-message");
  console.log(`# slow room member got ${seen}/${n} broadcasts, server RSS ${before} → peak ${peak} kB`);
  assert.ok(closed, "the slow member must be disconnected");
  assert.ok(seen < n);
  assert.ok(peak - before < RSS_GROWTH_LIMIT_KB, `server RSS grew by ${peak - before} kB (limit ${RSS_GROWTH_LIMIT_KB} kB)`);
  await echoRoundTrip(healthy, "healthy still connected");
});

test("polling: a session that never polls while its queue grows is closed", bounded(60000), async () => {
  const { sid } = await eioOpen(srv);
  assert.equal((await eioPost(srv, sid, "40")).status, 200);
  const body = `42${JSON.stringify(["message", "p".repeat(MESSAGE_BYTES)])}`;
  for (let i = 0; i < 30; i++) { // 3 MB of echoes, no GET to carry them
    const res = await eioPost(srv, sid, body);
    if (res.status !== 200) break; // already closed: 400 Session ID unknown
  }
  await expectSessionClosed(srv, sid);
  await assertEchoHealthy(srv, { transports: ["polling"] });
});
