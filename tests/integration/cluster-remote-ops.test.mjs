// The Redis adapter's remote operations across nodes, in both directions.
//
// Driven from a Node.js socket.io node (in this process, @socket.io/redis-adapter 8): fetchSockets
// and what a fetched RemoteSocket can do, socketsJoin, socketsLeave, disconnectSockets,
// allRooms, serverSideEmit with and without acks, and broadcasts that wait for client acks
// (with a timeout). The Node.js side counts its peers with PUBSUB NUMSUB on
// `<prefix>-request#<nsp>#` and waits for that many answers, so every node must subscribe
// there exactly once per namespace and answer every request addressed to it; a node that
// stays silent turns the call into a timeout.
//
// Driven from one of our nodes, through the echo's events (fetch-sockets, sockets-join,
// sockets-leave, disconnect-sockets, server-side-emit; see echo.c and remote-ops.test.mjs):
// the same operations reach the other echo nodes and the Node.js nodes, and our node
// collects their answers.
//
// Requests travel as JSON on the request channel (BROADCAST with acks as msgpack) and
// answers as JSON on `<prefix>-response#<nsp>#` (BROADCAST_ACK as msgpack), as in
// @socket.io/redis-adapter 8.3's index.js.

import { test } from "node:test";
import assert from "node:assert/strict";
import {
  client, connected, emitAck, emitAckWithin, waitEvent, expectNoEvent, sleep, ms, bounded,
} from "./helpers.mjs";
import { useCluster, nodeKinds, member, tally, eventually } from "./cluster-helpers.mjs";

const KINDS = nodeKinds(["echo", "echo", "node"]);
const QUIET_MS = ms(400);
const ACK_TIMEOUT_MS = ms(3000);

const cluster = useCluster({ kinds: KINDS, driver: true });
const io = () => cluster.driver.io;

// Per peer node (not the driver): a websocket and a polling client in `rooms`, each with
// its label as handshake auth and as socket.data (echo event set-data).
async function remoteMembers(rooms, { transports = ["websocket", "polling"], nodes = cluster.nodes } = {}) {
  const out = [];
  for (const node of nodes) {
    for (const transport of transports) {
      const auth = { label: `${node.nodeId}/${transport}/${Math.random().toString(36).slice(2, 8)}` };
      const s = await member(node, { transport, rooms, opts: { auth } });
      assert.deepEqual(await emitAck(s, "set-data", { label: auth.label }), []);
      out.push(s);
    }
  }
  return out;
}

const ids = (sockets) => sockets.map((s) => s.id).sort();

test("the Node.js node counts every node with PUBSUB NUMSUB", bounded(10000), async () => {
  assert.equal(await io().of("/").adapter.serverCount(), cluster.nodes.length + 1);
  assert.equal(await io().of("/custom").adapter.serverCount(), cluster.nodes.length + 1);
});

test("fetchSockets returns every matching socket of every node once, with its id, rooms and handshake", bounded(30000), async () => {
  const inRoom = await remoteMembers(["fetch-room"]);
  const outside = await remoteMembers([]);
  const local = await member(cluster.driver, { rooms: ["fetch-room"] });

  const t0 = Date.now();
  const fetched = await io().in("fetch-room").fetchSockets();
  assert.ok(Date.now() - t0 < ms(4000), "every node answered (no request timeout)");
  assert.deepEqual(fetched.map((r) => r.id).sort(), ids([...inRoom, local]));
  for (const s of inRoom) {
    const r = fetched.find((f) => f.id === s.id);
    assert.deepEqual([...r.rooms].sort(), [s.id, "fetch-room"].sort(), `${s.label}: rooms`);
    assert.deepEqual(r.handshake.auth, s.auth, `${s.label}: handshake.auth`);
    assert.deepEqual(r.data, { label: s.auth.label }, `${s.label}: data`);
    assert.equal(typeof r.handshake.query, "object", `${s.label}: handshake.query`);
    assert.equal(r.handshake.query.EIO, "4", `${s.label}: handshake.query.EIO`);
  }
  const everyone = await io().fetchSockets();
  assert.deepEqual(everyone.map((r) => r.id).sort(), ids([...inRoom, ...outside, local]));
  const custom = await io().of("/custom").fetchSockets();
  assert.deepEqual(custom, [], "no socket of / is in /custom");
});

