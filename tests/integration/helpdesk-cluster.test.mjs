// The helpdesk across a cluster: one real redis-server and three switchboard nodes with
// --redis, so conversations, the queue and agent presence live in Redis and every party may
// sit on any node.
//
// (a) 30 agents (max_chats 3) and 200 customers spread over the nodes connect at once and
//     every customer opens a conversation at once: no conversation is assigned twice, no
//     agent ever holds more than 3, exactly 90 are assigned and the 110 newest wait in the
//     queue (GET /inquiries/ on every node, oldest first). Then the agents serve: one reply,
//     one close per conversation, the queue drains into the freed slots until all 200 were
//     served. Every acknowledged message is in history and in hd:events exactly once, with
//     seq 1..n in order, and every party got each delivery exactly once.
// (b) A customer on node 1, its agent on node 2: messages both ways, typing, read, a
//     transfer to an agent on node 3, the close; every cross-node delivery arrives, and
//     the agent transferred away hears nothing more.
// (c) The backend: messages XADDed to hd:commands (read by all three nodes in one consumer
//     group, duplicates included) reach the customer and the agent on their nodes and are
//     stored once; a REST POST on node 3 reaches parties on nodes 1 and 2; a close command
//     closes.
//
// Deliveries of messages stored by different nodes a moment apart may arrive out of seq
// order (each node publishes its own); where that can happen the checks are by seq.
//
// The hd:events stream is read straight from Redis (node-redis): it is the backend's feed,
// appended in the same atomic step as each change, so its order is the store's order.

import { test, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import { createClient } from "redis";
import { startServer, request, connected, waitEvent, expectNoEvent, sleep, deadline, ms, bounded, HOST } from "./helpers.mjs";
import { startRedis, waitStatus, eventually } from "./cluster-helpers.mjs";
import { hdClient, closeHdClients, ack, send, rest, assertMessage, jwt } from "./helpdesk-helpers.mjs";

const cluster = { redis: null, nodes: [], db: null };

async function startHdNode(redis, nodeId, args = []) {
  const node = await startServer({ kind: "server", args: ["--redis", redis.url, "--node-id", nodeId, ...args] });
  node.nodeId = nodeId;
  try {
    await waitStatus(node, "/readyz", 200, { what: `${nodeId} ready on ${redis.url}` });
  } catch (e) {
    await node.kill();
    throw e;
  }
  return node;
}

before(async () => {
  cluster.redis = await startRedis();
  cluster.nodes = await Promise.all([1, 2, 3].map((i) => startHdNode(cluster.redis, `hd-${i}`)));
  cluster.db = createClient({ socket: { host: HOST, port: cluster.redis.port } });
  cluster.db.on("error", () => {});
  await cluster.db.connect();
});

afterEach(() => closeHdClients());

after(async () => {
  closeHdClients();
  await cluster.db?.disconnect().catch(() => {});
  try {
    const results = await Promise.allSettled(cluster.nodes.map((n) => n.stop()));
    const failed = results.find((r) => r.status === "rejected");
    if (failed) throw failed.reason;
  } finally {
    await cluster.redis?.dispose();
  }
});

// ---------- helpers ----------

const customerToken = (sub, dept) => jwt({ sub, role: "customer", name: `Customer ${sub}`, dept: [dept] });
const agentToken = (sub, dept, max_chats = 3) => jwt({ sub, role: "agent", name: `Agent ${sub}`, dept: [dept], max_chats });

// support with its ack awaited up to timeoutMs (send() waits 5 s).
const say = (socket, message, { ticket_chat_id = null, client_msg_id } = {}, timeoutMs = ms(15000)) =>
  ack(socket, "support", { message, attachment: false, ticket_chat_id, client_msg_id }, timeoutMs);

// A /helpdesk client whose listeners (setup) are in place before it connects. (connected()
// leaves no timer behind, unlike online().)
async function connect(node, token, setup = () => {}) {
  const s = hdClient(node, token);
  s.node = node;
  setup(s);
  await connected(s, ms(15000));
  return s;
}

// Every payload of each event, in arrival order.
function recorder(socket, events) {
  const got = Object.fromEntries(events.map((e) => [e, []]));
  for (const e of events) socket.on(e, (p) => got[e].push(p));
  return got;
}

// The agent's copy of "assigned" (v1.1): the customer and the conversation's last seq.
const agentCopy = (chat, id, session, lastSeq) => ({
  ticket_chat_id: chat, agent: { id, name: `Agent ${id}` },
  customer: { session_id: session, name: `Customer ${session}`, email: null, fields: null }, last_seq: lastSeq,
});

// The next successful "support" on socket whose message satisfies pred (failures always match).
function nextSupport(socket, pred = () => true, timeoutMs = ms(5000)) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      socket.off("support", h);
      reject(new Error(`no matching "support" within ${timeoutMs} ms`));
    }, timeoutMs);
    const h = (p) => {
      if (p.status_code === 200 && !pred(p.data)) return;
      clearTimeout(t);
      socket.off("support", h);
      resolve([p]);
    };
    socket.on("support", h);
  });
}
const notFirst = (m) => m.seq > 1;

