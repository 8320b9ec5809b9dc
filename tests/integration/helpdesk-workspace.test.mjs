// The agent's workspace (spec v1.1, §3 and §5): the `chats` event with its unread counts,
// which `read` events move, and the REST lists of agents, an agent's conversations,
// departments and the widget's status, with their refusals. Runs embedded and, with
// SWITCHBOARD_HELPDESK_REDIS=1 (the ".redis" ctest entry), on a real redis-server.

import { describe, test, afterEach } from "node:test";
import assert from "node:assert/strict";
import { waitEvent, ms, bounded, request, sleep } from "./helpers.mjs";
import { eventually } from "./cluster-helpers.mjs";
import { useHelpdesk, customer, agent, supervisor, closeHdClients, ack, send, rest, jwt } from "./helpdesk-helpers.mjs";

afterEach(() => closeHdClients());

const CHAT_KEYS = ["customer", "last_message", "last_seq", "status", "ticket_chat_id", "unread"];
const custOf = (sid) => ({ session_id: sid, name: `Customer ${sid}`, email: null, fields: null });

const chats = async (socket) => {
  const r = await ack(socket, "chats", {});
  assert.equal(r.status_code, 200, JSON.stringify(r));
  for (const c of r.data) assert.deepEqual(Object.keys(c).sort(), CHAT_KEYS);
  return r.data;
};
const entry = (list, chat) => list.find((c) => c.ticket_chat_id === chat);

// A customer's first message, assigned to the agent `a` (which must be the free one).
async function opened(srv, a, sid, text) {
  const assigned = waitEvent(a, "assigned");
  const c = await customer(srv, sid);
  const r = await send(c, text, { session_id: sid });
  assert.equal(r.status_code, 200);
  const [asg] = await assigned;
  assert.equal(asg.ticket_chat_id, r.data.ticket_chat_id);
  return { c, chat: r.data.ticket_chat_id, first: r.data };
}

describe("chats: the agent's open conversations with unread counts", () => {
  const srv = useHelpdesk();

  test("unread follows messages, the agent's reads and its own replies; customers' reads do not count", bounded(30000), async () => {
    const a = await agent(srv, "ws-a1");
    const { c, chat } = await opened(srv, a, "ws-s1", "first");
    const second = await send(c, "second", { session_id: "ws-s1" });
    assert.equal(second.data.seq, 2);

    let list = await chats(a);
    assert.equal(list.length, 1, "only its own open conversation");
    assert.deepEqual(entry(list, chat), {
      ticket_chat_id: chat, status: "assigned", customer: custOf("ws-s1"), last_message: second.data, last_seq: 2, unread: 2,
    });

    // The agent reads up to 1: recorded (unread 1) and relayed to the chat room as before.
    const relayed = waitEvent(c, "read");
    let r = await ack(a, "read", { ticket_chat_id: chat, seq: 1 });
    assert.equal(r.status_code, 200);
    assert.deepEqual((await relayed)[0], { ticket_chat_id: chat, seq: 1, by: { type: "agent", id: "ws-a1" } });
    assert.equal(entry(await chats(a), chat).unread, 1);

    // A read never goes back, and never beyond the last message.
    assert.equal((await ack(a, "read", { ticket_chat_id: chat, seq: 0 })).status_code, 200);
    assert.equal(entry(await chats(a), chat).unread, 1, "a lower seq does not unread");
    assert.equal((await ack(a, "read", { ticket_chat_id: chat, seq: 99 })).status_code, 200);
    assert.equal(entry(await chats(a), chat).unread, 0);

    // The customer writes twice; the agent's reply means it has read up to its own message.
    await send(c, "third", { session_id: "ws-s1" });
    await send(c, "fourth", { session_id: "ws-s1" });
    assert.equal(entry(await chats(a), chat).unread, 2);
    const reply = await send(a, "answer", { ticket_chat_id: chat });
    assert.equal(reply.data.seq, 5);
    list = await chats(a);
    assert.equal(entry(list, chat).unread, 0, "the poster has read up to its own message");
    assert.deepEqual(entry(list, chat).last_message, reply.data);
    assert.equal(entry(list, chat).last_seq, 5);

    // The customer's reads are the other side's: the agent's unread does not move.
    await send(c, "sixth", { session_id: "ws-s1" });
    r = await ack(c, "read", { ticket_chat_id: chat, seq: 6 });
    assert.equal(r.status_code, 200);
    assert.equal(entry(await chats(a), chat).unread, 1, "a customer's read is not the agent's");

    // A malformed read is refused and records nothing.
    r = await ack(a, "read", { ticket_chat_id: chat, seq: "6" });
    assert.equal(r.status_code, 400);
    r = await ack(a, "read", { ticket_chat_id: chat, seq: -1 });
    assert.equal(r.status_code, 400);
    assert.equal(entry(await chats(a), chat).unread, 1);
    assert.equal((await ack(a, "read", { ticket_chat_id: chat, seq: 6 })).status_code, 200);
    assert.equal(entry(await chats(a), chat).unread, 0);

    // Closed conversations leave the list.
    assert.equal((await ack(a, "close", { ticket_chat_id: chat })).status_code, 200);
    assert.ok(!(await chats(a)).some((c) => c.ticket_chat_id === one.chat));
  });

});