test("a fetched remote socket can be emitted to, made to join and leave, and disconnected", bounded(30000), async () => {
  const targets = await remoteMembers(["rs-room"], { transports: ["websocket"] });
  const bystanders = await remoteMembers(["rs-room"], { transports: ["websocket"] });
  const fetched = await io().in("rs-room").fetchSockets();
  const all = [...targets, ...bystanders];
  const t = tally(all, "direct");
  for (const s of targets) fetched.find((r) => r.id === s.id).emit("direct", `to ${s.id}`);
  for (const s of targets) await t.reached([s], `to ${s.id}`);
  await sleep(QUIET_MS);
  for (const s of targets) t.assertExactlyOnce(`to ${s.id}`, [s], all.filter((o) => o !== s));

  for (const s of targets) fetched.find((r) => r.id === s.id).join("rs-joined");
  await eventually(async () => {
    const joined = await io().in("rs-joined").fetchSockets();
    assert.deepEqual(joined.map((r) => r.id).sort(), ids(targets));
  });
  const rt = tally(all, "room-message");
  io().to("rs-joined").emit("room-message", "to rs-joined");
  await rt.reached(targets, "to rs-joined");
  await sleep(QUIET_MS);
  rt.assertExactlyOnce("to rs-joined", targets, bystanders);

  for (const s of targets) fetched.find((r) => r.id === s.id).leave("rs-joined");
  await eventually(async () => assert.deepEqual(await io().in("rs-joined").fetchSockets(), []));

  const victim = targets[0];
  const gone = waitEvent(victim, "disconnect", ms(5000));
  fetched.find((r) => r.id === victim.id).disconnect();
  assert.equal((await gone)[0], "io server disconnect");
  for (const s of all.filter((o) => o !== victim)) assert.ok(s.connected, `${s.label} must stay connected`);
});

test("socketsJoin and socketsLeave apply on every node", bounded(30000), async () => {
  const members = await remoteMembers(["sj-source"]);
  const others = await remoteMembers([]);
  io().in("sj-source").socketsJoin(["sj-a", "sj-b"]);
  await eventually(async () => {
    assert.deepEqual((await io().in("sj-a").fetchSockets()).map((r) => r.id).sort(), ids(members));
    assert.deepEqual((await io().in("sj-b").fetchSockets()).map((r) => r.id).sort(), ids(members));
  });
  // the clients see it too: a broadcast from one of our nodes to the new room reaches them
  const t = tally([...members, ...others], "room-message");
  others[0].emit("to-room", "sj-a", "to sj-a");
  await t.reached(members, "to sj-a");
  await sleep(QUIET_MS);
  t.assertExactlyOnce("to sj-a", members, others);

  io().in("sj-a").socketsLeave("sj-a");
  await eventually(async () => assert.deepEqual(await io().in("sj-a").fetchSockets(), []));
  assert.deepEqual((await io().in("sj-b").fetchSockets()).map((r) => r.id).sort(), ids(members), "sj-b is kept");
});

test("disconnectSockets disconnects the matching sockets on every node", bounded(30000), async () => {
  const soft = await remoteMembers(["dc-soft"]);
  const hard = await remoteMembers(["dc-hard"]);
  const stay = await remoteMembers(["dc-stay"]);
  const softGone = soft.map((s) => waitEvent(s, "disconnect", ms(5000)).then(([reason]) => [s, reason]));
  io().in("dc-soft").disconnectSockets();
  for (const [s, reason] of await Promise.all(softGone)) assert.equal(reason, "io server disconnect", s.label);

  // close=true also closes the underlying connection
  const hardGone = hard.map((s) => waitEvent(s, "disconnect", ms(5000)).then(([reason]) => [s, reason]));
  io().in("dc-hard").disconnectSockets(true);
  for (const [s, reason] of await Promise.all(hardGone)) {
    assert.ok(["io server disconnect", "transport close"].includes(reason), `${s.label}: ${reason}`);
  }
  await Promise.all(stay.map((s) => expectNoEvent(s, "disconnect", QUIET_MS)));
  assert.deepEqual((await io().in("dc-stay").fetchSockets()).map((r) => r.id).sort(), ids(stay));
});

