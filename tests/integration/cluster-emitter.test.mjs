// @socket.io/redis-emitter 5 (a process with no Socket.IO server, only a Redis connection)
// publishing into a cluster of our echo nodes and a Node.js node: to a room with members
// on every node, to everyone, to a namespace, with binary, to several rooms, with an
// exception, and the emitter's remote operations (socketsJoin, socketsLeave,
// disconnectSockets, serverSideEmit).
//
// The emitter publishes on the same channels as a node: `<prefix>#<nsp>#` (+ `<room>#` for
// exactly one room) with [uid "emitter", packet, {rooms, except, flags}] in msgpack, and
// its remote operations as JSON on `<prefix>-request#<nsp>#`. Messages from one publisher
// are applied in the order Redis delivers them, so a socketsJoin followed by a broadcast to
// the joined room reaches the sockets it just added (as with the Node.js adapter).

import { test } from "node:test";
import assert from "node:assert/strict";
import { collectEvents, waitEvent, expectNoEvent, sleep, ms, bounded } from "./helpers.mjs";
import { useCluster, nodeKinds, tally, clientsOnEveryNode } from "./cluster-helpers.mjs";

const KINDS = nodeKinds(["echo", "echo", "node"]);
const QUIET_MS = ms(400);

const cluster = useCluster({ kinds: KINDS, emitter: true });

const clients = (rooms, opts) => clientsOnEveryNode(cluster.nodes, rooms, opts);

test("to a room with members on every node: each member once, nobody else", bounded(30000), async () => {
  const { members, outsiders } = await clients(["r1"]);
  const t = tally([...members, ...outsiders], "emitted");
  cluster.emitter.to("r1").emit("emitted", "to r1", { n: 1 });
  await t.reached(members, "to r1");
  await sleep(QUIET_MS);
  t.assertExactlyOnce("to r1", members, outsiders);
});

test("the arguments arrive as emitted", bounded(30000), async () => {
  const { members } = await clients(["args"]);
  const all = members.map((s) => collectEvents(s, "emitted", 1).then(([args]) => [s, args]));
  const payload = ["args", 7, -1.25, false, null, { deep: { list: [1, { two: "2" }] } }, "ünïcødé ✓"];
  cluster.emitter.to("args").emit("emitted", ...payload);
  for (const [s, args] of await Promise.all(all)) {
    assert.deepEqual(args.slice(0, payload.length), payload, s.label);
  }
});

test("to everyone: every client of the namespace on every node, not other namespaces", bounded(30000), async () => {
  const { members, outsiders } = await clients([]);
  const custom = (await clients([], { nsp: "/custom" })).members;
  const everyone = [...members, ...outsiders];
  const t = tally([...everyone, ...custom], "emitted");
  cluster.emitter.emit("emitted", "to all");
  await t.reached(everyone, "to all");
  await sleep(QUIET_MS);
  t.assertExactlyOnce("to all", everyone, custom);
});

test("to a namespace, and to a room of that namespace", bounded(30000), async () => {
  const root = await clients(["ns-room"]);
  const custom = await clients(["ns-room"], { nsp: "/custom" });
  const customAll = [...custom.members, ...custom.outsiders];
  const rootAll = [...root.members, ...root.outsiders];
  const t = tally([...rootAll, ...customAll], "emitted");
  cluster.emitter.of("/custom").emit("emitted", "to /custom");
  cluster.emitter.of("/custom").to("ns-room").emit("emitted", "to /custom ns-room");
  await t.reached(customAll, "to /custom");
  await t.reached(custom.members, "to /custom ns-room");
  await sleep(QUIET_MS);
  t.assertExactlyOnce("to /custom", customAll, rootAll);
  t.assertExactlyOnce("to /custom ns-room", custom.members, [...custom.outsiders, ...rootAll]);
});

