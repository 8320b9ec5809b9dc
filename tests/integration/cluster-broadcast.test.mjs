// Broadcasts across nodes on one Redis (@socket.io/redis-adapter 8 wire format): three of
// our echo nodes and one Node.js socket.io node, every client on every node. A broadcast
// made on any node reaches the room's members on every node exactly once, in both
// directions between our nodes and the Node.js node; rooms, exceptions and namespaces
// hold across nodes; binary crosses; one sender's order is kept.
//
// Echo API used (fixtures/node-echo-cluster.mjs documents it; switchboard-echo offers the
// same): join, to-room → room-message, to-room-except, to-all → all-message.

import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { emitAck, collectEvents, expectNoEvent, sleep, ms, bounded } from "./helpers.mjs";
import {
  useCluster, nodeKinds, member, tally, eventWith, startNodes, stopNodes, waitPeers, clientsOnEveryNode,
  onNode,
} from "./cluster-helpers.mjs";

const KINDS = nodeKinds(["echo", "echo", "echo", "node"]);
const QUIET_MS = ms(400); // after the last expected delivery: time for a duplicate to show

const cluster = useCluster({ kinds: KINDS });
const route = (a, b) => `${a.nodeId} (${a.kind}) → ${b.nodeId} (${b.kind})`;

const populate = (room, opts) => clientsOnEveryNode(cluster.nodes, [room], opts);

test("a to-room on any node reaches the room's members on every node exactly once", bounded(60000), async () => {
  const { members, outsiders } = await populate("everywhere");
  const t = tally([...members, ...outsiders], "room-message");
  for (const [i, from] of cluster.nodes.entries()) {
    const sender = onNode(members, from)[0];
    const token = `from-${from.nodeId}-${i}`;
    sender.emit("to-room", "everywhere", token, { from: from.nodeId });
    await t.reached(members, token, ms(5000)).catch((e) => {
      const missing = cluster.nodes.filter((n) => onNode(members, n).some((s) => t.count(s, token) === 0));
      throw new Error(`${e.message}\nroutes that failed: ${missing.map((n) => route(from, n)).join("; ")}`);
    });
  }
  await sleep(QUIET_MS);
  for (const from of cluster.nodes) {
    t.assertExactlyOnce(`from-${from.nodeId}-${cluster.nodes.indexOf(from)}`, members, outsiders);
  }
});

test("the payload arrives intact across nodes, and our nodes and the Node.js node hear each other", bounded(30000), async () => {
  const { members } = await populate("payload");
  const node = cluster.nodes.find((n) => n.kind !== "echo") ?? cluster.nodes[cluster.nodes.length - 1];
  const ours = cluster.nodes.filter((n) => n !== node);
  const payload = [42, 1.5, -7, true, false, null, { nested: { list: [1, "two", { three: 3 }] } }, "ünïcødé ✓", ""];
  for (const [from, to] of [[ours[0], node], [node, ours[0]], [ours[0], ours[1]]]) {
    const token = route(from, to);
    const got = eventWith(onNode(members, to)[0], "room-message", token);
    onNode(members, from)[0].emit("to-room", "payload", token, ...payload);
    assert.deepEqual((await got).slice(1, 1 + payload.length), payload, token);
  }
});

test("binary payloads cross nodes as binary (top level and nested)", bounded(30000), async () => {
  const { members } = await populate("binary");
  const bytes = Buffer.from([0, 1, 2, 0x1e, 0xff, 0x7b]);
  for (const from of cluster.nodes) {
    const token = `binary from ${from.nodeId}`;
    const all = members.map((s) => eventWith(s, "room-message", token).then((args) => [s, args]));
    onNode(members, from)[0].emit("to-room", "binary", token, bytes, { inner: bytes, list: [bytes] });
    for (const [s, [, top, nested]] of await Promise.all(all)) {
      const what = `${from.nodeId} → ${s.label}`;
      assert.ok(Buffer.isBuffer(top) && top.equals(bytes), `${what}: top-level buffer ${JSON.stringify(top)}`);
      assert.ok(Buffer.isBuffer(nested.inner) && nested.inner.equals(bytes), `${what}: nested buffer`);
      assert.ok(Buffer.isBuffer(nested.list[0]) && nested.list[0].equals(bytes), `${what}: buffer in an array`);
    }
  }
});