describe("chats: the supervisor's view and the refusals", () => {
  const srv = useHelpdesk();

  test("a supervisor sees every open one, an agent only its own, a customer is refused", bounded(30000), async () => {
    const a = await agent(srv, "ws-a2", { max_chats: 1 });
    const one = await opened(srv, a, "ws-s2", "for a2");
    const b = await agent(srv, "ws-b2", { max_chats: 1 });
    const two = await opened(srv, b, "ws-s3", "for b2");
    // Both agents are full: a third waits in the queue, open too.
    const c3 = await customer(srv, "ws-s4");
    const queued = await send(c3, "nobody free", { session_id: "ws-s4" });
    const three = queued.data.ticket_chat_id;

    assert.deepEqual((await chats(a)).map((c) => c.ticket_chat_id), [one.chat]);
    assert.deepEqual((await chats(b)).map((c) => c.ticket_chat_id), [two.chat]);
    const sup = await supervisor(srv, "ws-sup");
    const all = await chats(sup);
    assert.deepEqual(new Set(all.map((c) => c.ticket_chat_id)), new Set([one.chat, two.chat, three]));
    assert.equal(entry(all, three).status, "queued");
    assert.deepEqual(entry(all, three).customer, custOf("ws-s4"));
    assert.equal(entry(all, three).unread, 1);
    assert.equal(entry(all, one.chat).status, "assigned");

    // A supervisor's read counts for the agent side.
    assert.equal((await ack(sup, "read", { ticket_chat_id: three, seq: 1 })).status_code, 200);
    assert.equal(entry(await chats(sup), three).unread, 0);

    // The supervisor moves a2's conversation to a department: a2 is told it is no longer its own
    // (transferred, agent null), and it leaves a2's chats.
    const moved = new Promise((resolve) => a.once("transferred", resolve));
    assert.equal((await ack(sup, "transfer", { ticket_chat_id: one.chat, dept: "billing" })).status_code, 200);
    assert.deepEqual(await moved, { ticket_chat_id: one.chat, from: "ws-a2", agent: null, dept: "billing" });
    assert.ok(!(await chats(a)).some((c) => c.ticket_chat_id === one.chat));

    let r = await ack(c3, "chats", {});
    assert.equal(r.status_code, 403);
    assert.equal(r.error.code, "forbidden");
    r = await ack(a, "chats", "not an object");
    assert.equal(r.status_code, 400);
    for (const chat of [one.chat, two.chat, three]) assert.equal((await ack(sup, "close", { ticket_chat_id: chat })).status_code, 200);
    assert.deepEqual(await chats(sup), []);
  });
});

