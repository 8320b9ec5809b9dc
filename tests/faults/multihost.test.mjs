// multihost.test.mjs: three switchboard nodes, each in its own network namespace on its own
// address, one redis-server in the hub namespace, and HAProxy on the host in front of them,
// round-robin with no cookie (haproxy-roundrobin.cfg), health-checking /readyz. Every client
// connects through HAProxy on 127.0.0.1, so consecutive requests of one session (each
// long-polling GET and POST, the upgrade) may reach different nodes.
//
// For each client flavour (socket.io-client 4.8 and 2.5, each polling only, websocket only,
// and polling upgraded to websocket), a customer and an agent of their own department do the
// helpdesk flow: the customer's `support` is acknowledged 200 and routed to the agent
// (`assigned`, then the message), the agent's reply is acknowledged and reaches the customer,
// an integration's socket (API key in the query string) writes for the customer's session,
// a resend with the same client_msg_id is answered with the stored message, and the REST
// history (through HAProxy) holds every message once, seq 1..n in order.
//
// Needs root (network namespaces); otherwise the file is skipped with the reason.

import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { io, ms, bounded, sleep } from "../integration/helpers.mjs";
import { jwt } from "../integration/helpdesk-helpers.mjs";
import { netnsUsable, removeLeftovers, createTopology, destroyTopology } from "./netns.mjs";
import { RedisProc, NodeProc, TEST_API_KEY } from "./procs.mjs";
import { HaproxyProc } from "./haproxy.mjs";
import { STICKY_COOKIE, featureArgs } from "./features.mjs";

// socket.io-client 2.5.0, installed in tests/integration as the npm alias socket.io-client-v2.
const ioV2 = createRequire(new URL("../integration/package.json", import.meta.url))("socket.io-client-v2");

const NSP = "/helpdesk";
const NODES = 3;
const NODE_ARGS = ["--rate-limit", "200", "--rate-burst", "400"];
const CONNECT_MS = ms(10000);
const ACK_MS = ms(5000);
const EVENT_MS = ms(8000);

const why = netnsUsable({ nft: false });

const FLAVOURS = [];
for (const v2 of [false, true]) {
  for (const [kind, transports] of [["polling", ["polling"]], ["websocket", ["websocket"]], ["upgrade", ["polling", "websocket"]]]) {
    FLAVOURS.push({ v2, kind, transports, name: `${v2 ? "v2" : "v4"}-${kind}` });
  }
}

// One helpdesk client of either library, with the calls the flow needs.
class HdClient {
  constructor(url, flavour, { token, apiKey = false, label }) {
    this.label = label;
    this.flavour = flavour;
    const common = { transports: flavour.transports, forceNew: true, reconnection: false, timeout: CONNECT_MS };
    if (flavour.v2) {
      // 2.x has no auth payload: the token (and for an API key, token_source) in the query.
      this.sock = ioV2(`${url}${NSP}`, { ...common, query: apiKey ? { token, token_source: "api" } : { token } });
    } else {
      this.sock = io(`${url}${NSP}`, {
        ...common, withCredentials: !!STICKY_COOKIE,
        ...(apiKey ? { query: { token, token_source: "api" } } : { auth: { token } }),
      });
    }
    this.events = []; // [event, payload, at]
    for (const ev of ["support", "assigned"]) this.sock.on(ev, (p) => this.events.push([ev, p, Date.now()]));
  }

  connected() {
    const s = this.sock;
    if (s.connected) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const fail = (what) => (err) => { done(); reject(new Error(`${this.label}: ${what} ${err?.message ?? err ?? ""} ${JSON.stringify(err?.data ?? "")}`)); };
      const evs = { connect: () => { done(); resolve(); }, connect_error: fail("connect_error"), error: fail("error"), connect_timeout: fail("connect_timeout") };
      const t = setTimeout(() => fail("not connected within")(`${CONNECT_MS} ms`), CONNECT_MS);
      const done = () => { clearTimeout(t); for (const [e, h] of Object.entries(evs)) s.off(e, h); };
      for (const [e, h] of Object.entries(evs)) s.on(e, h);
    });
  }

  // The acknowledgement of a `support` event (its single argument).
  send(payload) {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`${this.label}: no ack for support ${JSON.stringify(payload)} within ${ACK_MS} ms`)), ACK_MS);
      this.sock.emit("support", payload, (body) => { clearTimeout(t); resolve(body); });
    });
  }

  // The first `event` whose payload satisfies match, received or still to come.
  async waitFor(event, match, what) {
    const end = Date.now() + EVENT_MS;
    for (;;) {
      const hit = this.events.find(([e, p]) => e === event && match(p));
      if (hit) return hit[1];
      if (Date.now() > end) {
        throw new Error(`${this.label}: no "${event}" ${what} within ${EVENT_MS} ms; got ${JSON.stringify(this.events.map(([e, p]) => [e, p?.data?.id ?? p?.ticket_chat_id])).slice(0, 400)}`);
      }
      await sleep(20);
    }
  }

  count(event, id) {
    return this.events.filter(([e, p]) => e === event && p?.data?.id === id).length;
  }

  transport() { return this.sock.io.engine?.transport?.name; }
  sid() { return this.sock.io.engine?.id; }

  async upgraded() {
    const end = Date.now() + ms(10000);
    while (this.transport() !== "websocket") {
      if (Date.now() > end) throw new Error(`${this.label}: still on ${this.transport()} 10 s after connecting (the upgrade did not happen)`);
      await sleep(50);
    }
  }

  close() {
    this.sock.close();
  }
}

