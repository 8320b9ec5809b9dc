// Webhooks (spec §5, v1.1): every backend event POSTed to every configured URL, signed,
// retried until delivered, in order per conversation, in the embedded mode and with Redis,
// where a killed deliverer loses nothing. The receivers are real Node HTTP servers on
// 127.0.0.1 that check the signature as a Django or Express receiver would: HMAC-SHA256
// of the raw body under the shared secret, compared in constant time.

import { describe, test, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import http from "node:http";
import { createClient } from "redis";
import { startServer, request, sleep, ms, bounded, HOST } from "./helpers.mjs";
import { startRedis, waitStatus, eventually } from "./cluster-helpers.mjs";
import { customer, agent, closeHdClients, ack, send, rest } from "./helpdesk-helpers.mjs";

const SECRET = "webhook-test-secret-0123456789";
const FAST = ["--webhook-backoff-min", "50", "--webhook-backoff-max", "400"];

afterEach(() => closeHdClients());

// ---------- a receiver ----------

// A webhook receiver. mode() says how it answers each request: "ok" (204), "500",
// "hang" (never answers), "destroy" (drops the connection unanswered), or a number of
// ms to wait before answering 200. Every request is recorded, whatever the answer.
class Receiver {
  constructor(mode = () => "ok") {
    this.mode = mode;
    this.attempts = []; // { id, conv, answered } in arrival order
    this.delivered = []; // the events answered 2xx, in order
    this.badSignatures = [];
    this.server = http.createServer((req, res) => this.handle(req, res));
    this.hanging = new Set();
  }

  async start() {
    await new Promise((resolve) => this.server.listen(0, HOST, resolve));
    this.url = `http://${HOST}:${this.server.address().port}/hooks/switchboard`;
    return this;
  }

  handle(req, res) {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const raw = Buffer.concat(chunks);
      const expected = "sha256=" + crypto.createHmac("sha256", SECRET).update(raw).digest("hex");
      const got = String(req.headers["x-switchboard-signature"] || "");
      const signed = got.length === expected.length && crypto.timingSafeEqual(Buffer.from(got), Buffer.from(expected));
      let body = null;
      try {
        body = JSON.parse(raw.toString("utf8"));
      } catch {}
      if (!signed || !body || req.method !== "POST") {
        this.badSignatures.push({ method: req.method, got, raw: raw.toString("utf8").slice(0, 200) });
        res.writeHead(400).end();
        return;
      }
      const record = { id: body.id, type: body.type, conv: convOf(body), body, headers: req.headers };
      const mode = this.mode(record);
      this.attempts.push({ id: body.id, conv: record.conv, mode });
      if (mode === "ok") {
        this.delivered.push(record);
        res.writeHead(204).end();
      } else if (mode === "500") {
        res.writeHead(500, { "content-type": "text/plain" }).end("down for maintenance");
      } else if (mode === "hang") {
        this.hanging.add(res);
      } else if (mode === "destroy") {
        req.socket.destroy();
      } else if (typeof mode === "number") {
        setTimeout(() => {
          if (res.destroyed) return;
          this.delivered.push(record);
          res.writeHead(200, { "content-type": "application/json" }).end("{}");
        }, mode);
      }
    });
  }

  // The distinct ids answered 2xx.
  ids() {
    return new Set(this.delivered.map((r) => r.id));
  }

  async close() {
    for (const res of this.hanging) res.destroy();
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

const convOf = (body) => (body.data && (body.data.ticket_chat_id ?? (body.data.session_id ? `session:${body.data.session_id}` : null))) ?? "-";

// "<ms>-<n>" ids compare as two numbers (stream ids, or the embedded ones).
function cmpId(a, b) {
  const [am, an] = a.split("-").map(BigInt), [bm, bn] = b.split("-").map(BigInt);
  return am < bm ? -1 : am > bm ? 1 : an < bn ? -1 : an > bn ? 1 : 0;
}

// Per conversation, ids in the order seq gives them must only grow (duplicates allowed
// when `dup` is set: a repeated id must repeat the latest, never an older one).
function assertOrdered(seq, what) {
  const last = new Map();
  for (const { id, conv } of seq) {
    const prev = last.get(conv);
    if (prev !== undefined) {
      const c = cmpId(prev, id);
      assert.ok(c <= 0, `${what}: conversation ${conv} got ${id} after ${prev}`);
    }
    last.set(conv, id);
  }
}

// Per conversation, the first arrival of each id comes in increasing id order.
function assertFirstArrivalsOrdered(records, what) {
  const seen = new Set();
  const firsts = [];
  for (const r of records) {
    if (seen.has(r.id)) continue;
    seen.add(r.id);
    firsts.push(r);
  }
  const last = new Map();
  for (const { id, conv } of firsts) {
    const prev = last.get(conv);
    if (prev !== undefined) assert.ok(cmpId(prev, id) < 0, `${what}: conversation ${conv} first got ${id} after ${prev}`);
    last.set(conv, id);
  }
}

function assertDelivery(r) {
  assert.deepEqual(Object.keys(r.body).sort(), ["created_at", "data", "id", "type"], "the body is { id, type, data, created_at }");
  assert.match(r.id, /^\d+-\d+$/, "a stream id (or its embedded equivalent)");
  assert.match(r.body.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  assert.equal(r.headers["content-type"], "application/json");
  assert.equal(r.headers["x-switchboard-event"], r.type);
  assert.equal(r.headers["x-switchboard-delivery"], r.id);
  assert.equal(typeof r.body.data, "object");
}

async function metric(srv, name) {
  const res = await request(srv.port, { path: "/metrics" });
  const m = new RegExp(`^${name.replace(/[{}"]/g, "\\$&")} (\\d+)$`, "m").exec(res.text);
  assert.ok(m, `${name} in /metrics:\n${res.text}`);
  return Number(m[1]);
}

// ---------- the modes ----------

async function redisCall(redis, args) {
  const c = createClient({ socket: { host: HOST, port: redis.port, reconnectStrategy: false } });
  c.on("error", () => {});
  await c.connect();
  try {
    return await c.sendCommand(args.map(String));
  } finally {
    await c.disconnect().catch(() => {});
  }
}

// The node delivers, and its consumer group exists (events from then on are sent).
async function waitDeliverer(srv, redis) {
  await eventually(() => assert.match(srv.stderr, /this node delivers the events/), { timeoutMs: ms(10000) });
  await eventually(async () => {
    const groups = await redisCall(redis, ["XINFO", "GROUPS", "hd:events"]).catch(() => []);
    assert.ok(JSON.stringify(groups).includes("switchboard-webhooks"), "the webhooks' group");
  }, { timeoutMs: ms(10000) });
}

async function startHelpdesk({ redis, urls, args = [], nodeId }) {
  const flags = ["--webhook-secret", SECRET, ...urls.flatMap((u) => ["--webhook-url", u]), ...args];
  if (redis) flags.push("--redis", redis.url, ...(nodeId ? ["--node-id", nodeId] : []));
  const srv = await startServer({ kind: "server", args: flags });
  if (redis) {
    await waitStatus(srv, "/readyz", 200, { what: "the helpdesk node on Redis" });
    await waitDeliverer(srv, redis);
  }
  return srv;
}

for (const mode of ["embedded", "redis"]) {
  describe(`webhooks, ${mode}`, () => {
    let redis = null;
    before(async () => {
      if (mode === "redis") redis = await startRedis();
    });
    after(async () => {
      if (redis) await redis.dispose();
    });

    test("every event of a helpdesk flow arrives signed, as { id, type, data, created_at }", bounded(30000), async () => {
      const rx = await new Receiver().start();
      const srv = await startHelpdesk({ redis, urls: [rx.url] });
      try {
        if (mode === "embedded") assert.match(srv.stderr, /webhook events wait for delivery in memory, at most 10000/);
        // No agent yet: the conversation is queued; then one comes and gets it.
        const c = await customer(srv, `wh-${mode}-s1`);
        const first = await send(c, "where is my parcel?", { session_id: `wh-${mode}-s1`, client_msg_id: "m1" });
        assert.equal(first.status_code, 200);
        const chat = first.data.ticket_chat_id;
        const a1 = await agent(srv, `wh-${mode}-a1`);
        await eventually(() => assert.ok(rx.delivered.some((r) => r.type === "assigned"), "assigned"), { timeoutMs: ms(5000) });
        assert.equal((await send(a1, "let me look", { ticket_chat_id: chat })).status_code, 200);
        const bot = { message: "tracking: in transit", attachment: false, sender: { type: "bot", id: "track", name: "Tracker" } };
        assert.equal((await rest(srv, `/conversations/${chat}/messages/`, { method: "POST", body: bot })).status, 201);
        const a2 = await agent(srv, `wh-${mode}-a2`);
        assert.equal((await ack(a1, "transfer", { ticket_chat_id: chat, agent_id: `wh-${mode}-a2` })).status_code, 200);
        assert.equal((await ack(c, "close", { ticket_chat_id: chat })).status_code, 200);
        void a2;

        const want = ["message", "queued", "assigned", "transferred", "closed"];
        await eventually(() => {
          const types = new Set(rx.delivered.filter((r) => r.conv === chat).map((r) => r.type));
          for (const t of want) assert.ok(types.has(t), `a "${t}" event for ${chat}; got ${[...types]}`);
          assert.ok(rx.delivered.filter((r) => r.type === "message").length >= 3, "the three messages");
        }, { timeoutMs: ms(10000) });
        assert.deepEqual(rx.badSignatures, [], "every request signed with the secret");
        for (const r of rx.delivered) assertDelivery(r);
        const mine = rx.delivered.filter((r) => r.conv === chat);
        const messages = mine.filter((r) => r.type === "message");
        assert.deepEqual(messages.map((r) => r.body.data.seq), [1, 2, 3], "the messages, in seq order");
        assert.deepEqual(messages[0].body.data, first.data, "data is the stored message as it is");
        assert.equal(mine.find((r) => r.type === "closed").body.data.status, "closed");
        assert.equal(mine.at(-1).type, "closed", "closed comes last");
        assertFirstArrivalsOrdered(rx.delivered, "healthy receiver");
        assertOrdered(rx.delivered, "healthy receiver");
        assert.equal(new Set(rx.delivered.map((r) => r.id)).size, rx.delivered.length, "no event twice to a healthy receiver");
        assert.ok((await metric(srv, 'switchboard_webhook_deliveries_total{result="delivered"}')) >= rx.delivered.length);
        assert.equal(await metric(srv, 'switchboard_webhook_deliveries_total{result="failed_attempt"}'), 0);
        await eventually(async () => assert.equal(await metric(srv, "switchboard_webhook_pending_events"), 0));
      } finally {
        await srv.stop();
        await rx.close();
      }
    });

    test("a receiver that fails, hangs, drops connections and recovers gets everything in order; a healthy URL is not held back", bounded(60000), async () => {
      let phase = "500";
      const bad = await new Receiver(() => phase).start();
      const good = await new Receiver().start();
      const srv = await startHelpdesk({ redis, urls: [bad.url, good.url], args: [...FAST, "--webhook-timeout", String(ms(300))] });
      try {
        // Four conversations of five messages each, sent concurrently.
        const convs = 4, per = 5;
        const chats = await Promise.all(Array.from({ length: convs }, async (_, i) => {
          const c = await customer(srv, `wh-${mode}-f${i}`);
          let chat = null;
          for (let k = 0; k < per; k++) {
            const r = await send(c, `message ${k}`, { session_id: `wh-${mode}-f${i}`, ticket_chat_id: chat });
            assert.equal(r.status_code, 200);
            chat = r.data.ticket_chat_id;
          }
          return chat;
        }));
        // The healthy URL has them all while the other answers 500.
        await eventually(() => {
          for (const chat of chats)
            assert.equal(good.delivered.filter((r) => r.conv === chat && r.type === "message").length, per, `messages of ${chat} at the healthy URL`);
        }, { timeoutMs: ms(5000) });
        assert.equal(bad.delivered.length, 0);
        assert.ok(bad.attempts.length > 0, "the failing URL was tried");
        await eventually(async () => assert.ok((await metric(srv, 'switchboard_webhook_deliveries_total{result="failed_attempt"}')) > 0));
        await eventually(async () => assert.ok((await metric(srv, "switchboard_webhook_oldest_pending_seconds")) >= 1), { timeoutMs: ms(3000) });
        const tried = bad.attempts.length;
        phase = "hang";
        await sleep(ms(1200));
        assert.ok(bad.attempts.length > tried, "retried while hanging (the timeout ends each attempt)");
        const hung = bad.attempts.length;
        phase = "destroy";
        await sleep(ms(1000));
        assert.ok(bad.attempts.length > hung, "retried after dropped connections");
        phase = "ok";

        const all = good.ids();
        await eventually(() => {
          const got = bad.ids();
          for (const id of all) assert.ok(got.has(id), `event ${id} at the recovered URL`);
        }, { timeoutMs: ms(15000) });
        assert.deepEqual(bad.badSignatures, []);
        assert.deepEqual(good.badSignatures, []);
        // A conversation's next event is never tried while an earlier one is pending.
        assertOrdered(bad.attempts, "attempts at the failing URL");
        assertFirstArrivalsOrdered(bad.delivered, "the recovered URL");
        assertOrdered(good.delivered, "the healthy URL");
        for (const chat of chats)
          assert.deepEqual(bad.delivered.filter((r) => r.conv === chat && r.type === "message").map((r) => r.body.data.seq), [1, 2, 3, 4, 5]);
        assert.equal(await metric(srv, 'switchboard_webhook_deliveries_total{result="dropped"}'), 0);
        await eventually(async () => assert.equal(await metric(srv, "switchboard_webhook_oldest_pending_seconds"), 0));
      } finally {
        await srv.stop();
        await bad.close();
        await good.close();
      }
    });

    test("SIGTERM with a request in flight: a clean exit; with Redis the entry stays pending and the lease is given back", bounded(30000), async () => {
      const rx = await new Receiver(() => "hang").start();
      const srv = await startHelpdesk({ redis, urls: [rx.url] });
      try {
        const c = await customer(srv, `wh-${mode}-t1`);
        assert.equal((await send(c, "bye", { session_id: `wh-${mode}-t1` })).status_code, 200);
        await eventually(() => assert.ok(rx.hanging.size >= 1, "a request hangs at the receiver"));
        closeHdClients();
        const t0 = Date.now();
        await srv.stop(); // exit 0, no sanitizer report (leaks included)
        assert.ok(Date.now() - t0 < ms(4000), "the hanging request does not hold the shutdown");
        if (redis) {
          const [count] = await redisCall(redis, ["XPENDING", "hd:events", "switchboard-webhooks"]);
          assert.ok(Number(count) >= 1, "the un-acked entries stay pending for the next deliverer");
          assert.equal(Number(await redisCall(redis, ["EXISTS", "hd:webhooks:lease"])), 0, "the lease is given back");
        }
      } finally {
        await srv.stop();
        await rx.close();
      }
    });

    test("an event still failing after --webhook-retry-for is dropped and counted; later ones go on", bounded(30000), async () => {
      let phase = "500";
      const rx = await new Receiver(() => phase).start();
      const srv = await startHelpdesk({ redis, urls: [rx.url], args: [...FAST, "--webhook-retry-for", "1"] });
      try {
        const c = await customer(srv, `wh-${mode}-d1`);
        const r = await send(c, "lost?", { session_id: `wh-${mode}-d1` });
        assert.equal(r.status_code, 200);
        await eventually(async () => assert.ok((await metric(srv, 'switchboard_webhook_deliveries_total{result="dropped"}')) >= 1), { timeoutMs: ms(5000) });
        await eventually(async () => assert.equal(await metric(srv, "switchboard_webhook_pending_events"), 0), { timeoutMs: ms(5000) });
        assert.match(srv.stderr, /given up after 1 s of retries/);
        phase = "ok";
        const next = await send(c, "still there?", { ticket_chat_id: r.data.ticket_chat_id });
        await eventually(() => assert.ok(rx.delivered.some((d) => d.type === "message" && d.body.data.id === next.data.id)), { timeoutMs: ms(5000) });
        assert.ok(!rx.delivered.some((d) => d.type === "message" && d.body.data.id === r.data.id), "the dropped one is not sent later");
      } finally {
        await srv.stop();
        await rx.close();
      }
    });
  });
}

describe("webhooks, embedded: bounded memory", () => {
  test("beyond --webhook-memory-max the oldest undelivered events are dropped and counted", bounded(30000), async () => {
    let phase = "hang";
    const rx = await new Receiver(() => phase).start();
    const srv = await startHelpdesk({ urls: [rx.url], args: [...FAST, "--webhook-memory-max", "5", "--webhook-timeout", String(ms(5000))] });
    try {
      assert.match(srv.stderr, /at most 5 /);
      const c = await customer(srv, "wh-mem-s1");
      let chat = null;
      const ids = [];
      for (let k = 0; k < 12; k++) {
        const r = await send(c, `m${k}`, { session_id: "wh-mem-s1", ticket_chat_id: chat });
        chat = r.data.ticket_chat_id;
        ids.push(r.data.id);
      }
      await eventually(async () => assert.ok((await metric(srv, 'switchboard_webhook_deliveries_total{result="dropped"}')) >= 7));
      assert.ok((await metric(srv, "switchboard_webhook_pending_events")) <= 5);
      assert.match(srv.stderr, /the oldest are dropped and counted/);
      phase = "ok";
      for (const res of rx.hanging) res.destroy();
      await eventually(() => assert.ok(rx.delivered.some((d) => d.type === "message" && d.body.data.id === ids.at(-1))), { timeoutMs: ms(5000) });
      const got = rx.delivered.filter((d) => d.type === "message").map((d) => d.body.data.id);
      assert.ok(!got.includes(ids[0]), "the oldest was dropped");
      assertOrdered(rx.delivered, "after the drops");
    } finally {
      await srv.stop();
      await rx.close();
    }
  });
});

describe("webhooks, Redis, two nodes", () => {
  let redis = null;
  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    if (redis) await redis.dispose();
  });

  test("kill -9 of the delivering node mid-delivery: the other continues, nothing lost, order per conversation kept", bounded(90000), async () => {
    const rx = await new Receiver(() => ms(150)).start();
    const a = await startHelpdesk({ redis, urls: [rx.url], nodeId: "wh-a" });
    const b = await startServer({ kind: "server", args: ["--webhook-secret", SECRET, "--webhook-url", rx.url, "--redis", redis.url, "--node-id", "wh-b"] });
    try {
      await waitStatus(b, "/readyz", 200, { what: "node b" });
      assert.doesNotMatch(b.stderr, /this node delivers/, "one deliverer at a time");
      // The customers talk to node b, which stays up.
      const convs = 3, per = 6;
      const chats = await Promise.all(Array.from({ length: convs }, async (_, i) => {
        const c = await customer(b, `wh-kill-s${i}`);
        let chat = null;
        for (let k = 0; k < per; k++) {
          const r = await send(c, `m${k}`, { session_id: `wh-kill-s${i}`, ticket_chat_id: chat });
          assert.equal(r.status_code, 200);
          chat = r.data.ticket_chat_id;
        }
        return chat;
      }));
      await eventually(() => assert.ok(rx.delivered.length >= 3, "node a has started delivering"), { timeoutMs: ms(10000) });
      await a.kill();
      const atKill = rx.ids().size;
      const entries = await redisCall(redis, ["XRANGE", "hd:events", "-", "+"]);
      const all = entries.map(([id]) => id);
      assert.ok(atKill < all.length, `killed mid-delivery (${atKill} of ${all.length} delivered)`);

      await eventually(() => assert.match(b.stderr, /this node delivers the events/), { timeoutMs: ms(15000) });
      await eventually(() => {
        const got = rx.ids();
        const missing = all.filter((id) => !got.has(id));
        assert.deepEqual(missing, [], "every event of the stream delivered");
      }, { timeoutMs: ms(30000) });
      assert.deepEqual(rx.badSignatures, []);
      assertFirstArrivalsOrdered(rx.delivered, "across the takeover");
      for (const chat of chats) {
        const seqs = [...new Map(rx.delivered.filter((r) => r.conv === chat && r.type === "message").map((r) => [r.id, r.body.data.seq])).values()];
        assert.deepEqual(seqs, [1, 2, 3, 4, 5, 6], `messages of ${chat}, first arrivals`);
      }
      // Everything acked: nothing left pending in the group.
      await eventually(async () => {
        const pending = await redisCall(redis, ["XPENDING", "hd:events", "switchboard-webhooks"]);
        assert.equal(Number(pending[0]), 0, "no entry pending");
      }, { timeoutMs: ms(5000) });
    } finally {
      await b.stop();
      await a.kill();
      await rx.close();
    }
  });
});
