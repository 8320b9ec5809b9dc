// load.mjs: the customers and agents of the fault harness, on the real socket.io-client,
// written to the helpdesk contract v1.1 (shared spec, §1, §3, §4):
//
// - every party keeps one socket.io-client Socket that reconnects by itself; each attempt
//   goes to the next node of the cluster (an app given several addresses), and its `auth`
//   is a function, so every CONNECT carries `resume: { <ticket_chat_id>: <last seq it has> }`
//   (the highest seq up to which it has every message of that conversation);
// - every send carries a `client_msg_id` and is retried with the SAME id after a 503, an ack
//   timeout or a disconnect (and, counted as unexpected, after any other answer) until it is
//   acknowledged 200;
// - customers send continuously (ticket_chat_id null for the first message, then their
//   conversation); agents reply once to every customer message they receive, keyed by its
//   `id` (so a repeat gets no second reply), one conversation's replies in order;
// - everyone records every `support` it receives by `id` (repeats counted, not applied twice)
//   and every attempt of every send with its time and outcome, for check.mjs.

import { setTimeout as sleep } from "node:timers/promises";
import { io, ms } from "../integration/helpers.mjs";
import { jwt } from "../integration/helpdesk-helpers.mjs";

const NSP = "/helpdesk";
const DEPT = "faults";
const TOKEN_LIFETIME_S = 4 * 3600;

const jitter = (n) => Math.round(n * (0.5 + Math.random()));

class Party {
  constructor({ id, role, token, nodes, first, transports, ackTimeoutMs, withCredentials = false }) {
    Object.assign(this, { id, role, token, nodes, transports, ackTimeoutMs, withCredentials });
    this.nodeIdx = first % nodes.length;
    this.received = new Map(); // message id -> how many times it arrived as `support`
    this.receipts = []; // { id, chat, seq, at }
    this.have = new Map(); // chat -> { seqs: Set, hw: highest seq with every seq up to it }
    this.conn = []; // { at, type: "connect" | "disconnect" | "connect_error", node, reason }
    this.failures = []; // `support` failure notices (status_code != 200)
    this.stopHard = false; // give up every send still being retried
    this.sock = null;
  }

  get nodeName() { return this.nodes[this.nodeIdx].name; }

  // What this party has of chat: for `resume`.
  markSeq(chat, seq) {
    let h = this.have.get(chat);
    if (!h) this.have.set(chat, h = { seqs: new Set(), hw: 0 });
    h.seqs.add(seq);
    while (h.seqs.has(h.hw + 1)) h.seqs.delete(++h.hw);
  }

  auth() {
    const a = { token: this.token };
    if (this.have.size) a.resume = Object.fromEntries([...this.have].map(([chat, h]) => [chat, h.hw]));
    return a;
  }

  connect() {
    const node = this.nodes[this.nodeIdx];
    const s = io(`${node.url}${NSP}`, {
      forceNew: true,
      transports: this.transports,
      withCredentials: this.withCredentials, // keeps a sticky cookie (debugging, features.mjs)
      reconnection: true,
      reconnectionDelay: 200,
      reconnectionDelayMax: 1000,
      randomizationFactor: 0.5,
      timeout: ms(5000),
      auth: (cb) => cb(this.auth()),
    });
    this.sock = s;
    s.io.on("reconnect_attempt", () => {
      this.nodeIdx = (this.nodeIdx + 1) % this.nodes.length;
      s.io.uri = `${this.nodes[this.nodeIdx].url}${NSP}`;
    });
    s.on("connect", () => this.conn.push({ at: Date.now(), type: "connect", node: this.nodeName }));
    s.on("disconnect", (reason) => {
      this.conn.push({ at: Date.now(), type: "disconnect", node: this.nodeName, reason });
      // A disconnect the client did not ask for and the manager will not retry by itself
      // ("io server disconnect"): connect again, to the next node.
      if (reason === "io server disconnect" && !this.closed) {
        this.nodeIdx = (this.nodeIdx + 1) % this.nodes.length;
        s.io.uri = `${this.nodes[this.nodeIdx].url}${NSP}`;
        setTimeout(() => { if (!this.closed) s.connect(); }, 200);
      }
    });
    s.on("connect_error", (err) => {
      this.conn.push({ at: Date.now(), type: "connect_error", node: this.nodeName, reason: err?.message });
      // Refused by the namespace (not a transport failure): the manager does not retry that.
      if (err?.data && !this.closed) {
        this.nodeIdx = (this.nodeIdx + 1) % this.nodes.length;
        s.io.uri = `${this.nodes[this.nodeIdx].url}${NSP}`;
        setTimeout(() => { if (!this.closed) s.connect(); }, 500);
      }
    });
    s.on("support", (p) => {
      if (p?.status_code !== 200 || !p.data?.id) {
        this.failures.push({ at: Date.now(), body: p });
        return;
      }
      const m = p.data;
      this.received.set(m.id, (this.received.get(m.id) ?? 0) + 1);
      this.receipts.push({ id: m.id, chat: m.ticket_chat_id, seq: m.seq, at: Date.now() });
      this.markSeq(m.ticket_chat_id, m.seq);
      this.onMessage?.(m);
    });
    return s;
  }

