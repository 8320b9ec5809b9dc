// Heartbeat with --ping-interval 300 --ping-timeout 200: the server pings every 300 ms
// and closes a session whose PONG is more than 200 ms late (so a silent client is gone
// after ~500 ms), while a client that answers — socket.io-client does — stays.

import { test, describe } from "node:test";
import assert from "node:assert/strict";
import {
  useServer, client, connected, echoRoundTrip, eioOpen, eioGet, eioPost, expectSessionClosed,
  eioWsOpen, splitPayload, assertEngineEchoHealthy, sleep, ms, bounded,
} from "./helpers.mjs";

const INTERVAL = 300;
const TIMEOUT = 200;
const flags = ["--ping-interval", String(INTERVAL), "--ping-timeout", String(TIMEOUT)];

describe("raw Engine.IO (switchboard-echo --engine-io)", () => {
  const srv = useServer({ args: ["--engine-io", ...flags] });

  test("the handshake advertises the interval and timeout", bounded(10000), async () => {
    const { open } = await eioOpen(srv);
    assert.equal(open.pingInterval, INTERVAL);
    assert.equal(open.pingTimeout, TIMEOUT);
  });

  test("websocket: the first PING comes one interval after the handshake", bounded(10000), async () => {
    const { conn } = await eioWsOpen(srv, { autoPong: false });
    const t0 = Date.now();
    assert.equal(await conn.next(ms(2000)), "2");
    const dt = Date.now() - t0;
    assert.ok(dt >= INTERVAL - 50, `PING after ${dt} ms, expected ~${INTERVAL}`);
    assert.ok(dt <= INTERVAL + ms(700), `PING after ${dt} ms, expected ~${INTERVAL}`);
  });

  test("websocket: a silent client is closed after ~interval+timeout", bounded(10000), async () => {
    const { conn } = await eioWsOpen(srv, { autoPong: false });
    const t0 = Date.now();
    await conn.expectClosed(ms(3000), "a client that never answers PING must be closed");
    const dt = Date.now() - t0;
    assert.ok(dt >= INTERVAL + TIMEOUT - 100, `closed after ${dt} ms: too early`);
    assert.ok(dt <= INTERVAL + TIMEOUT + ms(1000), `closed after ${dt} ms: too late`);
    await assertEngineEchoHealthy(srv);
  });

  test("websocket: messages are no substitute for PONG", bounded(10000), async () => {
    // As in the Node server, only a PONG clears the ping timeout.
    const { conn } = await eioWsOpen(srv, { autoPong: false });
    const chatter = setInterval(() => { try { conn.send("4chatter"); } catch { /* closed */ } }, 50);
    try {
      await conn.expectClosed(ms(3000), "a client that chats but never pongs must be closed");
    } finally {
      clearInterval(chatter);
    }
  });

  test("websocket: a client that answers PING stays open over many intervals", bounded(15000), async () => {
    const { conn } = await eioWsOpen(srv, { autoPong: true });
    await sleep(2000); // a fixed number of intervals, whatever the build's speed
    assert.equal(conn.closeInfo, null, "still open");
    assert.ok(conn.pings >= 4, `got ${conn.pings} pings in 2 s`);
    conn.send("4alive");
    assert.equal(await conn.next(), "4alive");
  });

  test("polling: a session without GETs or PONGs is closed after ~interval+timeout", bounded(10000), async () => {
    const { sid } = await eioOpen(srv);
    await sleep(INTERVAL + TIMEOUT + ms(400));
    await expectSessionClosed(srv, sid);
  });

  test("polling: a client that polls and answers PING stays alive", bounded(15000), async () => {
    const { sid } = await eioOpen(srv);
    let pings = 0;
    const end = Date.now() + 2000;
    while (Date.now() < end) {
      const res = await eioGet(srv, sid, { timeoutMs: ms(2000) });
      assert.equal(res.status, 200, `poll failed: ${res.status} ${res.text}`);
      for (const rec of splitPayload(res.text)) {
        if (rec === "2") {
          pings++;
          assert.equal((await eioPost(srv, sid, "3")).status, 200);
        }
      }
    }
    assert.ok(pings >= 4, `got ${pings} pings in 2 s`);
    assert.equal((await eioPost(srv, sid, "4alive")).status, 200);
  });

  test("polling: a parked GET is released by the PING, not held past the interval", bounded(10000), async () => {
    const { sid } = await eioOpen(srv);
    const t0 = Date.now();
    const res = await eioGet(srv, sid, { timeoutMs: ms(2000) });
    assert.equal(res.text, "2");
    assert.ok(Date.now() - t0 <= INTERVAL + ms(700));
  });
});

describe("socket.io-client (switchboard-echo)", () => {
  const srv = useServer({ args: flags });

  for (const transports of [["websocket"], ["polling"], ["polling", "websocket"]]) {
    test(`${transports.join("+")}: stays connected over several ping intervals`, bounded(15000), async () => {
      const s = client(srv, "/", { transports });
      await connected(s);
      let disconnects = 0;
      s.on("disconnect", () => disconnects++);
      let pings = 0;
      s.io.on("ping", () => pings++);
      await sleep(2500); // a fixed number of intervals, whatever the build's speed
      assert.equal(disconnects, 0);
      assert.ok(s.connected);
      assert.ok(pings >= 5, `client saw ${pings} pings in 2.5 s`);
      await echoRoundTrip(s, "still alive");
    });
  }
});
