// Connection state recovery across nodes (--recovery-window): a client drops from node A,
// reconnects to node B within the window with its pid and offset, and gets its socket back
// there (same id, same rooms) with the broadcasts it missed, including those made on A and
// on a third node while it was away.
//
// What the C side must provide for this (the single-node recovery of recovery.test.mjs is
// not enough): the state has to live in Redis, under --redis-prefix, where every node
// finds it.
//   - when a socket drops for a recoverable reason, its session (pid → sid, rooms, data) is
//     written to Redis with the recovery window as its expiry;
//   - every broadcast of a namespace is kept in Redis with an offset that means the same
//     thing on every node, appended as the last argument of the packet sent to clients
//     (as the Node.js server does), so a client's offset from node A is valid on node B;
//   - a CONNECT carrying {pid, offset} on any node restores the session from Redis once
//     (it is consumed), with the packets after that offset that the session's rooms
//     would have received, in order, binary included.
// The reference (SWITCHBOARD_CLUSTER_REFERENCE=1) is socket.io 4.8 on
// @socket.io/redis-streams-adapter, which does this with a Redis stream (XADD, offsets
// are entry ids) and a session key per pid; @socket.io/redis-adapter 8 cannot recover
// across nodes at all. The two protocols do not mix, so this cluster is all one kind.

import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { emitAck, waitEvent, collectEvents, sleep, ms, bounded } from "./helpers.mjs";
import { useCluster, nodeKinds, member, tally, failoverClient, whoami } from "./cluster-helpers.mjs";

const KINDS = nodeKinds(["echo", "echo", "echo"], "node-streams");
const WINDOW_MS = 60000;
// How long the client stays away before reconnecting: long enough for the broadcasts.
const AWAY_MS = ms(1500);

// `sender` broadcasts to `room` and waits for its own copy, so the broadcast has certainly
// been made before the recovering client comes back.
async function broadcastAndConfirm(sender, room, token, ...args) {
  const own = tally([sender], "room-message");
  sender.emit("to-room", room, token, ...args);
  await own.reached([sender], token);
}

describe(`--recovery-window ${WINDOW_MS} on every node`, () => {
  const cluster = useCluster({ kinds: KINDS, recoveryWindow: WINDOW_MS });

  for (const transports of [["websocket"], ["polling"]]) {
    test(`${transports[0]}: dropped from A, recovered on B with its id, rooms and every missed broadcast`, bounded(60000), async () => {
      const [a, b, c] = cluster.nodes;
      const room = `recover-${transports[0]}`;
      const s = failoverClient([a, b], "/", { transports, reconnectionDelay: AWAY_MS, reconnectionDelayMax: AWAY_MS });
      await waitEvent(s, "connect", ms(10000));
      assert.ok(!s.recovered, "a first connection is not a recovery");
      assert.equal(await whoami(s), a.nodeId);
      await emitAck(s, "join", room);
      const onA = await member(a, { rooms: [room] });
      const onC = await member(c, { rooms: [room] });

      // one broadcast seen before the drop, so the client holds an offset
      const seen = waitEvent(s, "room-message");
      await broadcastAndConfirm(onC, room, "before");
      assert.equal((await seen)[0], "before");
      const idBefore = s.id;

      const down = waitEvent(s, "disconnect", ms(5000));
      s.io.engine.close(); // a transport loss, not a deliberate disconnect
      await down;
      const replay = collectEvents(s, "room-message", 3, ms(20000));
      const back = waitEvent(s, "connect", ms(20000));
      await broadcastAndConfirm(onC, room, "while-away-1", { n: 1 });
      await broadcastAndConfirm(onA, room, "while-away-2", Buffer.from([1, 2, 0x1e]));
      await broadcastAndConfirm(onC, room, "while-away-3");
      assert.equal(s.connected, false, "the broadcasts happen while the client is away");

      await back;
      assert.equal(await whoami(s), b.nodeId, "reconnected to the second node");
      assert.equal(s.recovered, true, "socket.recovered on B within the window");
      assert.equal(s.id, idBefore, "a recovered socket keeps its id");
      const missed = await replay;
      assert.deepEqual(missed.map((args) => args[0]), ["while-away-1", "while-away-2", "while-away-3"]);
      assert.deepEqual(missed[0][1], { n: 1 });
      assert.ok(Buffer.isBuffer(missed[1][1]) && missed[1][1].equals(Buffer.from([1, 2, 0x1e])), "binary replayed as binary");

      // still in the room, on B now: reached from A and from C
      for (const from of [onA, onC]) {
        const after = waitEvent(s, "room-message");
        await broadcastAndConfirm(from, room, `after from ${from.node.nodeId}`);
        assert.equal((await after)[0], `after from ${from.node.nodeId}`);
      }
      const echoed = waitEvent(s, "message-back");
      s.emit("message", "recovered echo");
      assert.equal((await echoed)[0], "recovered echo");
    });
  }

  test("a deliberate disconnect is not recovered on another node", bounded(30000), async () => {
    const [a, b] = cluster.nodes;
    const s = failoverClient([a, b], "/", { transports: ["websocket"] });
    await waitEvent(s, "connect", ms(10000));
    const sender = await member(b, { rooms: ["deliberate"] });
    await emitAck(s, "join", "deliberate");
    const seen = waitEvent(s, "room-message");
    await broadcastAndConfirm(sender, "deliberate", "offset");
    await seen;
    const id = s.id;
    s.disconnect(); // the server drops the state at once
    s.io.uri = b.url + "/";
    s.connect();
    await waitEvent(s, "connect", ms(10000));
    assert.equal(await whoami(s), b.nodeId);
    assert.ok(!s.recovered);
    assert.notEqual(s.id, id);
    await sleep(ms(100));
  });
});