test("allRooms is the union of every node's rooms", bounded(30000), async () => {
  const members = await remoteMembers([]);
  for (const [i, s] of members.entries()) await emitAck(s, "join", `ar-${i}`);
  const rooms = await io().of("/").adapter.allRooms();
  for (const [i, s] of members.entries()) {
    assert.ok(rooms.has(`ar-${i}`), `room ar-${i} of ${s.label}`);
    assert.ok(rooms.has(s.id), `the own room of ${s.label}`);
  }
});

test("serverSideEmit reaches every other node once; with an ack, every node answers", bounded(30000), async () => {
  const remote = await remoteMembers([]);
  const local = await member(cluster.driver);
  const t = tally([...remote, local], "server-message");
  io().serverSideEmit("server-message", "sse", { n: 1 });
  await t.reached(remote, "sse");
  await sleep(QUIET_MS);
  t.assertExactlyOnce("sse", remote, [local]); // not to the emitting node itself

  const t0 = Date.now();
  const answers = await io().serverSideEmitWithAck("ping-node");
  assert.ok(Date.now() - t0 < ms(4000), "every node answered (no request timeout)");
  assert.deepEqual([...answers].sort(), cluster.nodes.map((n) => n.nodeId).sort());
});

test("a broadcast with acks collects every client's answer from every node", bounded(30000), async () => {
  const members = await remoteMembers(["ack-room"]);
  const local = await member(cluster.driver, { rooms: ["ack-room"] });
  const outsider = await member(cluster.nodes[0]);
  const everyone = [...members, local];
  for (const s of [...everyone, outsider]) {
    s.on("question", (text, bytes, ack) => ack({ from: s.label, text, size: Buffer.isBuffer(bytes) ? bytes.length : -1 }));
  }
  const t0 = Date.now();
  const answers = await io().timeout(ACK_TIMEOUT_MS).to("ack-room").emitWithAck("question", "ready?", Buffer.alloc(5, 7));
  const elapsed = Date.now() - t0;
  assert.deepEqual(answers.map((a) => a.from).sort(), everyone.map((s) => s.label).sort());
  for (const a of answers) {
    assert.equal(a.text, "ready?", a.from);
    assert.equal(a.size, 5, `${a.from}: the buffer arrived as binary`);
  }
  assert.ok(elapsed < ACK_TIMEOUT_MS / 2,
    `resolved after ${elapsed} ms: each node must report how many clients it asked, so the call ends when all answered`);
});

test("a broadcast with acks times out when a client does not answer, keeping the answers it got", bounded(30000), async () => {
  const members = await remoteMembers(["slow-room"], { transports: ["websocket"] });
  const [silent, ...answering] = members;
  for (const s of answering) s.on("question", (ack) => ack(s.label));
  silent.on("question", () => {}); // never acks
  const t0 = Date.now();
  const { err, responses } = await new Promise((resolve) => {
    io().timeout(ACK_TIMEOUT_MS).to("slow-room").emit("question", (e, r) => resolve({ err: e, responses: r }));
  });
  const elapsed = Date.now() - t0;
  assert.ok(err instanceof Error, "the timeout is reported");
  assert.ok(elapsed >= ACK_TIMEOUT_MS - 50, `not before the timeout (${elapsed} ms)`);
  assert.deepEqual([...responses].sort(), answering.map((s) => s.label).sort());
});

test("a client that connects after a remote operation still works normally", bounded(10000), async () => {
  const s = client(cluster.nodes[0], "/", { transports: ["websocket"] });
  await connected(s);
  assert.deepEqual(await emitAck(s, "message-with-ack", "still fine"), ["still fine"]);
});

// ---- driven from one of our nodes -----------------------------------------------------

// Every node but the first, and the Node.js node in this process.
const others = () => [...cluster.nodes.slice(1), cluster.driver];