  waitConnected(timeoutMs = ms(30000)) {
    if (this.sock.connected) return Promise.resolve(true);
    return new Promise((resolve) => {
      const t = setTimeout(() => { this.sock.off("connect", ok); resolve(false); }, timeoutMs);
      const ok = () => { clearTimeout(t); this.sock.off("connect", ok); resolve(true); };
      this.sock.on("connect", ok);
    });
  }

  // Sends rec until it is acknowledged 200 (or stopHard). rec: { cmid, attempts, data }.
  async sendReliable(rec, payload) {
    let others = 0;
    while (!this.stopHard) {
      if (!this.sock.connected && !(await this.waitConnected(ms(1000)))) continue;
      const start = Date.now();
      const node = this.nodeName;
      let outcome, body;
      try {
        body = await this.sock.timeout(this.ackTimeoutMs).emitWithAck("support", payload());
        outcome = String(body?.status_code);
      } catch (e) {
        outcome = /disconnected/.test(e.message) ? "disconnect" : "timeout";
      }
      rec.attempts.push({ start, end: Date.now(), outcome, node, error: body?.error?.code });
      if (outcome === "200") {
        rec.data = body.data;
        this.markSeq(body.data.ticket_chat_id, body.data.seq);
        return;
      }
      if (outcome === "503") await sleep(200);
      else if (outcome === "timeout" || outcome === "disconnect") await sleep(100);
      else {
        // 4xx: not what a well-behaved client should ever get here. Counted; retried slowly.
        if (++others > 5) { rec.gaveUp = true; return; }
        await sleep(1000);
      }
    }
    rec.gaveUp = true;
  }

  close() {
    this.closed = true;
    this.sock?.disconnect();
    this.sock?.io.engine?.close();
  }
}

export class Customer extends Party {
  constructor(opts) {
    super({ ...opts, role: "customer",
      token: jwt({ sub: opts.id, role: "customer", name: `Customer ${opts.id}`, dept: [DEPT] }, { expIn: TOKEN_LIFETIME_S }) });
    this.chat = null;
    this.msgs = [];
    this.stopping = false;
  }

  // Sends one message after another, a jittered intervalMs apart, until stop().
  run(intervalMs) {
    this.loop = (async () => {
      await sleep(Math.random() * intervalMs);
      for (let i = 1; !this.stopping; i++) {
        const rec = { cmid: `${this.id}-m${i}`, from: this, attempts: [], data: null };
        this.msgs.push(rec);
        await this.sendReliable(rec, () => ({
          session_id: this.id, message: `${this.id} line ${i}`, attachment: false,
          ticket_chat_id: this.chat, client_msg_id: rec.cmid,
        }));
        if (rec.data) this.chat ??= rec.data.ticket_chat_id;
        if (!this.stopping) await sleep(jitter(intervalMs));
      }
    })();
    return this.loop;
  }
}

export class Agent extends Party {
  constructor({ maxChats, ...opts }) {
    super({ ...opts, role: "agent",
      token: jwt({ sub: opts.id, role: "agent", name: `Agent ${opts.id}`, dept: [DEPT], max_chats: maxChats }, { expIn: TOKEN_LIFETIME_S }) });
    this.chats = new Map(); // chat -> first `assigned` time
    this.replied = new Set(); // customer message ids answered (or being answered)
    this.chains = new Map(); // chat -> promise of its last reply
    this.pending = 0;
    this.msgs = [];
    this.onMessage = (m) => {
      if (m.sender?.type !== "customer" || this.replied.has(m.id)) return;
      this.replied.add(m.id);
      this.pending++;
      const prev = this.chains.get(m.ticket_chat_id) ?? Promise.resolve();
      this.chains.set(m.ticket_chat_id, prev.then(() => this.reply(m)).finally(() => { this.pending--; }));
    };
  }

  connect() {
    const s = super.connect();
    s.on("assigned", (a) => {
      if (!a?.ticket_chat_id) return;
      if (a.agent?.id && a.agent.id !== this.id) return;
      if (!this.chats.has(a.ticket_chat_id)) this.chats.set(a.ticket_chat_id, Date.now());
    });
    return s;
  }

  async reply(m) {
    const rec = { cmid: `${this.id}-re-${m.id}`, from: this, replyTo: m.id, chat: m.ticket_chat_id, attempts: [], data: null };
    this.msgs.push(rec);
    await this.sendReliable(rec, () => ({
      ticket_chat_id: m.ticket_chat_id, message: `re: ${m.message}`, attachment: false, client_msg_id: rec.cmid,
    }));
  }
}