// The hd:events stream: [{ id, type, data }], in stream order.
async function hdEvents() {
  const entries = await cluster.db.sendCommand(["XRANGE", "hd:events", "-", "+"]);
  return entries.map(([id, fields]) => {
    const f = {};
    for (let i = 0; i < fields.length; i += 2) f[fields[i]] = fields[i + 1];
    return { id, type: f.type, data: JSON.parse(f.data) };
  });
}

const chatOf = (e) => e.data.ticket_chat_id;

// The events of the chats in `chats` (a Set), in stream order.
async function eventsOf(chats) {
  return (await hdEvents()).filter((e) => chats.has(chatOf(e)));
}

async function xadd(type, data) {
  return cluster.db.sendCommand(["XADD", "hd:commands", "*", "type", type, "data", JSON.stringify(data)]);
}

async function metric(node, name) {
  const res = await request(node.port, { path: "/metrics" });
  const m = new RegExp(`^${name} (\\d+)`, "m").exec(res.text);
  assert.ok(m, `${name} missing from ${node.nodeId}'s /metrics`);
  return Number(m[1]);
}

// Runs fns with at most n in flight; resolves with their results in order.
async function limited(n, fns) {
  const out = new Array(fns.length);
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(n, fns.length) }, async () => {
    while (next < fns.length) {
      const i = next++;
      out[i] = await fns[i]();
    }
  }));
  return out;
}

// ---------- (a) load ----------