describe("the queue as agents see it", () => {
  const srv = useHelpdesk();

  test("inquiry_removed tells the agents who heard an inquiry that it left the queue: assigned or closed", bounded(30000), async () => {
    const dept = { dept: ["inq"] };
    const y = await agent(srv, "iq-y", dept);
    assert.equal((await ack(y, "status", { status: "away" })).status_code, 200);
    const heard = [];
    y.on("inquiry", (i) => heard.push(["inquiry", i.ticket_chat_id]));
    y.on("inquiry_removed", (i) => heard.push(["removed", i.ticket_chat_id, i.reason]));

    // Nobody available: queued, and announced.
    const c1 = await customer(srv, "iq-s1", dept);
    const one = (await send(c1, "first", { session_id: "iq-s1" })).data.ticket_chat_id;
    await eventually(() => assert.deepEqual(heard, [["inquiry", one]]));
    // An agent comes online and is given it: it left the queue.
    const x = await agent(srv, "iq-x", { ...dept, max_chats: 1 });
    await eventually(() => assert.deepEqual(heard.at(-1), ["removed", one, "assigned"]));
    assert.ok((await chats(x)).some((c) => c.ticket_chat_id === one));
    // x is full: the next one waits, then its customer gives up.
    const c2 = await customer(srv, "iq-s2", dept);
    const two = (await send(c2, "second", { session_id: "iq-s2" })).data.ticket_chat_id;
    await eventually(() => assert.deepEqual(heard.at(-1), ["inquiry", two]));
    assert.equal((await ack(c2, "close", { ticket_chat_id: two })).status_code, 200);
    await eventually(() => assert.deepEqual(heard.at(-1), ["removed", two, "closed"]));
    // Closing an assigned conversation is no queue news.
    assert.equal((await ack(x, "close", { ticket_chat_id: one })).status_code, 200);
    await sleep(ms(300));
    assert.deepEqual(heard, [["inquiry", one], ["removed", one, "assigned"], ["inquiry", two], ["removed", two, "closed"]]);
  });
});