test("an except room is honoured on every node", bounded(30000), async () => {
  const { members } = await populate("with-except");
  // On every node one of the two members also joins "muted".
  const muted = [];
  for (const node of cluster.nodes) {
    const s = onNode(members, node)[1];
    await emitAck(s, "join", "muted");
    muted.push(s);
  }
  const heard = members.filter((s) => !muted.includes(s));
  const t = tally(members, "room-message");
  for (const from of cluster.nodes) {
    const token = `except-from-${from.nodeId}`;
    onNode(heard, from)[0].emit("to-room-except", "with-except", "muted", token);
    await t.reached(heard, token);
  }
  await sleep(QUIET_MS);
  for (const from of cluster.nodes) t.assertExactlyOnce(`except-from-${from.nodeId}`, heard, muted);
});

test("to-all reaches every client of the namespace on every node, and no other namespace", bounded(30000), async () => {
  const { members, outsiders } = await populate("unused");
  const custom = [];
  for (const node of cluster.nodes) custom.push(await member(node, { nsp: "/custom" }));
  const everyone = [...members, ...outsiders];
  const t = tally([...everyone, ...custom], "all-message");
  for (const from of cluster.nodes) {
    onNode(outsiders, from)[0].emit("to-all", `all-from-${from.nodeId}`);
    await t.reached(everyone, `all-from-${from.nodeId}`);
  }
  await sleep(QUIET_MS);
  for (const from of cluster.nodes) t.assertExactlyOnce(`all-from-${from.nodeId}`, everyone, custom);
});

test("rooms belong to their namespace across nodes", bounded(30000), async () => {
  const root = await populate("same-name");
  const custom = await populate("same-name", { nsp: "/custom" });
  const t = tally([...root.members, ...custom.members], "room-message");
  for (const from of cluster.nodes) {
    const token = `custom-from-${from.nodeId}`;
    onNode(custom.members, from)[0].emit("to-room", "same-name", token);
    await t.reached(custom.members, token);
  }
  await sleep(QUIET_MS);
  for (const from of cluster.nodes) t.assertExactlyOnce(`custom-from-${from.nodeId}`, custom.members, root.members);
});

test("a socket in two rooms gets each room's broadcast from another node once", bounded(30000), async () => {
  const [a, b] = cluster.nodes;
  const both = await member(a, { rooms: ["left", "right"] });
  const sender = await member(b);
  const got = collectEvents(both, "room-message", 2, ms(5000));
  sender.emit("to-room", "left", "to left");
  sender.emit("to-room", "right", "to right");
  assert.deepEqual((await got).map((args) => args[0]), ["to left", "to right"]);
  await expectNoEvent(both, "room-message", QUIET_MS);
});

test("one sender's broadcasts arrive in order on every node", bounded(30000), async () => {
  const { members } = await populate("ordered");
  for (const from of [cluster.nodes[0], cluster.nodes[cluster.nodes.length - 1]]) {
    const N = 30;
    const all = members.map((s) => collectEvents(s, "room-message", N, ms(10000)).then((got) => [s, got]));
    const sender = onNode(members, from)[0];
    for (let i = 0; i < N; i++) sender.emit("to-room", "ordered", `${from.nodeId}-${i}`);
    for (const [s, got] of await Promise.all(all)) {
      assert.deepEqual(got.map((args) => args[0]), Array.from({ length: N }, (_, i) => `${from.nodeId}-${i}`), `order at ${s.label}`);
    }
  }
});

describe("--redis-prefix: two applications on one Redis do not hear each other", () => {
  const other = { nodes: [] };
  const PREFIX = "other-app";

  test("nodes on another prefix talk among themselves only", bounded(60000), async () => {
    other.nodes = await startNodes(nodeKinds(["echo", "node"]), { redis: cluster.redis, prefix: PREFIX, first: 1, idPrefix: "other-" });
    // the default-prefix cluster is still counted as before on its own channel
    await waitPeers(cluster.redis, cluster.nodes.length);
    try {
      const mine = [];
      for (const node of other.nodes) mine.push(await member(node, { rooms: ["shared-room"] }));
      const theirs = [];
      for (const node of cluster.nodes) theirs.push(await member(node, { rooms: ["shared-room"] }));
      const t = tally([...mine, ...theirs], "room-message");
      mine[0].emit("to-room", "shared-room", "other-app only");
      theirs[0].emit("to-room", "shared-room", "default app only");
      await t.reached(mine, "other-app only");
      await t.reached(theirs, "default app only");
      await sleep(QUIET_MS);
      t.assertExactlyOnce("other-app only", mine, theirs);
      t.assertExactlyOnce("default app only", theirs, mine);
    } finally {
      await stopNodes(other.nodes);
    }
  });
});