test("30 agents and 200 customers on three nodes: no double assignment, max_chats held, FIFO queue, all served, every message once",
  bounded(90000), async () => {
    const { nodes } = cluster;
    const DEPT = "load", MAX = 3, AGENTS = 30, CUSTOMERS = 200;
    const agentIds = Array.from({ length: AGENTS }, (_, i) => `ld-a${i}`);
    const sessionIds = Array.from({ length: CUSTOMERS }, (_, i) => `ld-s${i}`);

    // What each agent saw: every "assigned", and how many conversations it holds
    // (assignments received minus closes sent: a slot is free once the close is asked for,
    // so this may never exceed MAX whatever the order in which the nodes answer).
    const agentSeen = new Map(agentIds.map((a) => [a, { assigned: [], support: [], closed: [], holding: 0, peak: 0 }]));
    const assignedBy = new Map(); // chat -> agent ids that got "assigned" for it
    let serving = false;
    const work = new Map(agentIds.map((a) => [a, []]));
    const busy = new Set();
    const failures = [];
    const served = new Map(); // chat -> { reply: ack of the agent's reply, closed: ack of the close }
    let allServed;
    const allServedP = new Promise((resolve) => { allServed = resolve; });

    async function pump(aid, socket) {
      if (!serving || busy.has(aid)) return;
      busy.add(aid);
      try {
        for (let chat; (chat = work.get(aid).shift()) !== undefined;) {
          const reply = await say(socket, `answer to ${chat}`, { ticket_chat_id: chat, client_msg_id: `ans-${chat}` });
          if (reply.status_code !== 200) failures.push(`${aid} reply in ${chat}: ${JSON.stringify(reply)}`);
          const st = agentSeen.get(aid);
          st.holding--;
          const closed = await ack(socket, "close", { ticket_chat_id: chat }, ms(15000));
          if (closed.status_code !== 200) failures.push(`${aid} close of ${chat}: ${JSON.stringify(closed)}`);
          served.set(chat, { reply, closed });
          if (served.size === CUSTOMERS) allServed();
        }
      } catch (e) {
        failures.push(`${aid}: ${e.message}`);
      } finally {
        busy.delete(aid);
      }
    }

    const agentSetup = (aid) => (s) => {
      const st = agentSeen.get(aid);
      s.on("assigned", (p) => {
        st.assigned.push(p);
        if (!assignedBy.has(p.ticket_chat_id)) assignedBy.set(p.ticket_chat_id, []);
        else failures.push(`${p.ticket_chat_id} assigned again, to ${aid}, after ${assignedBy.get(p.ticket_chat_id)}`);
        assignedBy.get(p.ticket_chat_id).push(aid);
        if (p.agent?.id !== aid) failures.push(`${aid} got "assigned" naming ${JSON.stringify(p.agent)}`);
        st.holding++;
        st.peak = Math.max(st.peak, st.holding);
        if (st.holding > MAX) failures.push(`${aid} holds ${st.holding} conversations`);
        work.get(aid).push(p.ticket_chat_id);
        pump(aid, s);
      });
      s.on("support", (p) => st.support.push(p));
      s.on("closed", (p) => st.closed.push(p));
    };
    const custSeen = new Map(sessionIds.map((sid) => [sid, null]));

    // Everyone connects at once: agent i on node i % 3, customer i on node (i + 1) % 3.
    const t0 = Date.now();
    const [agentSockets, customerSockets] = await Promise.all([
      Promise.all(agentIds.map((aid, i) => connect(nodes[i % 3], agentToken(aid, DEPT, MAX), agentSetup(aid)))),
      Promise.all(sessionIds.map((sid, i) => connect(nodes[(i + 1) % 3], customerToken(sid, DEPT), (s) => {
        custSeen.set(sid, recorder(s, ["support", "assigned", "closed", "inquiry"]));
      }))),
    ]);
    const tConnected = Date.now();

    // Every customer opens its conversation at once.
    const firsts = await Promise.all(customerSockets.map((c, i) =>
      say(c, `question ${i}`, { client_msg_id: `q-${i}` })));
    for (const [i, r] of firsts.entries()) {
      assert.equal(r.status_code, 200, `customer ${i}: ${JSON.stringify(r)}`);
      assertMessage(r.data, { seq: 1, message: `question ${i}`, senderType: "customer" });
      assert.equal(r.data.session_id, sessionIds[i]);
    }
    const chats = firsts.map((r) => r.data.ticket_chat_id);
    const chatSet = new Set(chats);
    assert.equal(chatSet.size, CUSTOMERS, "one new conversation per customer");
    const sessionOf = new Map(chats.map((c, i) => [c, sessionIds[i]]));

    // 30 agents x 3 slots: exactly 90 assignments, then nothing more.
    for (const end = Date.now() + ms(20000); assignedBy.size < AGENTS * MAX && !failures.length && Date.now() < end;) await sleep(50);
    assert.deepEqual(failures, []);
    assert.ok(assignedBy.size >= AGENTS * MAX, `assigned within ${ms(20000)} ms: ${assignedBy.size}`);
    await sleep(ms(1500));
    const tAssigned = Date.now();
    assert.deepEqual(failures, []);
    assert.equal(assignedBy.size, AGENTS * MAX, "no assignment beyond the free slots");
    for (const [chat, who] of assignedBy) assert.equal(who.length, 1, `${chat} assigned to ${who}`);
    for (const [aid, st] of agentSeen) {
      assert.equal(st.assigned.length, MAX, `${aid} holds ${st.assigned.length}`);
      assert.ok(st.peak <= MAX, `${aid} peaked at ${st.peak}`);
    }
    const assignedChats = new Set(assignedBy.keys());
    for (const chat of assignedChats) assert.ok(chatSet.has(chat), `assigned an unknown conversation ${chat}`);

    // The store's own record agrees: 90 "assigned" entries, one per conversation, the same agents.
    let evs = await eventsOf(chatSet);
    const asgEvents = evs.filter((e) => e.type === "assigned");
    assert.equal(asgEvents.length, AGENTS * MAX);
    assert.deepEqual(new Set(asgEvents.map(chatOf)), assignedChats);
    for (const e of asgEvents) assert.deepEqual([e.data.agent.id], assignedBy.get(chatOf(e)), `hd:events and the sockets disagree on ${chatOf(e)}`);

    // FIFO: the queue holds the 110 newest conversations, oldest first, on every node.
    const created = evs.filter((e) => e.type === "message" && e.data.seq === 1).map(chatOf);
    assert.equal(created.length, CUSTOMERS, "one seq-1 message per conversation in hd:events");
    const expectQueue = created.slice(AGENTS * MAX);
    assert.deepEqual(new Set(created.slice(0, AGENTS * MAX)), assignedChats, "the 90 oldest were assigned");
    for (const node of nodes) {
      const q = await rest(node, "/inquiries/");
      assert.equal(q.status, 200);
      const ours = q.body.data.filter((i) => chatSet.has(i.ticket_chat_id));
      assert.equal(ours.length, CUSTOMERS - AGENTS * MAX, `${node.nodeId}: queue length`);
      assert.deepEqual(ours.map((i) => i.ticket_chat_id), expectQueue, `${node.nodeId}: the queue, oldest first`);
      for (const inq of ours) {
        assert.equal(inq.dept, DEPT);
        assert.equal(inq.session_id, sessionOf.get(inq.ticket_chat_id));
        assert.equal(inq.first_message.seq, 1);
        assert.equal(inq.first_message.client_msg_id, `q-${sessionIds.indexOf(inq.session_id)}`);
      }
    }

    // The agents serve: a reply then a close per conversation; freed slots take the queue.
    serving = true;
    agentIds.forEach((aid, i) => pump(aid, agentSockets[i]));
    const finished = await Promise.race([allServedP.then(() => true), deadline(ms(60000), false)]);
    assert.ok(finished, `only ${served.size}/${CUSTOMERS} served within ${ms(60000)} ms: ${failures.slice(0, 5)}`);
    const tServed = Date.now();
    assert.deepEqual(failures, []);
    await sleep(ms(1000)); // late or duplicate deliveries would land now

    assert.equal(assignedBy.size, CUSTOMERS, "every conversation was assigned");
    for (const [chat, who] of assignedBy) assert.equal(who.length, 1, `${chat} assigned to ${who}`);
    for (const [aid, st] of agentSeen) {
      assert.ok(st.peak <= MAX, `${aid} held ${st.peak} at once`);
      assert.equal(st.holding, 0);
      const mine = st.assigned.map((p) => p.ticket_chat_id);
      assert.equal(new Set(mine).size, mine.length, `${aid} got an "assigned" twice`);
      // Per conversation: the customer's question (live, or with the assignment from the
      // queue) and its own reply, once each, question first; one "closed" per conversation.
      for (const p of st.assigned) assert.equal(p.last_seq, 1, `${aid}: last_seq in ${p.ticket_chat_id}`);
      const deliveries = st.support.map((p) => `${p.data.ticket_chat_id}#${p.data.seq}`);
      assert.equal(new Set(deliveries).size, deliveries.length, `${aid}: a support delivery twice: ${deliveries}`);
      assert.deepEqual([...deliveries].sort(), mine.flatMap((c) => [`${c}#1`, `${c}#2`]).sort(), `${aid}: questions and replies`);
      for (const c of mine) assert.ok(deliveries.indexOf(`${c}#1`) < deliveries.indexOf(`${c}#2`), `${aid}: ${c} in seq order`);
      assert.deepEqual(st.closed.map((p) => p.ticket_chat_id).sort(), [...mine].sort(), `${aid}: closed deliveries`);
      for (const p of st.closed) assert.deepEqual(p, { ticket_chat_id: p.ticket_chat_id, by: "agent", reason: "agent" });
    }
    // Each customer: its question and the answer once each, one "assigned" naming the agent
    // the store chose, one "closed".
    for (const [i, sid] of sessionIds.entries()) {
      const got = custSeen.get(sid), chat = chats[i];
      const reply = served.get(chat).reply;
      assert.deepEqual(got.support, [{ status_code: 200, data: firsts[i].data }, { status_code: 200, data: reply.data }], `${sid}: support deliveries`);
      assert.deepEqual(got.assigned, [{ ticket_chat_id: chat, agent: { id: assignedBy.get(chat)[0], name: `Agent ${assignedBy.get(chat)[0]}` } }], `${sid}: assigned`);
      assert.deepEqual(got.closed, [{ ticket_chat_id: chat, by: "agent", reason: "agent" }], `${sid}: closed`);
      assert.deepEqual(got.inquiry, [], "customers do not hear inquiries");
      assert.equal(reply.data.seq, 2);
      assert.equal(reply.data.sender.id, assignedBy.get(chat)[0]);
    }

    // History (REST, from any node) and hd:events: every acknowledged message exactly once,
    // seq 1..n in order per conversation.
    const histories = await limited(20, chats.map((chat, i) => () => rest(nodes[i % 3], `/conversations/${chat}/messages/?after_seq=0&limit=50`)));
    for (const [i, h] of histories.entries()) {
      assert.equal(h.status, 200);
      assert.deepEqual(h.body.data, [firsts[i].data, served.get(chats[i]).reply.data], `history of ${chats[i]}`);
    }
    evs = await eventsOf(chatSet);
    const perChat = new Map(chats.map((c) => [c, []]));
    for (const e of evs) perChat.get(chatOf(e)).push(e);
    for (const [i, chat] of chats.entries()) {
      // "queued" (v1.1) comes right after the first message when nobody took it in the same step
      const all = perChat.get(chat);
      if (all[1]?.type === "queued") assert.equal(all[1].data.ticket_chat_id, chat);
      const list = all.filter((e, k) => !(k === 1 && e.type === "queued"));
      assert.deepEqual(list.map((e) => e.type), ["message", "assigned", "message", "closed"], `hd:events of ${chat}`);
      assert.deepEqual(list.filter((e) => e.type === "message").map((e) => e.data), [firsts[i].data, served.get(chat).reply.data]);
      assert.equal(list[1].data.agent.id, assignedBy.get(chat)[0]);
      assert.equal(list[3].data.status, "closed");
    }
    // Replaying the stream: no agent above max_chats at any point of the store's history.
    const load = new Map();
    for (const e of evs) {
      if (e.type === "assigned") {
        const a = e.data.agent.id;
        load.set(a, (load.get(a) ?? 0) + 1);
        assert.ok(load.get(a) <= MAX, `${a} had ${load.get(a)} open conversations at ${e.id}`);
      } else if (e.type === "closed") {
        load.set(e.data.agent.id, load.get(e.data.agent.id) - 1);
      }
    }
    const q = await rest(nodes[2], "/inquiries/");
    assert.deepEqual(q.body.data.filter((i) => chatSet.has(i.ticket_chat_id)), [], "the queue drained");
    for (const n of nodes) n.assertAlive();
    console.log(`# load: connect ${tConnected - t0} ms, 90 assigned ${tAssigned - tConnected} ms (incl. 1.5 s quiet), all served ${tServed - tAssigned} ms`);
  });

