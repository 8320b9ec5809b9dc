// Connection state recovery (--recovery-window): the server sends a private session id
// (pid) in the CONNECT reply, socket.io-client sends it back with the offset of the last
// broadcast it saw when it reconnects after a transport loss, and the server restores
// the socket (same id, same rooms) and replays the broadcasts it missed.
//
// Broadcasts come from the echo's room API: `join` (room, ack), `to-room` (room, ...args)
// → `room-message` (...args). With recovery on, the Node server appends the packet's
// offset as an extra last argument of every packet it emits (broadcast or not), so only
// the leading arguments are compared here.

import { test, describe } from "node:test";
import assert from "node:assert/strict";
import {
  useServer, client, connected, emitAck, waitEvent, collectEvents, eioWsOpen, sleep, ms, bounded,
} from "./helpers.mjs";

// How long the recovering client stays away before reconnecting: long enough for two
// broadcasts to be confirmed meanwhile.
const AWAY_MS = ms(1000);

function recoveringClient(srv, transports, delay = AWAY_MS) {
  return client(srv, "/", {
    transports,
    reconnection: true,
    reconnectionDelay: delay,
    reconnectionDelayMax: delay,
    randomizationFactor: 0,
  });
}

// B broadcasts to `room` and waits for its own copy, so the server has certainly
// processed the broadcast before A comes back.
async function broadcastAndConfirm(b, room, ...args) {
  const own = waitEvent(b, "room-message");
  b.emit("to-room", room, ...args);
  const got = await own;
  assert.equal(got[0], args[0]);
}

describe("with --recovery-window 60000", () => {
  const srv = useServer({ args: ["--recovery-window", "60000"] });

  test("wire format: the CONNECT reply carries a pid", bounded(10000), async () => {
    const { conn } = await eioWsOpen(srv);
    conn.send("40");
    const reply = JSON.parse((await conn.next()).slice(2));
    assert.equal(typeof reply.sid, "string");
    assert.equal(typeof reply.pid, "string");
    assert.ok(reply.pid.length > 0);
  });

  for (const transports of [["websocket"], ["polling"]]) {
    test(`${transports[0]}: after a forced disconnect the socket is recovered with its rooms and missed broadcasts`, bounded(30000), async () => {
      const a = recoveringClient(srv, transports);
      await connected(a);
      assert.ok(!a.recovered, "a first connection is not a recovery");
      await emitAck(a, "join", "recover-room");
      const b = client(srv, "/", { transports: ["websocket"] });
      await connected(b);
      await emitAck(b, "join", "recover-room");

      // one broadcast seen before the disconnect, so the client has an offset
      const seen = waitEvent(a, "room-message");
      await broadcastAndConfirm(b, "recover-room", "before");
      assert.equal((await seen)[0], "before");
      const idBefore = a.id;

      const down = waitEvent(a, "disconnect", ms(5000));
      a.io.engine.close(); // transport loss ("forced close" client-side), not a deliberate disconnect
      await down;

      const replay = collectEvents(a, "room-message", 2, ms(15000));
      const back = waitEvent(a, "connect", ms(15000));
      await broadcastAndConfirm(b, "recover-room", "while-away-1", { n: 1 });
      await broadcastAndConfirm(b, "recover-room", "while-away-2", Buffer.from([1, 2]));
      assert.equal(a.connected, false, "the broadcasts must happen while A is away");

      await back;
      assert.equal(a.recovered, true, "socket.recovered after reconnecting within the window");
      assert.equal(a.id, idBefore, "a recovered socket keeps its id");
      const missed = await replay;
      assert.equal(missed[0][0], "while-away-1");
      assert.deepEqual(missed[0][1], { n: 1 });
      assert.equal(missed[1][0], "while-away-2");
      assert.ok(Buffer.isBuffer(missed[1][1]) && missed[1][1].equals(Buffer.from([1, 2])));

      // still in the room, and the connection works as before
      const after = waitEvent(a, "room-message");
      await broadcastAndConfirm(b, "recover-room", "after");
      assert.equal((await after)[0], "after");
      const echoed = waitEvent(a, "message-back");
      a.emit("message", "recovered echo");
      assert.equal((await echoed)[0], "recovered echo");
    });
  }

  test("a deliberate disconnect is not recoverable", bounded(30000), async () => {
    const a = recoveringClient(srv, ["websocket"], 100);
    await connected(a);
    const id = a.id;
    a.disconnect(); // io client disconnect: the server drops the state at once
    a.connect();
    await connected(a);
    assert.ok(!a.recovered);
    assert.notEqual(a.id, id);
  });

  test("a made-up pid is not recovered and still connects", bounded(10000), async () => {
    const { conn } = await eioWsOpen(srv);
    conn.send('40{"pid":"not-a-real-pid","offset":"0-0"}');
    const reply = JSON.parse((await conn.next()).slice(2));
    assert.equal(typeof reply.sid, "string");
    assert.notEqual(reply.pid, "not-a-real-pid");
  });
});

describe("with --recovery-window 1000", () => {
  const srv = useServer({ args: ["--recovery-window", "1000"] });

  test("a client that comes back after the window gets a fresh session", bounded(30000), async () => {
    const a = recoveringClient(srv, ["websocket"], 2500); // 1.5 s past the 1 s window
    await connected(a);
    await emitAck(a, "join", "expired-room");
    const id = a.id;
    const down = waitEvent(a, "disconnect", ms(5000));
    a.io.engine.close();
    await down;
    await waitEvent(a, "connect", ms(15000));
    assert.ok(!a.recovered, "the window has passed");
    assert.notEqual(a.id, id);
    // the old membership is gone: a broadcast to the room reaches nobody but b
    const b = client(srv, "/", { transports: ["websocket"] });
    await connected(b);
    await emitAck(b, "join", "expired-room");
    let stray = 0;
    a.on("room-message", () => stray++);
    await broadcastAndConfirm(b, "expired-room", "only b");
    await sleep(ms(200));
    assert.equal(stray, 0);
  });
});

describe("without --recovery-window (default 0)", () => {
  const srv = useServer();

  test("the CONNECT reply has no pid and a reconnect is never a recovery", bounded(30000), async () => {
    const { conn } = await eioWsOpen(srv);
    conn.send("40");
    const reply = JSON.parse((await conn.next()).slice(2));
    assert.equal(reply.pid, undefined);
    conn.close();

    const a = recoveringClient(srv, ["websocket"], 100);
    await connected(a);
    const id = a.id;
    const down = waitEvent(a, "disconnect", ms(5000));
    a.io.engine.close();
    await down;
    await waitEvent(a, "connect", ms(10000));
    assert.ok(!a.recovered);
    assert.notEqual(a.id, id);
  });
});