describe("REST: agents, an agent's conversations, departments, status", () => {
  const srv = useHelpdesk();

  test("the lists, for those who may read them", bounded(30000), async () => {
    const a = await agent(srv, "rw-a1", { dept: ["billing"], max_chats: 2 });
    const b = await agent(srv, "rw-b1", { dept: ["sales"] });
    assert.equal((await ack(b, "status", { status: "away" })).status_code, 200);
    const c = await customer(srv, "rw-s1", { dept: ["billing"] });
    const assigned = waitEvent(a, "assigned");
    const first = await send(c, "invoice?", { session_id: "rw-s1" });
    const chat = first.data.ticket_chat_id;
    await assigned;

    const agentToken = (sub, extra = {}) => jwt({ sub, role: "agent", name: `Agent ${sub}`, ...extra });
    const supToken = jwt({ sub: "rw-sup", role: "supervisor" });
    const custToken = jwt({ sub: "rw-s1", role: "customer" });

    // agents/
    let r = await rest(srv, "/agents/");
    assert.equal(r.status, 200);
    assert.equal(r.body.status_code, 200);
    const byId = Object.fromEntries(r.body.data.map((x) => [x.id, x]));
    assert.deepEqual(byId["rw-a1"], {
      id: "rw-a1", name: "Agent rw-a1", dept: ["billing"], status: "online", online: true, open_chats: 1, max_chats: 2,
    });
    assert.equal(byId["rw-b1"].status, "away");
    assert.equal(byId["rw-b1"].online, true);
    assert.equal(byId["rw-b1"].open_chats, 0);
    assert.deepEqual(r.body.data.map((x) => x.id), [...r.body.data.map((x) => x.id)].sort(), "ordered by id");
    assert.equal((await rest(srv, "/agents/", { token: supToken })).status, 200);
    // an agent reads the team to pick a transfer target (the console); a customer may not
    assert.equal((await rest(srv, "/agents/", { token: agentToken("rw-a1") })).status, 200);
    assert.equal((await rest(srv, "/agents/", { token: custToken })).status, 403);
    assert.equal((await rest(srv, "/agents/", { token: null })).status, 401);

    // agents/{id}/conversations/
    r = await rest(srv, "/agents/rw-a1/conversations/", { token: agentToken("rw-a1") });
    assert.equal(r.status, 200);
    assert.deepEqual(r.body.data.map((x) => x.ticket_chat_id), [chat]);
    assert.deepEqual(r.body.data[0].customer, custOf("rw-s1"));
    assert.equal(r.body.data[0].status, "assigned");
    r = await rest(srv, "/agents/rw-a1/conversations/", { token: supToken });
    assert.deepEqual(r.body.data.map((x) => x.ticket_chat_id), [chat]);
    r = await rest(srv, "/agents/rw-a1/conversations/");
    assert.deepEqual(r.body.data.map((x) => x.ticket_chat_id), [chat]);
    r = await rest(srv, "/agents/rw-b1/conversations/");
    assert.deepEqual(r.body.data, []);
    assert.equal((await rest(srv, "/agents/rw-a1/conversations/", { token: agentToken("rw-b1") })).status, 403, "another agent's");
    assert.equal((await rest(srv, "/agents/rw-a1/conversations/", { token: custToken })).status, 403);
    assert.equal((await rest(srv, "/agents/rw-a1/conversations/", { token: null })).status, 401);
    assert.equal((await rest(srv, "/agents/rw-a1/conversations/", { method: "POST", body: {} })).status, 405);
    // The customer's own endpoint still answers.
    r = await rest(srv, "/customer/rw-s1/conversations/", { token: custToken });
    assert.equal(r.status, 200);
    assert.deepEqual(r.body.data.map((x) => x.ticket_chat_id), [chat]);

    // departments/: billing has a1 online; sales only b1, away.
    r = await rest(srv, "/departments/");
    assert.equal(r.status, 200);
    const byDept = Object.fromEntries(r.body.data.map((x) => [x.dept, x]));
    assert.deepEqual(byDept.billing, { dept: "billing", agents_online: 1, queue_length: 0 });
    assert.deepEqual(byDept.sales, { dept: "sales", agents_online: 0, queue_length: 0 });
    assert.equal((await rest(srv, "/departments/", { token: supToken })).status, 200);
    assert.equal((await rest(srv, "/departments/", { token: agentToken("rw-a1") })).status, 200);
    assert.equal((await rest(srv, "/departments/", { token: custToken })).status, 403);
    assert.equal((await rest(srv, "/departments/", { token: null })).status, 401);

    // status: any valid token; a widget key that is not configured is 401, as is nothing.
    r = await rest(srv, "/status?dept=billing", { token: custToken });
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, { status_code: 200, data: { agents_online: 1, queue_length: 0 } });
    r = await rest(srv, "/status?dept=sales", { token: agentToken("rw-b1") });
    assert.deepEqual(r.body.data, { agents_online: 0, queue_length: 0 });
    r = await rest(srv, "/status");
    assert.deepEqual(r.body.data, { agents_online: 1, queue_length: 0 }, "every available agent");
    r = await rest(srv, "/status?widget_key=not-a-configured-key");
    assert.equal(r.status, 401);
    assert.equal(r.body.error.code, "unauthorized");
    r = await rest(srv, "/status?widget_key=not-a-configured-key", { token: custToken });
    assert.equal(r.status, 401, "a bad widget key is refused even beside a token");
    assert.equal((await rest(srv, "/status", { token: null })).status, 401);
    assert.equal((await rest(srv, "/status", { token: "not-a-token" })).status, 401);
    assert.equal((await rest(srv, `/status?dept=${"d".repeat(200)}`)).status, 400);

    // b1 comes back online: sales counts it.
    assert.equal((await ack(b, "status", { status: "online" })).status_code, 200);
    await eventually(async () => {
      const s = await rest(srv, "/status?dept=sales", { token: custToken });
      assert.deepEqual(s.body.data, { agents_online: 1, queue_length: 0 });
    }, { timeoutMs: ms(5000) });
  });
});

// The status endpoint is public (a widget key), and each store call walks the queue, so its
// answers are shared per dept for up to a second: concurrent requests wait for one store
// call, later ones within the second get its answer. /metrics counts the store calls.
async function statusStoreCalls(srv) {
  const res = await request(srv.port, { path: "/metrics" });
  const m = /^switchboard_status_store_calls_total (\d+)$/m.exec(res.text);
  assert.ok(m, `switchboard_status_store_calls_total in /metrics:\n${res.text}`);
  return Number(m[1]);
}