// ---------- (b) parties on different nodes ----------

test("customer on node 1, agent on node 2, transfer to node 3: messages, typing, read, assigned and closed cross nodes",
  bounded(30000), async () => {
    const [n1, n2, n3] = cluster.nodes;
    const DEPT = "xnode";
    const A = await connect(n2, agentToken("xn-a", DEPT));
    const aGot = recorder(A, ["support", "assigned", "closed", "typing", "read", "inquiry"]);
    const C = await connect(n1, customerToken("xn-s", DEPT));
    const cGot = recorder(C, ["support", "assigned", "closed", "typing", "read"]);
    const C2 = await connect(n3, customerToken("xn-s", DEPT)); // the customer's second device
    const c2Got = recorder(C2, ["support", "assigned", "closed"]);

    const aAssigned = waitEvent(A, "assigned", ms(5000));
    const cAssigned = waitEvent(C, "assigned", ms(5000));
    const first = await send(C, "hello from node 1", { client_msg_id: "xn-1" });
    assert.equal(first.status_code, 200);
    const chat = first.data.ticket_chat_id;
    const asgA = { ticket_chat_id: chat, agent: { id: "xn-a", name: "Agent xn-a" } };
    assert.deepEqual((await aAssigned)[0], agentCopy(chat, "xn-a", "xn-s", 1));
    assert.deepEqual((await cAssigned)[0], asgA);
    await eventually(() => assert.equal(c2Got.support.length, 1, "the second device (node 3) sees the first message"));
    assert.equal(aGot.inquiry.length, 1, "the agent heard the inquiry once");
    assert.equal(aGot.inquiry[0].ticket_chat_id, chat);

    // Agent (node 2) -> customer (node 1) and back.
    let onC = waitEvent(C, "support"), onC2 = waitEvent(C2, "support");
    const r1 = await send(A, "hello from node 2", { ticket_chat_id: chat, client_msg_id: "xn-a1" });
    assert.equal(r1.status_code, 200);
    assertMessage(r1.data, { seq: 2, senderType: "agent", chat });
    assert.deepEqual((await onC)[0], { status_code: 200, data: r1.data });
    assert.deepEqual((await onC2)[0], { status_code: 200, data: r1.data });
    let onA = nextSupport(A, notFirst);
    const m2 = await send(C, "thanks", { client_msg_id: "xn-2" });
    assert.equal(m2.data.seq, 3);
    assert.equal(m2.data.ticket_chat_id, chat, "the open conversation");
    assert.deepEqual((await onA)[0], { status_code: 200, data: m2.data });

    // typing: to the room but the sender's own sockets; read: to the whole room.
    const cTyping = waitEvent(C, "typing"), c2Typing = waitEvent(C2, "typing");
    A.emit("typing", { ticket_chat_id: chat, typing: true });
    assert.deepEqual((await cTyping)[0], { ticket_chat_id: chat, typing: true });
    assert.deepEqual((await c2Typing)[0], { ticket_chat_id: chat, typing: true });
    const aTyping = waitEvent(A, "typing");
    assert.equal((await ack(C, "typing", { ticket_chat_id: chat, typing: false })).status_code, 200);
    assert.deepEqual((await aTyping)[0], { ticket_chat_id: chat, typing: false });
    const aRead = waitEvent(A, "read"), cRead = waitEvent(C, "read");
    assert.equal((await ack(C, "read", { ticket_chat_id: chat, seq: 2 })).status_code, 200);
    // by: which side read, so the customer's own devices and the agent can tell
    const by = { type: "customer", id: "xn-s" };
    assert.deepEqual((await aRead)[0], { ticket_chat_id: chat, seq: 2, by });
    assert.deepEqual((await cRead)[0], { ticket_chat_id: chat, seq: 2, by });

    // Transfer to an agent on node 3.
    const B = await connect(n3, agentToken("xn-b", DEPT));
    const bGot = recorder(B, ["support", "assigned", "closed", "typing"]);
    await sleep(ms(300)); // B's presence reaches the store
    const bAssigned = waitEvent(B, "assigned"), cAssigned2 = waitEvent(C, "assigned");
    const t = await ack(A, "transfer", { ticket_chat_id: chat, agent_id: "xn-b" });
    assert.equal(t.status_code, 200, JSON.stringify(t));
    const asgB = { ticket_chat_id: chat, agent: { id: "xn-b", name: "Agent xn-b" } };
    assert.deepEqual((await bAssigned)[0], agentCopy(chat, "xn-b", "xn-s", 3));
    assert.deepEqual((await cAssigned2)[0], asgB);

    const aBefore = { support: aGot.support.length, closed: aGot.closed.length, typing: aGot.typing.length };
    onC = waitEvent(C, "support");
    const r2 = await send(B, "hello from node 3", { ticket_chat_id: chat, client_msg_id: "xn-b1" });
    assert.equal(r2.status_code, 200);
    assert.equal(r2.data.seq, 4);
    assert.deepEqual((await onC)[0], { status_code: 200, data: r2.data });
    const denied = await send(A, "still mine?", { ticket_chat_id: chat, client_msg_id: "xn-a2" });
    assert.equal(denied.status_code, 403, "the previous agent may not write any more");
    assert.equal(denied.client_msg_id, "xn-a2");
    assert.deepEqual(aGot.support.pop(), denied, "the failure goes to the sender as the event too");
    const onB = nextSupport(B, notFirst);
    const m3 = await send(C, "hi B", { client_msg_id: "xn-3" });
    assert.equal(m3.data.seq, 5);
    assert.deepEqual((await onB)[0], { status_code: 200, data: m3.data });
    const cTyping2 = waitEvent(C, "typing");
    B.emit("typing", { ticket_chat_id: chat, typing: true });
    await cTyping2;

    // B closes: "closed" on nodes 1 and 3, nothing for A.
    const cClosed = waitEvent(C, "closed"), c2Closed = waitEvent(C2, "closed"), bClosed = waitEvent(B, "closed");
    const cl = await ack(B, "close", { ticket_chat_id: chat });
    assert.equal(cl.status_code, 200);
    const closed = { ticket_chat_id: chat, by: "agent", reason: "agent" };
    for (const p of [cClosed, c2Closed, bClosed]) assert.deepEqual((await p)[0], closed);
    await sleep(ms(500));
    assert.deepEqual({ support: aGot.support.length, closed: aGot.closed.length, typing: aGot.typing.length }, aBefore,
      "the agent transferred away hears nothing of the conversation");
    assert.equal(aGot.assigned.length, 1);

    // Every delivery exactly once.
    const all = [first, r1, m2, r2, m3].map((r) => r.data);
    assert.deepEqual(cGot.support.map((p) => p.data), all, "customer device 1");
    assert.deepEqual(c2Got.support.map((p) => p.data), all, "customer device 2");
    assert.deepEqual(aGot.support.map((p) => p.data), [first.data, r1.data, m2.data],
      "agent A until the transfer, the first message included (assigned with it, v1.1)");
    assert.deepEqual(bGot.support.map((p) => p.data), all, "agent B: the backlog with the transfer, then live");
    assert.deepEqual(cGot.assigned, [asgA, asgB]);
    assert.deepEqual(c2Got.assigned, [asgA, asgB]);
    assert.deepEqual(bGot.assigned, [agentCopy(chat, "xn-b", "xn-s", 3)]);
    assert.deepEqual(cGot.closed, [closed]);
    assert.deepEqual(bGot.closed, [closed]);

    const h = await ack(C2, "history", { ticket_chat_id: chat, after_seq: 0 });
    assert.equal(h.status_code, 200);
    assert.deepEqual(h.data, all);
    const evs = await eventsOf(new Set([chat]));
    assert.deepEqual(evs.map((e) => e.type), ["message", "assigned", "message", "message", "transferred", "message", "message", "closed"]);
    assert.deepEqual(evs.filter((e) => e.type === "message").map((e) => e.data), all);
    const tr = evs.find((e) => e.type === "transferred").data;
    assert.equal(tr.previous_agent, "xn-a");
    assert.deepEqual(tr.agent, { id: "xn-b", name: "Agent xn-b" });
  });

