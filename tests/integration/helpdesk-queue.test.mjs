// Queue feedback (spec v1.1, §4): a queued customer hears `queued` {ticket_chat_id, position,
// agents_online} when its conversation is queued and when that changes (at most once a
// second); GET /status counts the agents and the queue; a conversation that closes without
// ever having had an agent closes `unanswered`. Runs embedded and, with
// SWITCHBOARD_HELPDESK_REDIS=1 (the ".redis" ctest entry), on a real redis-server, where two
// nodes share the queue: a customer on one node hears its position move when a customer on
// the other node is assigned.

import { describe, test, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import { startServer, waitEvent, expectNoEvent, sleep, ms, bounded } from "./helpers.mjs";
import { startRedis, waitStatus, eventually } from "./cluster-helpers.mjs";
import { useHelpdesk, WITH_REDIS, customer, agent, closeHdClients, ack, send, rest } from "./helpdesk-helpers.mjs";

afterEach(() => closeHdClients());

// Every queued event a socket gets, with when it came.
function queuedLog(socket) {
  const log = [];
  socket.on("queued", (p) => log.push({ ...p, at: Date.now() }));
  return log;
}
const bare = ({ at, ...p }) => p;
const said = (log) => log.map(bare);

async function until(log, pred, what, timeoutMs = ms(8000)) {
  await eventually(() => assert.ok(log.some((p) => pred(p)), `${what}: got ${JSON.stringify(said(log))}`), { timeoutMs });
}

// GET /status answers are shared for up to a second (a public endpoint): a change shows
// within that.
async function statusIs(srv, path, expected) {
  await eventually(async () => assert.deepEqual((await rest(srv, path)).body.data, expected), { timeoutMs: ms(3000) });
}

// No two events of one conversation less than a second apart (slack for delivery jitter),
// and never the same thing twice in a row.
function assertCoalesced(log) {
  for (let i = 1; i < log.length; i++) {
    assert.ok(log[i].at - log[i - 1].at >= 700, `queued twice within a second: ${JSON.stringify(log)}`);
    assert.notDeepEqual(bare(log[i]), bare(log[i - 1]), `the same queued twice: ${JSON.stringify(said(log))}`);
  }
}

describe("queued: positions, agents_online and unanswered", () => {
  const srv = useHelpdesk();

  test("two customers wait, an agent comes, the second moves up; closing unanswered", bounded(40000), async () => {
    assert.deepEqual((await rest(srv, "/status")).body, { status_code: 200, data: { agents_online: 0, queue_length: 0 } });
    let r;

    // The first customer, with two tabs: each hears it once.
    const c1 = await customer(srv, "q-s1");
    const c1b = await customer(srv, "q-s1");
    const log1 = queuedLog(c1), log1b = queuedLog(c1b);
    const first = await send(c1, "anyone?", { session_id: "q-s1" });
    const chat1 = first.data.ticket_chat_id;
    await until(log1, () => true, "c1 queued");
    assert.deepEqual(said(log1), [{ ticket_chat_id: chat1, position: 1, agents_online: 0 }]);
    assert.deepEqual(Object.keys(log1[0]).sort(), ["agents_online", "at", "position", "ticket_chat_id"]);
    await until(log1b, () => true, "c1's other tab queued");
    await statusIs(srv, "/status", { agents_online: 0, queue_length: 1 });

    const c2 = await customer(srv, "q-s2");
    const log2 = queuedLog(c2);
    const second = await send(c2, "me too", { session_id: "q-s2" });
    const chat2 = second.data.ticket_chat_id;
    await until(log2, () => true, "c2 queued");
    assert.deepEqual(said(log2), [{ ticket_chat_id: chat2, position: 2, agents_online: 0 }]);
    await statusIs(srv, "/status", { agents_online: 0, queue_length: 2 });
    // Nothing changed for the first: it hears nothing more.
    await sleep(ms(1500));
    assert.equal(log1.length, 1, `c1: ${JSON.stringify(said(log1))}`);
    assert.equal(log1b.length, 1, "one per tab");

    // An agent with room for one comes online: the oldest is assigned, the second moves up.
    const c1Assigned = waitEvent(c1, "assigned", ms(8000));
    const a = await agent(srv, "q-a1", { max_chats: 1 });
    assert.equal((await c1Assigned)[0].ticket_chat_id, chat1);
    await until(log2, (p) => p.position === 1, "c2 moves up");
    assert.deepEqual(bare(log2.at(-1)), { ticket_chat_id: chat2, position: 1, agents_online: 1 });
    assertCoalesced(log2);
    await statusIs(srv, "/status", { agents_online: 1, queue_length: 1 });
    assert.ok(log1.every((p) => p.ticket_chat_id === chat1), "c1 hears only of its own");

    // A third waits behind the second, then gives up: closed unanswered.
    const c3 = await customer(srv, "q-s3");
    const log3 = queuedLog(c3);
    const third = await send(c3, "hello?", { session_id: "q-s3" });
    const chat3 = third.data.ticket_chat_id;
    await until(log3, () => true, "c3 queued");
    assert.deepEqual(said(log3), [{ ticket_chat_id: chat3, position: 2, agents_online: 1 }]);
    const closed3 = waitEvent(c3, "closed");
    r = await ack(c3, "close", { ticket_chat_id: chat3 });
    assert.equal(r.status_code, 200);
    assert.deepEqual((await closed3)[0], { ticket_chat_id: chat3, by: "customer", reason: "unanswered" });
    await expectNoEvent(c3, "queued", ms(1500));

    // The first, who had an agent, closes with its own reason; the agent frees up and takes
    // the second.
    const closed1 = waitEvent(c1, "closed");
    const c2Assigned = waitEvent(c2, "assigned", ms(8000));
    assert.equal((await ack(c1, "close", { ticket_chat_id: chat1 })).status_code, 200);
    assert.deepEqual((await closed1)[0], { ticket_chat_id: chat1, by: "customer", reason: "customer" });
    assert.equal((await c2Assigned)[0].ticket_chat_id, chat2);
    await statusIs(srv, "/status", { agents_online: 1, queue_length: 0 });
    const heard = log2.length;
    await sleep(ms(1500));
    assert.equal(log2.length, heard, "an assigned customer hears no more queued");
    assert.equal((await ack(a, "close", { ticket_chat_id: chat2 })).status_code, 200);
  });

  test("positions count within the department; a reconnecting customer hears it again", bounded(40000), async () => {
    // The agent of the test before has gone.
    await eventually(async () => assert.equal((await rest(srv, "/status")).body.data.agents_online, 0));
    const who = [["qd-1", "x"], ["qd-2", "y"], ["qd-3", "x"], ["qd-4", null], ["qd-5", null], ["qd-6", "x"]];
    const sockets = {}, logs = {}, chats = {};
    for (const [sid, dept] of who) {
      const s = await customer(srv, sid, dept ? { dept: [dept] } : {});
      sockets[sid] = s;
      logs[sid] = queuedLog(s);
      chats[sid] = (await send(s, `from ${sid}`, { session_id: sid })).data.ticket_chat_id;
    }
    const want = { "qd-1": 1, "qd-2": 1, "qd-3": 2, "qd-4": 1, "qd-5": 2, "qd-6": 3 };
    for (const [sid] of who) {
      await until(logs[sid], () => true, `${sid} queued`);
      assert.deepEqual(said(logs[sid]), [{ ticket_chat_id: chats[sid], position: want[sid], agents_online: 0 }], sid);
    }
    await statusIs(srv, "/status?dept=x", { agents_online: 0, queue_length: 3 });
    let r = await rest(srv, "/departments/");
    assert.deepEqual(r.body.data.find((d) => d.dept === "y"), { dept: "y", agents_online: 0, queue_length: 1 });

    // The oldest of x leaves (unanswered): the others of x move up, y and none do not.
    assert.deepEqual((await ack(sockets["qd-1"], "close", { ticket_chat_id: chats["qd-1"] })).status_code, 200);
    await until(logs["qd-3"], (p) => p.position === 1, "qd-3 moves up");
    await until(logs["qd-6"], (p) => p.position === 2, "qd-6 moves up");
    await sleep(ms(1200));
    for (const sid of ["qd-2", "qd-4", "qd-5"]) assert.equal(logs[sid].length, 1, `${sid}: ${JSON.stringify(said(logs[sid]))}`);

    // A customer that comes back hears where it stands (what it was told was forgotten).
    sockets["qd-5"].close();
    await sleep(ms(1500));
    const again = await customer(srv, "qd-5");
    const log5 = queuedLog(again);
    await until(log5, () => true, "qd-5 again");
    assert.deepEqual(said(log5), [{ ticket_chat_id: chats["qd-5"], position: 2, agents_online: 0 }]);

    for (const sid of ["qd-2", "qd-3", "qd-4", "qd-6"]) {
      const closed = waitEvent(sockets[sid], "closed");
      assert.equal((await ack(sockets[sid], "close", { ticket_chat_id: chats[sid] })).status_code, 200);
      assert.equal((await closed)[0].reason, "unanswered");
    }
    assert.equal((await ack(again, "close", { ticket_chat_id: chats["qd-5"] })).status_code, 200);
    await statusIs(srv, "/status", { agents_online: 0, queue_length: 0 });
  });
});

// Two nodes on one Redis: the queue is shared, each node tells its own customers.
describe("queued across two nodes", { skip: !WITH_REDIS && "the Redis variant only" }, () => {
  const cluster = { redis: null, nodes: [] };

  async function startHdNode(nodeId) {
    const node = await startServer({ kind: "server", args: ["--redis", cluster.redis.url, "--node-id", nodeId] });
    try {
      await waitStatus(node, "/readyz", 200, { what: `${nodeId} ready` });
    } catch (e) {
      await node.kill();
      throw e;
    }
    return node;
  }

  before(async () => {
    if (!WITH_REDIS) return;
    cluster.redis = await startRedis();
    cluster.nodes = await Promise.all(["qa", "qb"].map(startHdNode));
  });
  after(async () => {
    closeHdClients();
    await Promise.all(cluster.nodes.map((n) => n.stop()));
    await cluster.redis?.dispose();
  });

  test("a customer on node A moves up when one on node B is assigned; nobody hears it twice", bounded(40000), async () => {
    const [A, B] = cluster.nodes;
    const onB = await customer(B, "qc-b");
    const logB = queuedLog(onB);
    const chatB = (await send(onB, "first, on B", { session_id: "qc-b" })).data.ticket_chat_id;
    await until(logB, () => true, "B's customer queued");
    assert.deepEqual(said(logB), [{ ticket_chat_id: chatB, position: 1, agents_online: 0 }]);

    // The same session on both nodes: each of its sockets hears each change once.
    const onA = await customer(A, "qc-a");
    const onA2 = await customer(B, "qc-a");
    const logA = queuedLog(onA), logA2 = queuedLog(onA2);
    const chatA = (await send(onA, "second, on A", { session_id: "qc-a" })).data.ticket_chat_id;
    await until(logA, () => true, "A's customer queued");
    assert.deepEqual(said(logA), [{ ticket_chat_id: chatA, position: 2, agents_online: 0 }]);
    await until(logA2, () => true, "its socket on B");
    assert.deepEqual(said(logA2), [{ ticket_chat_id: chatA, position: 2, agents_online: 0 }]);
    await statusIs(A, "/status", { agents_online: 0, queue_length: 2 });

    // An agent on node B takes the oldest (B's customer) with its one slot.
    const assignedB = waitEvent(onB, "assigned", ms(8000));
    await agent(B, "qc-agent", { max_chats: 1 });
    assert.equal((await assignedB)[0].ticket_chat_id, chatB);
    await until(logA, (p) => p.position === 1, "A's customer moves up (told by node A)");
    assert.deepEqual(bare(logA.at(-1)), { ticket_chat_id: chatA, position: 1, agents_online: 1 });
    await until(logA2, (p) => p.position === 1, "and its socket on B");
    await sleep(ms(1500));
    for (const log of [logA, logA2]) {
      assertCoalesced(log);
      assert.equal(log.filter((p) => p.position === 1).length, 1, `once: ${JSON.stringify(said(log))}`);
    }
    await statusIs(B, "/status", { agents_online: 1, queue_length: 1 });

    const closed = waitEvent(onA, "closed");
    assert.equal((await ack(onA, "close", { ticket_chat_id: chatA })).status_code, 200);
    assert.deepEqual((await closed)[0], { ticket_chat_id: chatA, by: "customer", reason: "unanswered" });
  });
});