describe("REST: status answers shared per dept", () => {
  const srv = useHelpdesk();

  test("50 concurrent requests get one answer from a few store calls; a change shows within ~1.5 s", bounded(30000), async () => {
    await agent(srv, "sh-a1", { dept: ["shared"] });
    await agent(srv, "sh-x1", { dept: ["elsewhere"] });
    const before = await statusStoreCalls(srv);
    const all = await Promise.all(Array.from({ length: 50 }, () => rest(srv, "/status?dept=shared")));
    for (const r of all) {
      assert.equal(r.status, 200);
      assert.deepEqual(r.body, { status_code: 200, data: { agents_online: 1, queue_length: 0 } });
    }
    const calls = (await statusStoreCalls(srv)) - before;
    assert.ok(calls >= 1 && calls <= 3, `50 concurrent requests made ${calls} store calls`);

    // Each dept has its own answer, and "" (every dept) its own.
    assert.deepEqual((await rest(srv, "/status?dept=elsewhere")).body.data, { agents_online: 1, queue_length: 0 });
    assert.deepEqual((await rest(srv, "/status?dept=nobody")).body.data, { agents_online: 0, queue_length: 0 });
    assert.deepEqual((await rest(srv, "/status")).body.data, { agents_online: 2, queue_length: 0 });
    assert.deepEqual((await rest(srv, "/status?dept=")).body.data, { agents_online: 2, queue_length: 0 });

    // Another agent of the dept comes online: the answer follows within about a second.
    await agent(srv, "sh-a2", { dept: ["shared"] });
    const changed = Date.now();
    let polls = 0;
    const pollCalls = await statusStoreCalls(srv), pollStart = Date.now();
    for (;;) {
      const r = await rest(srv, "/status?dept=shared");
      polls++;
      assert.equal(r.status, 200);
      if (r.body.data.agents_online === 2) break;
      assert.deepEqual(r.body.data, { agents_online: 1, queue_length: 0 }, "the old answer or the new one");
      assert.ok(Date.now() - changed < ms(1500), `still ${JSON.stringify(r.body.data)} ${Date.now() - changed} ms after the change`);
      await sleep(20);
    }
    const pollStoreCalls = (await statusStoreCalls(srv)) - pollCalls;
    const seconds = Math.ceil((Date.now() - pollStart) / 1000);
    assert.ok(pollStoreCalls <= seconds + 1, `${polls} requests in a row over ${seconds} s made ${pollStoreCalls} store calls`);
  });

  test("many dept names at once: each answered (200, or 503 with the contract's body), the known dept still answered", bounded(30000), async () => {
    await agent(srv, "sh-b1", { dept: ["kept"] });
    const before = await statusStoreCalls(srv);
    const names = Array.from({ length: 300 }, (_, i) => `flood-${i}-${Math.random().toString(36).slice(2)}`);
    const all = await Promise.all(names.map((d) => rest(srv, `/status?dept=${d}`)));
    for (const r of all) {
      if (r.status === 503) {
        assert.equal(r.body.status_code, 503);
        assert.equal(typeof r.body.error.code, "string");
        continue;
      }
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.deepEqual(r.body.data, { agents_online: 0, queue_length: 0 });
    }
    assert.ok((await statusStoreCalls(srv)) - before <= names.length);
    const r = await rest(srv, "/status?dept=kept");
    assert.equal(r.status, 200);
    assert.deepEqual(r.body.data, { agents_online: 1, queue_length: 0 });
  });
});

// A configured widget key opens the status endpoint without a token.
const WIDGET_KEY = "wk_integration_0123456789";

describe("REST: status with a widget key", () => {
  const srv = useHelpdesk({ args: ["--widget-key", WIDGET_KEY] });

  test("the configured key answers, another is 401", bounded(20000), async () => {
    const a = await agent(srv, "wk-a1", { dept: ["help"] });
    let r = await rest(srv, `/status?widget_key=${WIDGET_KEY}&dept=help`, { token: null });
    assert.equal(r.status, 200);
    assert.deepEqual(r.body.data, { agents_online: 1, queue_length: 0 });
    r = await rest(srv, `/status?widget_key=${WIDGET_KEY}x`, { token: null });
    assert.equal(r.status, 401);
    r = await rest(srv, `/status?widget_key=${WIDGET_KEY.slice(0, -1)}`, { token: null });
    assert.equal(r.status, 401, "a prefix of the key is not the key");
    r = await rest(srv, "/status?widget_key=", { token: null });
    assert.equal(r.status, 401);
    assert.ok(a.connected);
  });
});