// A client of the first node, through which the operations are asked for.
async function origin() {
  return member(cluster.nodes[0], { transport: "websocket" });
}

async function fetchFrom(via, target) {
  const reply = await emitAckWithin(ms(8000), via, "fetch-sockets", target);
  assert.equal(reply.length, 1, `fetch-sockets failed: ${JSON.stringify(reply)}`);
  return reply[0];
}

const act = async (via, event, ...args) => assert.deepEqual(await emitAck(via, event, ...args), [], event);

test("from our node: fetch-sockets lists the matching sockets of every node, with handshake, rooms and data", bounded(30000), async () => {
  const via = await origin();
  const members = await remoteMembers(["o-fetch"], { nodes: others() });
  const t0 = Date.now();
  const fetched = await fetchFrom(via, "o-fetch");
  assert.ok(Date.now() - t0 < ms(4000), "every node answered (no request timeout)");
  assert.deepEqual(fetched.map((f) => f.id).sort(), ids(members));
  for (const s of members) {
    const f = fetched.find((x) => x.id === s.id);
    assert.deepEqual([...f.rooms].sort(), [s.id, "o-fetch"].sort(), `${s.label}: rooms`);
    assert.deepEqual(f.handshake.auth, s.auth, `${s.label}: handshake.auth`);
    assert.deepEqual(f.data, { label: s.auth.label }, `${s.label}: data`);
  }
});

test("from our node: sockets-join and sockets-leave apply on every node", bounded(30000), async () => {
  const via = await origin();
  const members = await remoteMembers(["o-src"], { nodes: others() });
  const bystanders = await remoteMembers([], { nodes: others(), transports: ["websocket"] });
  await act(via, "sockets-join", "o-src", ["o-a", "o-b"]);
  await eventually(async () => {
    assert.deepEqual((await fetchFrom(via, "o-a")).map((f) => f.id).sort(), ids(members));
    assert.deepEqual((await fetchFrom(via, "o-b")).map((f) => f.id).sort(), ids(members));
  });
  const t = tally([...members, ...bystanders], "room-message");
  via.emit("to-room", "o-a", "to o-a");
  await t.reached(members, "to o-a");
  await sleep(QUIET_MS);
  t.assertExactlyOnce("to o-a", members, bystanders);

  await act(via, "sockets-leave", { rooms: "o-a" }, "o-a");
  await eventually(async () => assert.deepEqual(await fetchFrom(via, "o-a"), []));
  assert.deepEqual((await fetchFrom(via, "o-b")).map((f) => f.id).sort(), ids(members), "o-b is kept");
});

test("from our node: disconnect-sockets disconnects the target's sockets on every node", bounded(30000), async () => {
  const via = await origin();
  const gone = await remoteMembers(["o-dc"], { nodes: others() });
  const stay = await remoteMembers(["o-stay"], { nodes: others(), transports: ["websocket"] });
  const reasons = gone.map((s) => waitEvent(s, "disconnect", ms(5000)).then(([reason]) => [s, reason]));
  await act(via, "disconnect-sockets", "o-dc", false);
  for (const [s, reason] of await Promise.all(reasons)) assert.equal(reason, "io server disconnect", s.label);
  await Promise.all(stay.map((s) => expectNoEvent(s, "disconnect", QUIET_MS)));
  assert.ok(via.connected);
});

test("from our node: server-side-emit collects one answer from every other node", bounded(30000), async () => {
  const via = await origin();
  const t0 = Date.now();
  const [answers] = await emitAckWithin(ms(8000), via, "server-side-emit", "ping-node");
  assert.ok(Date.now() - t0 < ms(4000), "every node answered (no request timeout)");
  assert.deepEqual([...answers].sort(), others().map((n) => n.nodeId).sort());

  const remote = await remoteMembers([], { nodes: others(), transports: ["websocket"] });
  const local = await member(cluster.nodes[0]);
  const t = tally([...remote, local], "server-message");
  await emitAckWithin(ms(8000), via, "server-side-emit", "server-message", "from our node");
  await t.reached(remote, "from our node");
  await sleep(QUIET_MS);
  t.assertExactlyOnce("from our node", remote, [local]);
});
