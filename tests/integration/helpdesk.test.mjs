// The helpdesk namespace in the embedded mode (one node, state in memory): the whole flow
// of ../shared/spec/helpdesk.md with its exact payload shapes, routing, and the REST side.

import { describe, test, afterEach } from "node:test";
import assert from "node:assert/strict";
import { waitEvent, expectNoEvent, sleep, ms, bounded } from "./helpers.mjs";
import { eventually } from "./cluster-helpers.mjs";
import {
  useHelpdesk, customer, agent, supervisor, closeHdClients, ack, send, rest, assertMessage, TEST_API_KEY, jwt,
} from "./helpdesk-helpers.mjs";

afterEach(() => closeHdClients());

describe("auto routing: the whole flow", () => {
  const srv = useHelpdesk();

  test("customer, agent, bot, transfer, close, history and REST, with the contract's shapes", bounded(30000), async () => {
    const a1 = await agent(srv, "flow-a1");
    const inquiry = waitEvent(a1, "inquiry");
    const assigned = waitEvent(a1, "assigned");
    const a1Support = [];
    a1.on("support", (p) => p.status_code === 200 && a1Support.push(p.data));
    const c = await customer(srv, "flow-s1");
    const echoed = waitEvent(c, "support");

    const first = await send(c, "hello, my order is late", { session_id: "flow-s1", client_msg_id: "m-1" });
    assert.equal(first.status_code, 200);
    assertMessage(first.data, { seq: 1, message: "hello, my order is late", senderType: "customer" });
    assert.deepEqual(first.data.sender, { type: "customer", id: "flow-s1", name: "Customer flow-s1" });
    assert.equal(first.data.session_id, "flow-s1");
    assert.equal(first.data.attachment, false);
    assert.equal(first.data.client_msg_id, "m-1");
    const chat = first.data.ticket_chat_id;
    assert.match(chat, /^c_/);
    const [confirmed] = await echoed;
    assert.deepEqual(confirmed, { status_code: 200, data: first.data }, "the sender's socket sees it in the chat room");

    const [inq] = await inquiry;
    assert.deepEqual(Object.keys(inq).sort(), ["customer", "dept", "first_message", "queued_at", "session_id", "ticket_chat_id"]);
    assert.deepEqual(inq.customer, { session_id: "flow-s1", name: "Customer flow-s1", email: null, fields: null });
    assert.equal(inq.ticket_chat_id, chat);
    assert.deepEqual(inq.first_message, first.data);
    const [asg] = await assigned;
    assert.deepEqual(asg, {
      ticket_chat_id: chat, agent: { id: "flow-a1", name: "Agent flow-a1" },
      customer: { session_id: "flow-s1", name: "Customer flow-s1", email: null, fields: null }, last_seq: 1,
    }, "the agent's copy of assigned has the customer and last_seq");
    // The agent was free: the conversation was assigned with its first message, which the
    // agent gets once.
    await eventually(() => assert.ok(a1Support.length >= 1, "the first message at the agent"));
    await sleep(ms(200));
    assert.deepEqual(a1Support, [first.data]);

    // The agent answers; both sides get it with the next seq.
    const custGets = waitEvent(c, "support");
    const reply = await send(a1, "sorry, let me check", { ticket_chat_id: chat, client_msg_id: "r-1" });
    assert.equal(reply.status_code, 200);
    assertMessage(reply.data, { seq: 2, senderType: "agent", chat });
    assert.equal(reply.data.session_id, "flow-s1");
    assert.deepEqual((await custGets)[0].data, reply.data);

    // typing: to the room but the sender; read: to the room.
    const typing = waitEvent(c, "typing");
    const noSelfTyping = expectNoEvent(a1, "typing", ms(300));
    a1.emit("typing", { ticket_chat_id: chat, typing: true });
    assert.deepEqual((await typing)[0], { ticket_chat_id: chat, typing: true });
    await noSelfTyping;
    const readA = waitEvent(a1, "read"), readC = waitEvent(c, "read");
    c.emit("read", { ticket_chat_id: chat, seq: 2 });
    const readBy = { ticket_chat_id: chat, seq: 2, by: { type: "customer", id: "flow-s1" } };
    assert.deepEqual((await readA)[0], readBy);
    assert.deepEqual((await readC)[0], readBy);

    // The backend speaks into the conversation over REST, idempotently.
    const botToCustomer = waitEvent(c, "support");
    const bot = { message: "I am the order bot", attachment: false, sender: { type: "bot", id: "orders", name: "Orders" }, client_msg_id: "b-1" };
    let r = await rest(srv, `/conversations/${chat}/messages/`, { method: "POST", body: bot });
    assert.equal(r.status, 201);
    assertMessage(r.body.data, { seq: 3, senderType: "bot", chat });
    assert.deepEqual((await botToCustomer)[0].data, r.body.data);
    const noDuplicate = expectNoEvent(c, "support", ms(300));
    const again = await rest(srv, `/conversations/${chat}/messages/`, { method: "POST", body: bot });
    assert.equal(again.status, 200);
    assert.deepEqual(again.body.data, r.body.data, "the stored message again");
    await noDuplicate;

    // Transfer to a second agent: it is assigned; the first agent leaves the chat room.
    const a2 = await agent(srv, "flow-a2");
    const a2assigned = waitEvent(a2, "assigned");
    const custSeesA2 = waitEvent(c, "assigned");
    const a2Support = [];
    a2.on("support", (p) => p.status_code === 200 && a2Support.push(p.data.seq));
    const a1Moved = waitEvent(a1, "transferred"), custMoved = waitEvent(c, "transferred");
    const t = await ack(a1, "transfer", { ticket_chat_id: chat, agent_id: "flow-a2" });
    assert.equal(t.status_code, 200);
    // transferred: the previous agent and the chat room hear who moved to whom
    const moved = { ticket_chat_id: chat, from: "flow-a1", agent: { id: "flow-a2", name: "Agent flow-a2" }, dept: null };
    assert.deepEqual((await a1Moved)[0], moved);
    assert.deepEqual((await custMoved)[0], moved);
    assert.deepEqual((await a2assigned)[0], {
      ticket_chat_id: chat, agent: { id: "flow-a2", name: "Agent flow-a2" },
      customer: { session_id: "flow-s1", name: "Customer flow-s1", email: null, fields: null }, last_seq: 3,
    });
    assert.deepEqual((await custSeesA2)[0], { ticket_chat_id: chat, agent: { id: "flow-a2", name: "Agent flow-a2" } });
    // The backlog comes with the assignment: the conversation so far, in seq order.
    await eventually(() => assert.ok(a2Support.length >= 3, "the backlog at the new agent"));
    assert.deepEqual(a2Support, [1, 2, 3]);
    const gone = await send(a1, "still here?", { ticket_chat_id: chat });
    assert.equal(gone.status_code, 403, "the previous agent may not write any more");
    const quiet = expectNoEvent(a1, "support", ms(300));
    await send(a2, "I take over", { ticket_chat_id: chat });
    await quiet;

    // History over the socket and over REST.
    const h = await ack(c, "history", { ticket_chat_id: chat, after_seq: 1, limit: 2 });
    assert.equal(h.status_code, 200);
    assert.deepEqual(h.data.map((m) => m.seq), [2, 3]);
    r = await rest(srv, `/conversations/${chat}/messages/?after_seq=0&limit=10`);
    assert.equal(r.status, 200);
    assert.deepEqual(r.body.data.map((m) => m.seq), [1, 2, 3, 4]);
    r = await rest(srv, `/customer/flow-s1/conversations/`);
    assert.equal(r.status, 200);
    assert.equal(r.body.data.length, 1);
    for (const k of ["ticket_chat_id", "status", "agent", "created_at", "last_message"]) assert.ok(k in r.body.data[0], k);
    assert.equal(r.body.data[0].status, "assigned");
    assert.equal(r.body.data[0].last_message.seq, 4);
    r = await rest(srv, `/customer/flow-s1/conversations/`, { token: jwt({ sub: "flow-s1", role: "customer" }) });
    assert.equal(r.status, 200, "a customer token reads its own session");

    // The customer closes: "closed" to the room; the conversation refuses messages; a new one starts.
    const closedA = waitEvent(a2, "closed"), closedC = waitEvent(c, "closed");
    const cl = await ack(c, "close", { ticket_chat_id: chat });
    assert.equal(cl.status_code, 200);
    for (const [ev] of [await closedA, await closedC]) assert.deepEqual(ev, { ticket_chat_id: chat, by: "customer", reason: "customer" });
    const late = await send(a2, "anyone?", { ticket_chat_id: chat });
    assert.equal(late.status_code, 409);
    assert.equal(late.error.code.length > 0, true);
    const fresh = await send(c, "another question", { client_msg_id: "m-2" });
    assert.equal(fresh.status_code, 200);
    assert.notEqual(fresh.data.ticket_chat_id, chat);
    assert.equal(fresh.data.seq, 1);
  });

  test("a customer's second device joins its open conversation and sees both sides", bounded(15000), async () => {
    const a = await agent(srv, "dev-a");
    const phone = await customer(srv, "dev-s");
    const first = await send(phone, "from the phone");
    const chat = first.data.ticket_chat_id;
    await sleep(ms(200));
    const laptop = await customer(srv, "dev-s");
    await sleep(ms(200));
    const onLaptop = waitEvent(laptop, "support");
    await send(a, "hello both", { ticket_chat_id: chat });
    assert.equal((await onLaptop)[0].data.message, "hello both");
  });

  test("the queue: an agent at max_chats gets the next conversation when it closes one", bounded(20000), async () => {
    const a = await agent(srv, "q-a", { max_chats: 1 });
    const assigned = [];
    a.on("assigned", (x) => assigned.push(x.ticket_chat_id));
    const c1 = await customer(srv, "q-s1"), c2 = await customer(srv, "q-s2");
    const chat1 = (await send(c1, "first")).data.ticket_chat_id;
    await sleep(ms(300));
    const chat2 = (await send(c2, "second")).data.ticket_chat_id;
    await sleep(ms(300));
    assert.deepEqual(assigned, [chat1], "one at a time");
    const q = await rest(srv, "/inquiries/");
    assert.equal(q.status, 200);
    assert.deepEqual(q.body.data.map((i) => i.ticket_chat_id), [chat2]);
    assert.equal(q.body.data[0].first_message.message, "second");
    const next = waitEvent(a, "assigned");
    assert.equal((await ack(a, "close", { ticket_chat_id: chat1 })).status_code, 200);
    assert.equal((await next)[0].ticket_chat_id, chat2);
    assert.deepEqual((await rest(srv, "/inquiries/")).body.data, []);
  });

  test("an away agent gets nothing new until it is online again", bounded(20000), async () => {
    const a = await agent(srv, "away-a");
    assert.equal((await ack(a, "status", { status: "away" })).status_code, 200);
    const quiet = expectNoEvent(a, "assigned", ms(400));
    const c = await customer(srv, "away-s");
    const chat = (await send(c, "anyone there?")).data.ticket_chat_id;
    await quiet;
    const assigned = waitEvent(a, "assigned");
    assert.equal((await ack(a, "status", { status: "online" })).status_code, 200);
    assert.equal((await assigned)[0].ticket_chat_id, chat);
  });

  test("least loaded first", bounded(20000), async () => {
    const a = await agent(srv, "ll-a", { dept: ["ll"] }), b = await agent(srv, "ll-b", { dept: ["ll"] });
    const got = { "ll-a": 0, "ll-b": 0 };
    for (const s of [a, b]) s.on("assigned", (x) => got[x.agent.id]++);
    for (let i = 0; i < 4; i++) {
      const c = await customer(srv, `ll-s${i}`, { dept: ["ll"] });
      await send(c, `q${i}`);
      await sleep(ms(100));
    }
    await sleep(ms(300));
    assert.deepEqual(got, { "ll-a": 2, "ll-b": 2 });
  });

  test("/metrics speaks Prometheus text with the helpdesk's series", bounded(10000), async () => {
    const { request } = await import("./helpers.mjs");
    const res = await request(srv.port, { path: "/metrics" });
    assert.equal(res.status, 200);
    for (const name of ["switchboard_connections", 'switchboard_sockets{namespace="/helpdesk"}', "switchboard_messages_in_total",
      "switchboard_messages_out_total", "switchboard_store_errors_total", "switchboard_routing_queue_length",
      "switchboard_support_ack_seconds_bucket", "switchboard_support_ack_seconds_count"]) {
      assert.ok(res.text.includes(name), `${name} missing`);
    }
  });
});

