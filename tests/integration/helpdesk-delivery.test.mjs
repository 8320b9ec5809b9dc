// Nothing acknowledged is missed (contract v1.1, §1, §3, §4), on one node: the embedded
// store and (the ".redis" ctest entry) the Redis store alike.
//
// - The backlog comes with a later assignment: an agent who gets a queued conversation gets
//   "assigned" (its copy with customer and last_seq) and then the messages so far, in seq
//   order, the last 50 at most.
// - Resume: a client that reconnects with auth.resume gets every later message of the
//   conversations it names and may read, in seq order, once; nothing of anyone else's.
// - No repeats in normal operation: each message reaches each party once.

import { describe, test, afterEach } from "node:test";
import assert from "node:assert/strict";
import { sleep, ms, bounded, waitEvent } from "./helpers.mjs";
import { eventually } from "./cluster-helpers.mjs";
import { useHelpdesk, customer, agent, hdClient, online, closeHdClients, ack, send, jwt } from "./helpdesk-helpers.mjs";

afterEach(() => closeHdClients());

// Every successful support a socket gets, in arrival order.
function supports(socket) {
  const got = [];
  socket.on("support", (p) => p.status_code === 200 && got.push(p.data));
  return got;
}

const customerToken = (sub) => jwt({ sub, role: "customer", name: `Customer ${sub}` });
const agentToken = (sub) => jwt({ sub, role: "agent", name: `Agent ${sub}` });

describe("delivery: backlog and resume", () => {
  const srv = useHelpdesk({ args: ["--rate-limit", "0"] });

  test("a conversation queued before any agent: the agent assigned later gets assigned, then the messages so far, then live ones", bounded(20000), async () => {
    const c = await customer(srv, "bk-s1");
    const first = await send(c, "one", { client_msg_id: "bk-1" });
    const chat = first.data.ticket_chat_id;
    const second = await send(c, "two", { client_msg_id: "bk-2" });
    const third = await send(c, "three", { client_msg_id: "bk-3" });
    const a = hdClient(srv, agentToken("bk-a1"));
    const order = [];
    a.on("assigned", (p) => order.push(["assigned", p]));
    a.on("support", (p) => order.push(["support", p.data]));
    await online(a);
    await eventually(() => assert.ok(order.length >= 4, `got ${order.length} events`));
    assert.deepEqual(order[0], ["assigned", {
      ticket_chat_id: chat, agent: { id: "bk-a1", name: "Agent bk-a1" },
      customer: { session_id: "bk-s1", name: "Customer bk-s1", email: null, fields: null }, last_seq: 3,
    }]);
    assert.deepEqual(order.slice(1).map(([, m]) => m), [first.data, second.data, third.data]);
    const live = await send(c, "four");
    await eventually(() => assert.equal(order.length, 5));
    assert.deepEqual(order[4], ["support", live.data]);
    await sleep(ms(300));
    assert.equal(order.length, 5, "each message once");
  });

  test("the backlog is the last 50 messages; older ones come from history", bounded(30000), async () => {
    const c = await customer(srv, "bk-s2");
    const sent = [];
    for (let i = 1; i <= 55; i++) sent.push((await send(c, `m${i}`)).data);
    const a = hdClient(srv, agentToken("bk-a2"));
    const got = supports(a);
    const assigned = waitEvent(a, "assigned");
    await online(a);
    assert.equal((await assigned)[0].last_seq, 55);
    await eventually(() => assert.equal(got.length, 50));
    assert.deepEqual(got, sent.slice(5));
    const h = await ack(a, "history", { ticket_chat_id: sent[0].ticket_chat_id, after_seq: 0, limit: 5 });
    assert.deepEqual(h.data, sent.slice(0, 5));
  });

  test("resume: a customer that reconnects gets what it missed, in seq order, once", bounded(20000), async () => {
    const a = await agent(srv, "rs-a1");
    const c = await customer(srv, "rs-s1");
    const first = await send(c, "hello", { client_msg_id: "rs-1" });
    const chat = first.data.ticket_chat_id;
    const reply = await send(a, "hi", { ticket_chat_id: chat });
    c.close();
    const missed = [];
    for (let i = 0; i < 3; i++) missed.push((await send(a, `while you were away ${i}`, { ticket_chat_id: chat })).data);
    const back = hdClient(srv, undefined, { auth: { token: customerToken("rs-s1"), resume: { [chat]: reply.data.seq } } });
    const got = supports(back);
    await online(back);
    await eventually(() => assert.equal(got.length, 3));
    assert.deepEqual(got, missed);
    const live = await send(a, "and now live", { ticket_chat_id: chat });
    await eventually(() => assert.equal(got.length, 4));
    assert.deepEqual(got[3], live.data);
    await sleep(ms(300));
    assert.equal(got.length, 4, "nothing twice");
  });

  test("resume: an agent that reconnects gets what it missed", bounded(20000), async () => {
    const a = await agent(srv, "rs-a2");
    const c = await customer(srv, "rs-s2");
    const first = await send(c, "question");
    const chat = first.data.ticket_chat_id;
    await eventually(async () => assert.equal((await ack(a, "history", { ticket_chat_id: chat })).status_code, 200));
    a.close();
    const missed = [(await send(c, "are you there?")).data, (await send(c, "hello?")).data];
    const back = hdClient(srv, undefined, { auth: { token: agentToken("rs-a2"), resume: { [chat]: 1 } } });
    const got = supports(back);
    await online(back);
    await eventually(() => assert.equal(got.length, 2));
    assert.deepEqual(got, missed);
  });

  test("resume: a closed conversation's last messages; someone else's conversation gives nothing", bounded(20000), async () => {
    const a = await agent(srv, "rs-a3");
    const c = await customer(srv, "rs-s3");
    const first = await send(c, "question");
    const chat = first.data.ticket_chat_id;
    c.close();
    await eventually(async () => assert.equal((await send(a, "answer", { ticket_chat_id: chat })).status_code, 200));
    assert.equal((await ack(a, "close", { ticket_chat_id: chat })).status_code, 200);
    const back = hdClient(srv, undefined, { auth: { token: customerToken("rs-s3"), resume: { [chat]: 1 } } });
    const got = supports(back);
    await online(back);
    await eventually(() => assert.equal(got.length, 1));
    assert.equal(got[0].message, "answer");
    assert.equal(got[0].seq, 2);

    const other = hdClient(srv, undefined, { auth: { token: customerToken("rs-other"), resume: { [chat]: 0 } } });
    const leaked = supports(other);
    await online(other);
    await sleep(ms(500));
    assert.deepEqual(leaked, [], "nothing of another session's conversation");
  });

  test("a malformed resume is ignored and the connection accepted", bounded(10000), async () => {
    for (const resume of ["c_x", [1, 2], { c_x: -1 }, { c_x: "3" }, { "": 1 }, Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`c_${i}`, 0]))]) {
      const s = hdClient(srv, undefined, { auth: { token: customerToken("rs-bad"), resume } });
      await online(s);
      s.close();
    }
  });
});
