// Everything the helpdesk refuses, each with its documented status, and nothing stored:
// bad tokens, other people's conversations, oversize messages, floods, malformed bodies.

import { describe, test, afterEach } from "node:test";
import assert from "node:assert/strict";
import { useServer, waitEvent, expectNoEvent, request, sleep, ms, bounded } from "./helpers.mjs";
import {
  customer, agent, closeHdClients, ack, send, rest, refusal, hdClient, jwt, TEST_API_KEY, API,
} from "./helpdesk-helpers.mjs";

afterEach(() => closeHdClients());

const unauthorized = (err, code) => {
  assert.equal(err.message, "unauthorized");
  assert.deepEqual(err.data, { code });
};

describe("tokens", () => {
  const srv = useServer({ kind: "server" });

  test("missing, malformed, wrongly signed, alg none, HS512, expired and future tokens are refused", bounded(20000), async () => {
    unauthorized(await refusal(srv, undefined), "missing_token");
    unauthorized(await refusal(srv, "not-a-token"), "malformed_token");
    unauthorized(await refusal(srv, jwt({ sub: "t-1", role: "customer" }, { secret: "another-secret-0123456789" })), "bad_signature");
    const none = jwt({ sub: "t-1", role: "customer" }, { header: { alg: "none", typ: "JWT" } }).split(".").slice(0, 2).join(".") + ".";
    unauthorized(await refusal(srv, none), "unsupported_alg");
    unauthorized(await refusal(srv, jwt({ sub: "t-1", role: "customer" }, { header: { alg: "HS512", typ: "JWT" } })), "unsupported_alg");
    unauthorized(await refusal(srv, jwt({ sub: "t-1", role: "customer" }, { expIn: -120 })), "token_expired");
    unauthorized(await refusal(srv, jwt({ sub: "t-1", role: "customer", nbf: Math.floor(Date.now() / 1000) + 3600 })), "token_not_yet_valid");
    unauthorized(await refusal(srv, jwt({ sub: "t-1", role: "janitor" })), "invalid_claims");
    unauthorized(await refusal(srv, undefined, { query: { token: "wrong-key-0123456789", token_source: "api" } }), "invalid_api_key");
    const r = await rest(srv, "/customer/t-1/conversations/");
    assert.deepEqual(r.body.data, [], "nothing was stored for any of them");
  });

  test("a token that expires while connected gets 401 on its next message", bounded(20000), async () => {
    const c = await customer(srv, "exp-s", { exp: Math.floor(Date.now() / 1000) - 29 }); // inside the 30 s skew
    await sleep(ms(2500));
    const r = await send(c, "late");
    assert.equal(r.status_code, 401);
    assert.equal(r.error.code, "token_expired");
  });
});

describe("conversations that are not yours", () => {
  const srv = useServer({ kind: "server" });

  test("customers and agents are kept to their own; nothing is stored", bounded(20000), async () => {
    const a1 = await agent(srv, "own-a1", { max_chats: 1 });
    const alice = await customer(srv, "own-alice"), mallory = await customer(srv, "own-mallory");
    const assigned = waitEvent(a1, "assigned");
    const chat = (await send(alice, "private")).data.ticket_chat_id;
    await assigned;
    const a2 = await agent(srv, "own-a2");

    let r = await send(mallory, "as alice", { session_id: "own-alice" });
    assert.equal(r.status_code, 403);
    r = await send(mallory, "into alice's chat", { ticket_chat_id: chat, client_msg_id: "x-1" });
    assert.equal(r.status_code, 403);
    assert.equal(r.client_msg_id, "x-1", "the failure names the client's id");
    r = await send(a2, "not my chat", { ticket_chat_id: chat });
    assert.equal(r.status_code, 403);
    r = await ack(mallory, "history", { ticket_chat_id: chat });
    assert.equal(r.status_code, 403);
    r = await ack(mallory, "close", { ticket_chat_id: chat });
    assert.equal(r.status_code, 403);
    r = await ack(a2, "transfer", { ticket_chat_id: chat, dept: "x" });
    assert.equal(r.status_code, 403);
    r = await ack(mallory, "take", { ticket_chat_id: chat });
    assert.equal(r.status_code, 403, "customers cannot take");
    r = await send(alice, "unknown", { ticket_chat_id: "c_nope" });
    assert.equal(r.status_code, 404);

    // typing / read into a room the socket is not in go nowhere.
    const quiet = expectNoEvent(alice, "typing", ms(300));
    mallory.emit("typing", { ticket_chat_id: chat, typing: true });
    await quiet;
    r = await ack(mallory, "read", { ticket_chat_id: chat, seq: 1 });
    assert.equal(r.status_code, 403);

    // REST: another customer's session, an agent reading inquiries is fine, no bearer is 401.
    r = await rest(srv, "/customer/own-alice/conversations/", { token: jwt({ sub: "own-mallory", role: "customer" }) });
    assert.equal(r.status, 403);
    r = await rest(srv, `/conversations/${chat}/messages/`, { token: jwt({ sub: "own-mallory", role: "customer" }) });
    assert.equal(r.status, 403);
    r = await rest(srv, `/conversations/${chat}/messages/`, { token: null });
    assert.equal(r.status, 401);
    r = await rest(srv, `/conversations/${chat}/messages/`, { method: "POST", token: jwt({ sub: "own-alice", role: "customer" }), body: { message: "x", sender: { type: "bot", id: "b" } } });
    assert.equal(r.status, 403, "only the backend posts over REST");

    const h = await ack(alice, "history", { ticket_chat_id: chat });
    assert.deepEqual(h.data.map((m) => m.message), ["private"], "nothing of the refused was stored");
  });
});