// ---------- (c) the backend ----------

test("hd:commands and REST reach parties on other nodes, each message stored and delivered once", bounded(40000), async () => {
  const [n1, n2, n3] = cluster.nodes;
  const DEPT = "backend";
  const A = await connect(n2, agentToken("be-a", DEPT));
  const aGot = recorder(A, ["support", "closed"]);
  const C = await connect(n1, customerToken("be-s", DEPT));
  const cGot = recorder(C, ["support", "closed"]);
  const assigned = waitEvent(A, "assigned");
  const first = await send(C, "I need the bot", { client_msg_id: "be-1" });
  const chat = first.data.ticket_chat_id;
  await assigned;

  // One command: delivered to the customer (node 1) and the agent (node 2).
  const bot = { type: "bot", id: "orders", name: "Orders" };
  let onC = waitEvent(C, "support", ms(10000)), onA = nextSupport(A, notFirst, ms(10000));
  await xadd("message", { ticket_chat_id: chat, message: "bot says hi", attachment: false, sender: bot, client_msg_id: "cmd-0" });
  const [[cFirst], [aFirst]] = await Promise.all([onC, onA]);
  assert.equal(cFirst.status_code, 200);
  assertMessage(cFirst.data, { seq: 2, message: "bot says hi", senderType: "bot", chat });
  assert.deepEqual(cFirst.data.sender, bot);
  assert.equal(cFirst.data.client_msg_id, "cmd-0");
  assert.deepEqual(aFirst, cFirst);

  // 20 more, each XADDed twice (same client_msg_id), one at a time so that the entries
  // spread over the three nodes' consumers and the two copies of one message can be
  // handled by two nodes at the same time.
  const inBefore = await Promise.all(cluster.nodes.map((n) => metric(n, "switchboard_messages_in_total")));
  const N = 20;
  for (let i = 1; i <= N; i++) {
    const data = { ticket_chat_id: chat, message: `bot line ${i}`, attachment: false, sender: bot, client_msg_id: `cmd-${i}` };
    await xadd("message", data);
    await xadd("message", data);
  }
  await eventually(() => assert.ok(cGot.support.length >= 2 + N, `customer deliveries: ${cGot.support.length}`), { timeoutMs: ms(15000) });
  await eventually(async () => {
    const [count] = await cluster.db.sendCommand(["XPENDING", "hd:commands", "switchboard"]);
    assert.equal(count, 0, "every command acked");
  }, { timeoutMs: ms(10000) });
  await sleep(ms(500));
  const inAfter = await Promise.all(cluster.nodes.map((n) => metric(n, "switchboard_messages_in_total")));
  const handled = inAfter.map((v, i) => v - inBefore[i]);
  assert.equal(handled.reduce((a, b) => a + b, 0), 2 * N, `every entry handled once by some node (${handled})`);
  assert.ok(handled.filter((n) => n > 0).length >= 2, `the entries were spread over nodes: ${handled}`);

  // Each message once. Not necessarily in seq order: two nodes that stored seq 13 and 14 a
  // moment apart publish them independently, so a client orders by seq.
  const bySeq = (list) => list.map((p) => p.data.seq).sort((x, y) => x - y);
  const expectSeqs = Array.from({ length: 2 + N }, (_, i) => i + 1);
  assert.deepEqual(bySeq(cGot.support), expectSeqs, "customer: each message once");
  assert.deepEqual(bySeq(aGot.support), expectSeqs, "agent: each message once, the first included");
  const inSeqOrder = (list) => [...list].sort((x, y) => x.data.seq - y.data.seq);
  cGot.support = inSeqOrder(cGot.support);
  aGot.support = inSeqOrder(aGot.support);
  assert.deepEqual(cGot.support.slice(2).map((p) => p.data.client_msg_id).sort(), Array.from({ length: N }, (_, i) => `cmd-${i + 1}`).sort());
  assert.deepEqual(aGot.support.map((p) => p.data), cGot.support.map((p) => p.data));

  // REST on node 3, parties on nodes 1 and 2; the retry is answered and not delivered.
  onC = waitEvent(C, "support"); onA = nextSupport(A, notFirst);
  const body = { message: "posted on node 3", attachment: false, sender: { type: "system", id: "crm", name: "CRM" }, client_msg_id: "rest-1" };
  const posted = await rest(n3, `/conversations/${chat}/messages/`, { method: "POST", body });
  assert.equal(posted.status, 201);
  assertMessage(posted.body.data, { seq: N + 3, senderType: "system", chat });
  assert.deepEqual((await onC)[0].data, posted.body.data);
  assert.deepEqual((await onA)[0].data, posted.body.data);
  const quietC = expectNoEvent(C, "support", ms(500)), quietA = expectNoEvent(A, "support", ms(500));
  const again = await rest(n2, `/conversations/${chat}/messages/`, { method: "POST", body });
  assert.equal(again.status, 200);
  assert.deepEqual(again.body.data, posted.body.data);
  await quietC;
  await quietA;

  // Stored once: history and hd:events hold seq 1..N+3, each message once.
  const h = await rest(n1, `/conversations/${chat}/messages/?after_seq=0&limit=200`);
  assert.deepEqual(h.body.data, cGot.support.map((p) => p.data));
  const msgs = (await eventsOf(new Set([chat]))).filter((e) => e.type === "message").map((e) => e.data);
  assert.deepEqual(msgs, h.body.data, "hd:events: every stored message once, in seq order");

  // A close command closes it for both.
  const cClosed = waitEvent(C, "closed", ms(10000)), aClosed = waitEvent(A, "closed", ms(10000));
  await xadd("close", { ticket_chat_id: chat });
  const closed = { ticket_chat_id: chat, by: "backend", reason: "backend" };
  assert.deepEqual((await cClosed)[0], closed);
  assert.deepEqual((await aClosed)[0], closed);
  const late = await send(A, "after the close", { ticket_chat_id: chat });
  assert.equal(late.status_code, 409);
  const evs = await eventsOf(new Set([chat]));
  assert.deepEqual(evs.filter((e) => e.type === "closed").length, 1);
  assert.equal(evs.at(-1).type, "closed");
});