async function history(proxy, chat) {
  const res = await fetch(`${proxy.url}/api/v1/helpdesk/conversations/${encodeURIComponent(chat)}/messages/?after_seq=0&limit=200`, {
    headers: { authorization: `Bearer ${TEST_API_KEY}` }, signal: AbortSignal.timeout(ms(5000)),
  });
  const body = await res.json().catch(() => null);
  assert.equal(res.status, 200, `GET history through HAProxy: ${JSON.stringify(body)}`);
  return body.data;
}

describe(`three nodes in their own network namespaces behind HAProxy round-robin (${STICKY_COOKIE ? `STICKY by cookie ${STICKY_COOKIE}, debugging` : "no cookie"})`, { skip: why ? `needs network namespaces: ${why}` : false }, () => {
  let topo = null, redis = null, proxy = null, dir = null;
  const nodes = [];
  const clients = new Set();

  before(async () => {
    const stale = removeLeftovers();
    if (stale.length) console.log(`# removed what an earlier run left: ${stale.join(", ")}`);
    topo = createTopology(NODES, { uplink: true });
    process.on("exit", () => destroyTopology(topo)); // however this file ends
    dir = mkdtempSync(path.join(tmpdir(), `sbfault-${process.pid}-redis-`));
    redis = new RedisProc({ host: topo.redis.host, port: topo.redis.port, dir, ns: topo.hub });
    await redis.start();
    for (const n of topo.nodes) {
      nodes.push(new NodeProc({ name: n.name, host: n.host, port: n.port, ns: n.ns, redisUrl: redis.url, args: [...NODE_ARGS, ...featureArgs()] }));
    }
    await Promise.all(nodes.map((n) => n.start()));
    proxy = new HaproxyProc(nodes, { cookie: STICKY_COOKIE });
    await proxy.start();
    console.log(`# haproxy ${proxy.url} -> ${nodes.map((n) => n.url).join(", ")}${STICKY_COOKIE ? `; STICKY by cookie ${STICKY_COOKIE} (debugging)` : ""}`);
  });

  after(async () => {
    for (const c of clients) c.close();
    await proxy?.stop();
    for (const n of nodes) if (n.alive()) await n.stop().catch(() => {});
    if (redis?.child?.alive()) await redis.kill();
    if (dir) rmSync(dir, { recursive: true, force: true });
    destroyTopology(topo);
    topo = null;
  });

  const open = (flavour, opts) => {
    const c = new HdClient(proxy.url, flavour, opts);
    clients.add(c);
    return c;
  };

  for (const f of FLAVOURS) {
    test(`${f.name}: customer -> ack -> agent -> reply -> customer; API key; resend; history once, in seq order`, bounded(60000), async () => {
      const dept = `mh-${f.name}`;
      const sub = `mh-${f.name}-customer`;
      const agentId = `mh-${f.name}-agent`;
      const agent = open(f, { label: `${f.name} agent`, token: jwt({ sub: agentId, role: "agent", name: "Agent", dept: [dept], max_chats: 5 }) });
      await agent.connected();
      const customer = open(f, { label: `${f.name} customer`, token: jwt({ sub, role: "customer", name: "Customer", dept: [dept] }) });
      await customer.connected();
      if (f.kind === "upgrade") await Promise.all([agent.upgraded(), customer.upgraded()]);

      // 1. The customer's first message: acknowledged, routed to the agent.
      const r1 = await customer.send({ session_id: sub, message: "hello", attachment: false, ticket_chat_id: null, client_msg_id: `${f.name}-c1` });
      assert.equal(r1?.status_code, 200, `first message: ${JSON.stringify(r1)}`);
      assert.equal(r1.data.seq, 1);
      const chat = r1.data.ticket_chat_id;
      const assigned = await agent.waitFor("assigned", (a) => a?.ticket_chat_id === chat, `for ${chat}`);
      assert.equal(assigned.agent?.id ?? agentId, agentId, "assigned to the department's agent");
      await agent.waitFor("support", (p) => p?.data?.id === r1.data.id, "with the customer's message");

      // 2. The agent's reply reaches the customer.
      const r2 = await agent.send({ ticket_chat_id: chat, message: "hi, how can I help?", attachment: false, client_msg_id: `${f.name}-a1` });
      assert.equal(r2?.status_code, 200, `reply: ${JSON.stringify(r2)}`);
      assert.equal(r2.data.seq, 2);
      await customer.waitFor("support", (p) => p?.data?.id === r2.data.id, "with the agent's reply");

      // 3. An integration (API key in the query string) writes for the customer's session.
      const api = open(f, { label: `${f.name} api`, token: TEST_API_KEY, apiKey: true });
      await api.connected();
      const r3 = await api.send({ session_id: sub, message: "from the backend", attachment: false, ticket_chat_id: chat, client_msg_id: `${f.name}-api1` });
      assert.equal(r3?.status_code, 200, `API key: ${JSON.stringify(r3)}`);
      assert.equal(r3.data.seq, 3);
      await agent.waitFor("support", (p) => p?.data?.id === r3.data.id, "with the integration's message");

      // 4. A message sent twice with one client_msg_id (a retry): stored once, same answer.
      const r4 = await customer.send({ session_id: sub, message: "are you there?", attachment: false, ticket_chat_id: chat, client_msg_id: `${f.name}-c2` });
      assert.equal(r4?.status_code, 200, `second message: ${JSON.stringify(r4)}`);
      const r4again = await customer.send({ session_id: sub, message: "are you there?", attachment: false, ticket_chat_id: chat, client_msg_id: `${f.name}-c2` });
      assert.equal(r4again?.status_code, 200, `resend: ${JSON.stringify(r4again)}`);
      assert.deepEqual([r4again.data.id, r4again.data.seq], [r4.data.id, 4], "the resend answered with the stored message");
      await agent.waitFor("support", (p) => p?.data?.id === r4.data.id, "with the customer's second message");
      const r5 = await agent.send({ ticket_chat_id: chat, message: "yes", attachment: false, client_msg_id: `${f.name}-a2` });
      assert.equal(r5?.status_code, 200, `second reply: ${JSON.stringify(r5)}`);
      await customer.waitFor("support", (p) => p?.data?.id === r5.data.id, "with the second reply");

      // 5. The history, read through HAProxy: every message once, seq 1..n in order.
      const want = [r1, r2, r3, r4, r5].map((r) => r.data);
      const hist = await history(proxy, chat);
      assert.deepEqual(hist.map((m) => [m.seq, m.id, m.client_msg_id]), want.map((m, i) => [i + 1, m.id, m.client_msg_id]));
      assert.deepEqual(hist.map((m) => m.sender.type), ["customer", "agent", "customer", "customer", "agent"]);

      // Live delivery once each to the other party (a repeat would be allowed by the
      // contract, but on a steady connection none is expected).
      for (const m of [r1, r3, r4]) assert.equal(agent.count("support", m.data.id), 1, `agent got ${m.data.client_msg_id} once`);
      for (const m of [r2, r5]) assert.equal(customer.count("support", m.data.id), 1, `customer got ${m.data.client_msg_id} once`);
      if (f.kind === "polling") assert.equal(customer.transport(), "polling", "still on polling");

      // What round-robin did with the customer's polling session (HAProxy's request log; a
      // websocket-only session is one request, without its sid): its requests went to
      // several nodes, unless the sticky cookie of the debugging mode held them on one.
      if (f.kind !== "websocket") {
        await sleep(200); // the log lines of the last requests
        const servers = proxy.serversOf(customer.sid());
        if (STICKY_COOKIE) assert.equal(servers.size, 1, `sticky: one node: ${[...servers]}`);
        else assert.ok(servers.size >= 2, `the session's requests spread over nodes by round-robin: ${[...servers]}`);
      }
      for (const c of [agent, customer, api]) {
        c.close();
        clients.delete(c);
      }
    });
  }

  test("round-robin spread the sessions over every node", bounded(10000), async () => {
    const total = await proxy.status("stot");
    for (const n of nodes) assert.ok(Number(total[n.name]) > 0, `node ${n.name} got connections through HAProxy: ${JSON.stringify(total)}`);
  });

  test("every node exits 0 on SIGTERM, with no crash and no sanitizer report", bounded(30000), async () => {
    for (const c of clients) c.close();
    clients.clear();
    await proxy.stop();
    for (const n of nodes) await n.stop();
    assert.deepEqual(nodes.flatMap((n) => n.findings()), []);
  });
});