describe("limits", () => {
  const srv = useServer({ kind: "server", args: ["--max-message-bytes", "100", "--rate-limit", "5", "--rate-burst", "5"] });

  test("oversize and malformed messages", bounded(15000), async () => {
    const c = await customer(srv, "lim-s");
    let r = await send(c, "x".repeat(101), { client_msg_id: "big" });
    assert.equal(r.status_code, 413);
    assert.equal(r.client_msg_id, "big");
    r = await ack(c, "support", { message: 42 });
    assert.equal(r.status_code, 400);
    r = await ack(c, "support", "just a string");
    assert.equal(r.status_code, 400);
    r = await ack(c, "support", { message: "x", attachment: { name: "no url" } });
    assert.equal(r.status_code, 400);
    await sleep(ms(1100));
    r = await send(c, "x".repeat(100));
    assert.equal(r.status_code, 200, "exactly the limit is fine");
    const h = await ack(c, "history", { ticket_chat_id: r.data.ticket_chat_id });
    assert.equal(h.data.length, 1);
  });

  test("a flood beyond the rate limit gets 429 and stores only what was allowed", bounded(15000), async () => {
    const c = await customer(srv, "flood-s");
    const results = await Promise.all(Array.from({ length: 12 }, (_, i) => send(c, `m${i}`, { client_msg_id: `f${i}` })));
    const ok = results.filter((r) => r.status_code === 200), limited = results.filter((r) => r.status_code === 429);
    assert.ok(ok.length >= 5 && ok.length <= 6, `${ok.length} accepted`);
    assert.equal(ok.length + limited.length, 12);
    assert.equal(limited[0].error.code, "rate_limited");
    await sleep(ms(1100));
    const h = await ack(c, "history", { ticket_chat_id: ok[0].data.ticket_chat_id, limit: 50 });
    assert.deepEqual(h.data.map((m) => m.seq), ok.map((_, i) => i + 1), "gap-free, only the accepted");
  });
});

describe("REST input", () => {
  const srv = useServer({ kind: "server" });

  test("malformed bodies and parameters on every endpoint are 400, unknown ids 404, wrong methods 405", bounded(15000), async () => {
    const c = await customer(srv, "rest-s");
    const chat = (await send(c, "hi")).data.ticket_chat_id;
    const post = (body) => rest(srv, `/conversations/${chat}/messages/`, { method: "POST", body });
    for (const body of ["{", "[]", "null", '"text"', JSON.stringify({ message: "x" }), JSON.stringify({ message: "x", sender: { type: "customer", id: "s" } }),
      JSON.stringify({ message: 5, sender: { type: "bot", id: "b" } }), JSON.stringify({ message: "x", sender: { type: "bot" } })]) {
      const r = await post(body);
      assert.equal(r.status, 400, `body ${body}`);
      assert.equal(r.body.status_code, 400);
      assert.equal(r.body.error.code, "bad_request");
    }
    let r = await rest(srv, `/conversations/${chat}/messages/?after_seq=abc`);
    assert.equal(r.status, 400);
    r = await rest(srv, `/conversations/${chat}/messages/?limit=0`);
    assert.equal(r.status, 400);
    r = await rest(srv, `/conversations/c_unknown/messages/`);
    assert.equal(r.status, 404);
    r = await rest(srv, `/conversations/c_unknown/messages/`, { method: "POST", body: { message: "x", sender: { type: "bot", id: "b" } } });
    assert.equal(r.status, 404);
    r = await rest(srv, "/inquiries/", { method: "DELETE" });
    assert.equal(r.status, 405);
    r = await rest(srv, "/customer/rest-s/conversations/", { token: "garbage" });
    assert.equal(r.status, 401);
    const res = await request(srv.port, { path: `${API}/nope/`, headers: { authorization: `Bearer ${TEST_API_KEY}` } });
    assert.equal(res.status, 404);
    const h = await ack(c, "history", { ticket_chat_id: chat });
    assert.equal(h.data.length, 1, "nothing stored by any refused request");
  });
});