describe("manual routing", () => {
  const srv = useHelpdesk({ args: ["--routing", "manual"] });

  test("agents take from the queue; the second gets 409", bounded(15000), async () => {
    const a = await agent(srv, "m-a"), b = await agent(srv, "m-b");
    const inquiry = waitEvent(b, "inquiry");
    const c = await customer(srv, "m-s");
    const quiet = expectNoEvent(a, "assigned", ms(300));
    const chat = (await send(c, "help")).data.ticket_chat_id;
    await inquiry;
    await quiet;
    const custAssigned = waitEvent(c, "assigned");
    const backlogAtA = waitEvent(a, "support");
    const took = await ack(a, "take", { ticket_chat_id: chat });
    assert.equal(took.status_code, 200);
    assert.equal(took.data.ticket_chat_id, chat);
    assert.deepEqual(took.data.agent, { id: "m-a", name: "Agent m-a" });
    assert.deepEqual((await custAssigned)[0], { ticket_chat_id: chat, agent: { id: "m-a", name: "Agent m-a" } });
    const [backlog] = await backlogAtA;
    assert.equal(backlog.data.ticket_chat_id, chat, "the agent who took it gets its first message");
    assert.equal(backlog.data.seq, 1);
    const late = await ack(b, "take", { ticket_chat_id: chat });
    assert.equal(late.status_code, 409);
  });
});