test("binary arrives as binary on every node", bounded(30000), async () => {
  const { members } = await clients(["bin"]);
  const bytes = Buffer.from([0xde, 0xad, 0, 0xbe, 0xef, 0x1e]);
  const all = members.map((s) => collectEvents(s, "emitted", 1).then(([args]) => [s, args]));
  cluster.emitter.to("bin").emit("emitted", bytes, { inner: bytes });
  for (const [s, args] of await Promise.all(all)) {
    assert.ok(Buffer.isBuffer(args[0]) && args[0].equals(bytes), `${s.label}: top-level buffer`);
    assert.ok(Buffer.isBuffer(args[1].inner) && args[1].inner.equals(bytes), `${s.label}: nested buffer`);
  }
});

test("to several rooms: a socket in more than one of them gets it once", bounded(30000), async () => {
  const a = await clients(["multi-a"]);
  const b = await clients(["multi-b"]);
  const ab = await clients(["multi-a", "multi-b"]);
  const to = [...a.members, ...b.members, ...ab.members];
  const t = tally([...to, ...a.outsiders], "emitted");
  cluster.emitter.to(["multi-a", "multi-b"]).emit("emitted", "to a and b");
  await t.reached(to, "to a and b");
  await sleep(QUIET_MS);
  t.assertExactlyOnce("to a and b", to, a.outsiders);
});

test("except: members of the excluded room are skipped on every node", bounded(30000), async () => {
  const heard = (await clients(["ex"])).members;
  const muted = (await clients(["ex", "ex-muted"])).members;
  const t = tally([...heard, ...muted], "emitted");
  cluster.emitter.to("ex").except("ex-muted").emit("emitted", "not to muted");
  await t.reached(heard, "not to muted");
  await sleep(QUIET_MS);
  t.assertExactlyOnce("not to muted", heard, muted);
});

test("socketsJoin, then a broadcast to the joined room reaches the sockets added on every node", bounded(30000), async () => {
  const { members, outsiders } = await clients(["joiners"]);
  const t = tally([...members, ...outsiders], "emitted");
  cluster.emitter.in("joiners").socketsJoin("joined");
  cluster.emitter.to("joined").emit("emitted", "to joined");
  await t.reached(members, "to joined");
  await sleep(QUIET_MS);
  t.assertExactlyOnce("to joined", members, outsiders);
});

test("socketsLeave, then a broadcast to the left room reaches none of them", bounded(30000), async () => {
  const { members } = await clients(["leavers", "stay"]);
  const t = tally(members, "emitted");
  cluster.emitter.in("leavers").socketsLeave("leavers");
  cluster.emitter.to("leavers").emit("emitted", "to leavers");
  cluster.emitter.to("stay").emit("emitted", "to stay"); // the fence: once it arrived, so would have the first
  await t.reached(members, "to stay");
  await sleep(QUIET_MS);
  t.assertExactlyOnce("to stay", members);
  t.assertExactlyOnce("to leavers", [], members);
});

test("disconnectSockets: the room's sockets on every node are disconnected, nobody else", bounded(30000), async () => {
  const { members, outsiders } = await clients(["kick"]);
  const reasons = members.map((s) => waitEvent(s, "disconnect", ms(5000)).then(([reason]) => [s, reason]));
  cluster.emitter.in("kick").disconnectSockets();
  for (const [s, reason] of await Promise.all(reasons)) assert.equal(reason, "io server disconnect", s.label);
  for (const s of outsiders) assert.ok(s.connected, `${s.label} must stay connected`);
  await Promise.all(outsiders.map((s) => expectNoEvent(s, "disconnect", QUIET_MS)));
});

test("serverSideEmit: every node runs its handler once (each emits server-message to its clients)", bounded(30000), async () => {
  const { members, outsiders } = await clients([]);
  const everyone = [...members, ...outsiders];
  const t = tally(everyone, "server-message");
  cluster.emitter.serverSideEmit("server-message", "from the emitter", { n: 1 });
  await t.reached(everyone, "from the emitter");
  await sleep(QUIET_MS);
  t.assertExactlyOnce("from the emitter", everyone);
});
