// Faults in a cluster of three echo nodes and a Node.js node on one Redis.
//
// Redis goes away for several seconds in the middle of steady room traffic (stopped with
// SIGTERM, or killed with SIGKILL) and comes back on the same port. Meanwhile every node
// keeps serving its own clients (echo, new connections, room broadcasts among its local
// members) and says it is not ready (GET /readyz 503; GET /healthz stays 200). Once Redis
// is back every node becomes ready again, subscribes again (PUBSUB NUMSUB counts it) and
// cross-node traffic resumes from every node. No node crashes, and no client ever receives
// one broadcast twice (whether a node drops or queues what it published during the outage
// is its choice; delivering it twice is not).
//
// A node killed with SIGKILL: its clients, given a second node's address, reconnect there
// and keep working with the rest of the cluster; Redis stops counting the dead node.

import { test } from "node:test";
import assert from "node:assert/strict";
import { client, connected, echoRoundTrip, emitAck, waitEvent, sleep, ms, bounded } from "./helpers.mjs";
import {
  useCluster, nodeKinds, member, tally, untilDelivered, waitStatus, waitPeers, killNode,
  failoverClient, whoami, clientsOnEveryNode, onNode,
} from "./cluster-helpers.mjs";

const KINDS = nodeKinds(["echo", "echo", "echo", "node"]);
const TRAFFIC_EVERY_MS = 100;
const QUIET_MS = ms(500);

const cluster = useCluster({ kinds: KINDS });

const roomMembers = async (room) => (await clientsOnEveryNode(cluster.nodes, [room])).members;

// A broadcast to `room` every TRAFFIC_EVERY_MS from each node in turn, until stop().
function steadyTraffic(members, room) {
  const senders = cluster.nodes.map((n) => onNode(members, n)[0]);
  let n = 0;
  const timer = setInterval(() => {
    const s = senders[n % senders.length];
    s.emit("to-room", room, `traffic-${n++}`);
  }, TRAFFIC_EVERY_MS);
  return { stop: () => clearInterval(timer), sent: () => n };
}

// What a node must still do with Redis gone: answer its clients, take new ones, and deliver
// a broadcast to its own members of the room.
async function assertServesLocally(node, members, t, room) {
  node.assertAlive();
  await waitStatus(node, "/readyz", 503, { timeoutMs: ms(5000), what: `${node.nodeId}: /readyz while Redis is down` });
  await waitStatus(node, "/healthz", 200, { timeoutMs: ms(1000), what: `${node.nodeId}: /healthz while Redis is down` });
  const local = onNode(members, node);
  await echoRoundTrip(local[0], `echo on ${node.nodeId} without Redis`);
  for (const transport of ["websocket", "polling"]) {
    const fresh = client(node, "/", { transports: [transport] });
    await connected(fresh);
    await echoRoundTrip(fresh, `new ${transport} client on ${node.nodeId} without Redis`);
    fresh.disconnect();
  }
  const token = `local-on-${node.nodeId}-${Math.random().toString(36).slice(2, 8)}`;
  local[0].emit("to-room", room, token);
  await t.reached(local, token, ms(3000));
}

async function assertRecovered(members, t, room) {
  for (const node of cluster.nodes) {
    await waitStatus(node, "/readyz", 200, { timeoutMs: ms(15000), what: `${node.nodeId}: /readyz once Redis is back` });
  }
  await waitPeers(cluster.redis, cluster.nodes.length, { timeoutMs: ms(15000) });
  for (const node of cluster.nodes) {
    const sender = onNode(members, node)[0];
    await untilDelivered(t, members, (token) => sender.emit("to-room", room, token),
      { timeoutMs: ms(15000), label: `resume-from-${node.nodeId}` });
  }
}

async function outage({ room, stopRedis, outageMs }) {
  const members = await roomMembers(room);
  const t = tally(members, "room-message");
  const before = `before-${room}`;
  onNode(members, cluster.nodes[0])[0].emit("to-room", room, before);
  await t.reached(members, before);

  const traffic = steadyTraffic(members, room);
  await sleep(ms(500));
  await stopRedis();
  const upAt = Date.now() + outageMs;
  for (const node of cluster.nodes) await assertServesLocally(node, members, t, room);
  await sleep(Math.max(0, upAt - Date.now()));
  await cluster.redis.start();

  await assertRecovered(members, t, room);
  traffic.stop();
  for (const node of cluster.nodes) {
    onNode(members, node)[0].emit("to-room", room, `final-from-${node.nodeId}`);
    await t.reached(members, `final-from-${node.nodeId}`);
  }
  await sleep(QUIET_MS);
  for (const node of cluster.nodes) t.assertExactlyOnce(`final-from-${node.nodeId}`, members);
  t.assertNoDuplicates();
  assert.ok(traffic.sent() > outageMs / TRAFFIC_EVERY_MS / 2, `traffic ran through the outage (${traffic.sent()} broadcasts)`);
  for (const node of cluster.nodes) node.assertAlive();
}

test("Redis stopped for 4 s mid-traffic, then restarted: local service throughout, then full recovery", bounded(120000), async () => {
  await outage({ room: "stopped", stopRedis: () => cluster.redis.stop(), outageMs: ms(4000) });
});

test("Redis killed with SIGKILL for 3 s mid-traffic, then restarted: the same", bounded(120000), async () => {
  await outage({ room: "killed", stopRedis: () => cluster.redis.kill(), outageMs: ms(3000) });
});

test("a node killed with SIGKILL: its clients reconnect to the second address and keep working", bounded(60000), async () => {
  const [victim, fallback, ...rest] = cluster.nodes;
  const elsewhere = rest[rest.length - 1];
  const moving = [];
  for (const transport of ["websocket", "polling"]) {
    const s = failoverClient([victim, fallback], "/", { transports: [transport] });
    s.label = `failover/${transport}`;
    await connected(s);
    assert.equal(await whoami(s), victim.nodeId);
    await emitAck(s, "join", "moved");
    moving.push(s);
  }
  const peer = await member(elsewhere, { rooms: ["moved"] });

  const back = moving.map((s) => waitEvent(s, "disconnect", ms(5000)).then(() => waitEvent(s, "connect", ms(15000))));
  await killNode(victim);
  await Promise.all(back);
  for (const s of moving) {
    assert.equal(await whoami(s), fallback.nodeId, `${s.label} reconnected to the second address`);
    await echoRoundTrip(s, "after the failover");
    await emitAck(s, "join", "moved"); // a new session: rooms are joined again
  }

  const everyone = [...moving, peer];
  const t = tally(everyone, "room-message");
  peer.emit("to-room", "moved", `from ${elsewhere.nodeId}`);
  moving[0].emit("to-room", "moved", `from ${fallback.nodeId}`);
  await t.reached(everyone, `from ${elsewhere.nodeId}`);
  await t.reached(everyone, `from ${fallback.nodeId}`);
  await sleep(QUIET_MS);
  t.assertExactlyOnce(`from ${elsewhere.nodeId}`, everyone);
  t.assertExactlyOnce(`from ${fallback.nodeId}`, everyone);

  // Redis drops the dead node's subscriptions, so Node.js peers stop waiting for it.
  await waitPeers(cluster.redis, cluster.nodes.length - 1, { timeoutMs: ms(10000) });
  for (const node of cluster.nodes.filter((n) => n !== victim)) node.assertAlive();
});