describe("inactivity", () => {
  const srv = useHelpdesk({ args: ["--inactivity-timeout", "1"] });

  // v1.1: one that never had an agent closes "unanswered", not "inactive" (spec §4)
  test("a conversation with no message for the timeout closes, unanswered when it never had an agent", bounded(15000), async () => {
    const c = await customer(srv, "idle-s");
    const chat = (await send(c, "hello?")).data.ticket_chat_id;
    const [closed] = await waitEvent(c, "closed", ms(6000));
    assert.deepEqual(closed, { ticket_chat_id: chat, by: "system", reason: "unanswered" });
  });

  test("one that had an agent closes as inactive, for both parties", bounded(15000), async () => {
    const a = await agent(srv, "idle-a");
    const c = await customer(srv, "idle-s2");
    const assigned = waitEvent(a, "assigned", ms(5000));
    const chat = (await send(c, "anyone?")).data.ticket_chat_id;
    assert.equal((await assigned)[0].ticket_chat_id, chat);
    const [byCustomer, byAgent] = await Promise.all([waitEvent(c, "closed", ms(6000)), waitEvent(a, "closed", ms(6000))]);
    assert.deepEqual(byCustomer[0], { ticket_chat_id: chat, by: "system", reason: "inactive" });
    assert.deepEqual(byAgent[0], byCustomer[0]);
  });
});

describe("supervisor and API key", () => {
  const srv = useHelpdesk();

  test("a supervisor writes to any conversation; an API key acts for a named session", bounded(15000), async () => {
    const { hdClient, online } = await import("./helpdesk-helpers.mjs");
    const api = await online(hdClient(srv, undefined, { query: { token: TEST_API_KEY, token_source: "api" } }));
    const r = await send(api, "sent by the integration", { session_id: "api-s" });
    assert.equal(r.status_code, 200);
    assert.deepEqual(r.data.sender, { type: "customer", id: "api-s", name: null });
    const missing = await send(api, "no session");
    assert.equal(missing.status_code, 400);
    const sup = await supervisor(srv, "sup-1");
    const w = await send(sup, "supervisor here", { ticket_chat_id: r.data.ticket_chat_id });
    assert.equal(w.status_code, 200);
    assert.equal(w.data.seq, 2);
  });
});
