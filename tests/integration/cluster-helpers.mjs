// cluster-helpers.mjs: several nodes on one real Redis, and what the cluster tests need
// around them: HAProxy in front, the @socket.io/redis-emitter, a Node.js node driven from
// inside the test, and delivery counting.
//
// A node is one of three kinds, so a test names its topology and runs against either:
//   "echo"          our switchboard-echo with --redis (started through helpers.startServer,
//                   so the sanitizer and clean-exit checks apply at stop)
//   "node"          fixtures/node-echo-cluster.mjs: socket.io 4.8 + @socket.io/redis-adapter
//   "node-streams"  the same on @socket.io/redis-streams-adapter (recovery across nodes)
// SWITCHBOARD_CLUSTER_REFERENCE=1 turns every "echo" into its reference kind: the files then
// run against Node.js nodes only and must pass, which shows the tests ask for what the
// reference does.
//
// Every node gets the same flags: --redis URL --node-id ID [--redis-prefix P] [--cookie C]
// [--recovery-window MS]. A node is ready when GET /readyz answers 200 (Redis connected and
// subscribed); a cluster is ready when every node of the pub/sub kinds is counted by
// PUBSUB NUMSUB on the request channel, which is how a Node.js peer counts the servers
// that must answer it.

import { before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { accessSync, constants, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createClient } from "redis";
import { Emitter } from "@socket.io/redis-emitter";
import {
  HOST, ms, sleep, deadline, freePort, startServer, request, client, closeClients, connected, emitAck,
} from "./helpers.mjs";
import { startNodeEcho } from "./fixtures/node-echo-cluster.mjs";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const NODE_FIXTURE = path.join(HERE, "fixtures", "node-echo-cluster.mjs");
const HAPROXY_TEMPLATE = path.join(HERE, "fixtures", "haproxy.cfg.tmpl");
const VERBOSE = process.env.SWITCHBOARD_TEST_VERBOSE === "1";

const REFERENCE = process.env.SWITCHBOARD_CLUSTER_REFERENCE === "1";
export const DEFAULT_PREFIX = "socket.io";
const PUBSUB_KINDS = new Set(["echo", "node"]);

// The topology a test asked for, or its reference twin under SWITCHBOARD_CLUSTER_REFERENCE.
export function nodeKinds(kinds, referenceKind = "node") {
  return REFERENCE ? kinds.map((k) => (k === "echo" ? referenceKind : k)) : kinds;
}

const children = new Set();
process.on("exit", () => {
  for (const p of children) p.kill("SIGKILL");
});

// A program from the environment (ctest passes what CMake found), else from PATH or the
// sbin folders a non-root PATH lacks; undefined when none.
export function program(name, envVar) {
  const dirs = [...(process.env.PATH ?? "").split(":"), "/usr/sbin", "/usr/bin"].filter(Boolean);
  for (const p of [process.env[envVar], ...dirs.map((d) => path.join(d, name))].filter(Boolean)) {
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch { /* next */ }
  }
  throw new Error(`${name} not found (${envVar}=${process.env[envVar] ?? ""}, PATH); scripts/setup.sh installs the Debian package ${name}`);
}

// A child that is not a switchboard binary: output kept for failure messages.
function spawnLogged(label, bin, argv) {
  const proc = spawn(bin, argv, { stdio: ["ignore", "pipe", "pipe"] });
  const out = [];
  const keep = (d) => {
    out.push(d);
    if (VERBOSE) process.stderr.write(`[${label}] ${d}`);
  };
  proc.stdout.on("data", keep);
  proc.stderr.on("data", keep);
  let exitInfo = null;
  const exited = new Promise((resolve) => proc.on("exit", (code, signal) => {
    children.delete(proc);
    exitInfo = { code, signal };
    resolve(exitInfo);
  }));
  const spawnError = new Promise((resolve) => proc.on("error", resolve));
  children.add(proc);
  return {
    proc, exited, spawnError,
    alive: () => exitInfo === null,
    exitInfo: () => exitInfo,
    log: (n = 3000) => Buffer.concat(out).toString("utf8").slice(-n),
  };
}

// Spawns bin with argv(ports) on `count` free ports (or the fixed ones) and polls
// ready(ports) until it answers true. When the child exits complaining that a port is
// taken, tries again: on other ports, or after a pause on the same fixed ones. Resolves
// with { child, ports }.
async function startChild({ label, bin, argv, ready, count = 1, fixed = null, timeoutMs = ms(10000) }) {
  const end = Date.now() + timeoutMs;
  for (let attempt = 0; ; attempt++) {
    const ports = fixed ?? await Promise.all(Array.from({ length: count }, () => freePort()));
    const child = spawnLogged(label, bin, argv(ports));
    while (child.alive() && Date.now() < end) {
      const err = await Promise.race([child.spawnError, sleep(0).then(() => null)]);
      if (err) throw new Error(`cannot start ${bin}: ${err.message}`);
      if (await ready(ports).catch(() => false)) return { child, ports };
      await sleep(50);
    }
    if (child.alive()) {
      await endChild(child, "SIGKILL", ms(5000));
      throw new Error(`${label} on ports ${ports} not ready within ${timeoutMs} ms\n${child.log()}`);
    }
    const busy = /in use|bind/i.test(child.log());
    if (busy && (fixed ? Date.now() < end : attempt < 3)) {
      await sleep(200);
      continue;
    }
    throw new Error(`${label} on ports ${ports} exited: ${JSON.stringify(child.exitInfo())}\n${child.log()}`);
  }
}

// Ends a child: signal, then SIGKILL if it is still there after timeoutMs. Resolves with
// its exit info, or null when it took SIGKILL.
async function endChild(child, signal, timeoutMs) {
  if (!child.alive()) return child.exitInfo();
  child.proc.kill(signal);
  const info = await Promise.race([child.exited, deadline(timeoutMs)]);
  if (info) return info;
  child.proc.kill("SIGKILL");
  await child.exited;
  return null;
}

// ---------- Redis ----------

// One command on a fresh node-redis connection that does not reconnect.
async function redisCommand(port, args, timeoutMs = ms(2000)) {
  const c = createClient({ socket: { host: HOST, port, connectTimeout: timeoutMs, reconnectStrategy: false } });
  c.on("error", () => {});
  try {
    await c.connect();
    return await c.sendCommand(args.map(String));
  } finally {
    await c.disconnect().catch(() => {});
  }
}

// A real redis-server on a loopback port, no persistence. stop()/kill() and start() again
// keep the port, so nodes find it where it was.
export class RedisServer {
  constructor() {
    this.bin = program("redis-server", "REDIS_SERVER_BIN");
    this.dir = mkdtempSync(path.join(tmpdir(), "sb-redis-"));
    this.port = null;
    this.child = null;
  }

  get url() {
    return `redis://${HOST}:${this.port}`;
  }

  async start() {
    assert.ok(!this.child, "redis-server is already running");
    const { child, ports: [port] } = await startChild({
      label: "redis-server", bin: this.bin, fixed: this.port === null ? null : [this.port],
      argv: ([p]) => ["--port", String(p), "--bind", HOST, "--save", "", "--appendonly", "no",
        "--dir", this.dir, "--daemonize", "no"],
      ready: async ([p]) => (await redisCommand(p, ["PING"], ms(500))) === "PONG",
    });
    this.port = port;
    this.child = child;
    return this;
  }

  // SIGTERM: Redis closes every connection and exits 0 (nothing to save).
  async stop({ timeoutMs = ms(5000) } = {}) {
    const child = this.child;
    if (!child) return;
    this.child = null;
    const info = await endChild(child, "SIGTERM", timeoutMs);
    assert.deepEqual(info, { code: 0, signal: null },
      `redis-server after SIGTERM: ${info ? JSON.stringify(info) : `still running after ${timeoutMs} ms`}\n${child.log()}`);
  }

  // SIGKILL: the kernel drops every connection, Redis says nothing.
  async kill() {
    const child = this.child;
    if (!child) return;
    this.child = null;
    await endChild(child, "SIGKILL", ms(5000));
  }

  // How many connections subscribe to channel (what a Node.js peer's serverCount() sees).
  async numsub(channel) {
    const [, n] = await redisCommand(this.port, ["PUBSUB", "NUMSUB", channel]);
    return Number(n);
  }

  async dispose() {
    try {
      await this.stop();
    } finally {
      rmSync(this.dir, { recursive: true, force: true });
    }
  }
}

export async function startRedis() {
  return new RedisServer().start();
}

// ---------- nodes ----------

const requestChannel = (prefix = DEFAULT_PREFIX, nsp = "/") => `${prefix}-request#${nsp}#`;

// The flags every kind of node takes.
function nodeFlags({ redis, nodeId, prefix, cookie, recoveryWindow }) {
  const flags = ["--redis", redis.url, "--node-id", nodeId];
  if (prefix) flags.push("--redis-prefix", prefix);
  if (cookie) flags.push("--cookie", cookie);
  if (recoveryWindow) flags.push("--recovery-window", String(recoveryWindow));
  return flags;
}

// Starts one node of `kind` on redis and waits for GET /readyz 200. The returned
// ServerProcess also carries kind, nodeId and prefix.
export async function startNode({ kind, redis, nodeId, prefix, cookie, recoveryWindow, args = [], port }) {
  const flags = [...nodeFlags({ redis, nodeId, prefix, cookie, recoveryWindow }), ...args];
  let node;
  if (kind === "echo") {
    node = await startServer({ kind: "echo", args: flags, port });
  } else if (kind === "node" || kind === "node-streams") {
    const adapter = kind === "node" ? "redis" : "redis-streams";
    node = await startServer({ kind, command: [process.execPath, NODE_FIXTURE], args: [...flags, "--adapter", adapter], port });
  } else {
    throw new Error(`unknown node kind ${kind}`);
  }
  Object.assign(node, { kind, nodeId, prefix: prefix ?? DEFAULT_PREFIX });
  try {
    await waitStatus(node, "/readyz", 200, { what: `${nodeId} (${kind}) ready on ${redis.url}` });
  } catch (e) {
    await node.kill();
    throw e;
  }
  return node;
}

async function httpStatus(node, path) {
  try {
    return (await request(node.port, { path, timeoutMs: ms(1000) })).status;
  } catch (e) {
    return `error: ${e.message}`;
  }
}

// Polls GET path until it answers status.
export async function waitStatus(node, path, status, { timeoutMs = ms(10000), what } = {}) {
  const end = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = await httpStatus(node, path);
    if (last === status) return;
    if (Date.now() > end) break;
    await sleep(100);
  }
  assert.fail(`${what ?? `${node.nodeId} GET ${path}`}: expected ${status} within ${timeoutMs} ms, last answer ${last}\n${node.stderrTail?.() ?? ""}`);
}

// Waits until `count` connections subscribe to the request channel of each namespace:
// every pub/sub node, counted the way a Node.js peer counts the servers that must answer.
export async function waitPeers(redis, count, { prefix = DEFAULT_PREFIX, namespaces = ["/", "/custom"], timeoutMs = ms(10000) } = {}) {
  for (const nsp of namespaces) {
    const channel = requestChannel(prefix, nsp);
    await eventually(async () => {
      const n = await redis.numsub(channel);
      assert.equal(n, count, `PUBSUB NUMSUB ${channel}: every node subscribes to it exactly once`);
    }, { timeoutMs });
  }
}

// Nodes of `kinds` on one Redis, numbered from `first` (node ids "<kind>-<n>").
export async function startNodes(kinds, { redis, first = 1, idPrefix = "", ...opts }) {
  const started = await Promise.allSettled(kinds.map((kind, i) =>
    startNode({ kind, redis, nodeId: `${idPrefix}${kind}-${first + i}`, ...opts })));
  const failed = started.find((r) => r.status === "rejected");
  const nodes = started.filter((r) => r.status === "fulfilled").map((r) => r.value);
  if (failed) {
    await Promise.allSettled(nodes.map((n) => n.kill()));
    throw failed.reason;
  }
  const pubsub = kinds.filter((k) => PUBSUB_KINDS.has(k)).length;
  if (pubsub === kinds.length) await waitPeers(redis, pubsub, { prefix: opts.prefix });
  return nodes;
}

// Stops (and checks) every node still meant to run; a node killed on purpose is skipped.
export async function stopNodes(nodes) {
  const results = await Promise.allSettled(nodes.filter((n) => !n.killedOnPurpose).map((n) => n.stop()));
  const failed = results.find((r) => r.status === "rejected");
  if (failed) throw failed.reason;
}

// One Redis and nodes of `kinds` for the enclosing file or describe block; with `emitter`
// also an @socket.io/redis-emitter on it, with `driver` also a Node.js node in this process
// (startDriver). Clients are closed after each test; the emitter, the driver and the nodes
// (stopped and checked) after the last, then Redis. The returned object is filled in
// before the first test runs. (One hook set per scope: Node 20 does not wait for one
// top-level before() hook to finish before it starts the next.)
export function useCluster({ kinds, emitter = false, driver = false, ...opts }) {
  const cluster = { redis: null, nodes: [], kinds, emitter: null, driver: null };
  let closeEmitter = null;
  before(async () => {
    cluster.redis = await startRedis();
    cluster.nodes = await startNodes(kinds, { redis: cluster.redis, ...opts });
    if (emitter) ({ emitter: cluster.emitter, close: closeEmitter } = await startEmitter(cluster.redis, opts));
    if (driver) {
      cluster.driver = await startDriver({ redis: cluster.redis, prefix: opts.prefix });
      await waitPeers(cluster.redis, kinds.length + 1, { prefix: opts.prefix });
    }
  });
  afterEach(() => closeClients());
  after(async () => {
    closeClients();
    await closeEmitter?.();
    await cluster.driver?.close();
    try {
      await stopNodes(cluster.nodes);
    } finally {
      await cluster.redis?.dispose();
    }
  });
  return cluster;
}

export async function killNode(node) {
  node.killedOnPurpose = true;
  await node.kill();
}

// A Node.js node in this process, for tests that drive the adapter API (fetchSockets,
// serverSideEmit, ...) across the cluster. close() at the end.
export function startDriver({ redis, nodeId = "driver", prefix, requestsTimeout = ms(5000) }) {
  return startNodeEcho({ redis: redis.url, nodeId, prefix, requestsTimeout });
}

// ---------- clients ----------

// A client of `node` that joined `rooms`; label says where it is for failure messages.
export async function member(node, { nsp = "/", transport = "websocket", rooms = [], opts = {} } = {}) {
  const s = client(node, nsp, { transports: [transport], ...opts });
  s.label = `${node.nodeId}${nsp === "/" ? "" : nsp}/${transport}`;
  s.node = node;
  await connected(s);
  for (const room of rooms) await emitAck(s, "join", room);
  return s;
}

// On every node: a websocket and a polling client that joined `rooms` (members), and a
// websocket client in no room (outsiders).
export async function clientsOnEveryNode(nodes, rooms, { nsp = "/" } = {}) {
  const members = [];
  const outsiders = [];
  for (const node of nodes) {
    for (const transport of ["websocket", "polling"]) members.push(await member(node, { nsp, transport, rooms }));
    outsiders.push(await member(node, { nsp }));
  }
  return { members, outsiders };
}

// The sockets (from member()) connected to node.
export const onNode = (sockets, node) => sockets.filter((s) => s.node === node);

// A client that reconnects by itself, trying the next URL of `nodes` on every attempt:
// what an app given two addresses does when its node goes away.
export function failoverClient(nodes, nsp = "/", opts = {}) {
  const s = client(nodes[0], nsp, {
    reconnection: true, reconnectionDelay: 100, reconnectionDelayMax: 300, randomizationFactor: 0, ...opts,
  });
  let i = 0;
  s.io.on("reconnect_attempt", () => {
    i = (i + 1) % nodes.length;
    s.io.uri = nodes[i].url + nsp;
  });
  s.label = `failover(${nodes.map((n) => n.nodeId).join(",")})`;
  return s;
}

// The node a client is connected to, as the node says (echo event `whoami`).
export async function whoami(socket) {
  const [id] = await emitAck(socket, "whoami");
  return id;
}

// ---------- delivery counting ----------

// Counts, per socket, how often each token (the event's first argument) arrived.
export function tally(sockets, event) {
  const seen = new Map(sockets.map((s) => [s, new Map()]));
  const listeners = new Set();
  for (const s of sockets) {
    s.on(event, (token) => {
      const m = seen.get(s);
      m.set(token, (m.get(token) ?? 0) + 1);
      for (const l of listeners) l();
    });
  }
  const count = (s, token) => seen.get(s).get(token) ?? 0;
  return {
    count,
    tokens: (s) => [...seen.get(s).keys()],
    // Resolves once every socket of `to` has `token`; fails at the deadline naming the
    // sockets still waiting.
    reached(to, token, timeoutMs = ms(5000)) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (to.every((s) => count(s, token) > 0)) { done(); resolve(); }
        };
        const t = setTimeout(() => {
          done();
          const missing = to.filter((s) => count(s, token) === 0).map((s) => s.label);
          reject(new Error(`"${event}" ${JSON.stringify(token)} did not reach ${missing.join(", ")} within ${timeoutMs} ms`));
        }, timeoutMs);
        const done = () => { clearTimeout(t); listeners.delete(check); };
        listeners.add(check);
        check();
      });
    },
    // Every socket of `to` got token exactly once, every socket of `notTo` never.
    assertExactlyOnce(token, to, notTo = []) {
      for (const s of to) assert.equal(count(s, token), 1, `${s.label} got "${event}" ${JSON.stringify(token)} ${count(s, token)} times`);
      for (const s of notTo) assert.equal(count(s, token), 0, `${s.label} must not get "${event}" ${JSON.stringify(token)}`);
    },
    // No socket got any token twice.
    assertNoDuplicates() {
      for (const [s, m] of seen) {
        const dup = [...m].filter(([, n]) => n > 1);
        assert.deepEqual(dup, [], `${s.label} got "${event}" tokens more than once: ${JSON.stringify(dup).slice(0, 300)}`);
      }
    },
  };
}

// The arguments of the first `event` on socket whose first argument is token: a wait that
// a late copy of an earlier broadcast cannot satisfy.
export function eventWith(socket, event, token, timeoutMs = ms(5000)) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      socket.off(event, h);
      reject(new Error(`${socket.label}: no "${event}" ${JSON.stringify(token)} within ${timeoutMs} ms`));
    }, timeoutMs);
    const h = (...args) => {
      if (args[0] !== token) return;
      clearTimeout(t);
      socket.off(event, h);
      resolve(args);
    };
    socket.on(event, h);
  });
}

// Sends fresh tokens (send(token)) every intervalMs until one of them reached every socket
// of `to`: for links that come back after a fault. Resolves with that token.
export async function untilDelivered(t, to, send, { timeoutMs = ms(15000), intervalMs = ms(300), label = "probe" } = {}) {
  const end = Date.now() + timeoutMs;
  for (let i = 0; ; i++) {
    const token = `${label}-${i}-${Math.random().toString(36).slice(2, 8)}`;
    send(token);
    try {
      await t.reached(to, token, intervalMs);
      return token;
    } catch (e) {
      if (Date.now() > end) throw new Error(`no ${label} got through within ${timeoutMs} ms: ${e.message}`);
    }
  }
}

// Retries fn (assertions inside) until it passes or the deadline, then throws its last error.
export async function eventually(fn, { timeoutMs = ms(5000), intervalMs = 100 } = {}) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await fn();
    } catch (e) {
      if (Date.now() > end) throw e;
      await sleep(intervalMs);
    }
  }
}

// ---------- the emitter ----------

// @socket.io/redis-emitter on its own Redis connection.
export async function startEmitter(redis, { prefix } = {}) {
  const redisClient = createClient({ url: redis.url });
  redisClient.on("error", () => {});
  await redisClient.connect();
  const emitter = new Emitter(redisClient, prefix ? { key: prefix } : {});
  return { emitter, close: () => redisClient.disconnect().catch(() => {}) };
}

// ---------- HAProxy ----------

function renderTemplate(file, values) {
  return readFileSync(file, "utf8").replace(/\{\{(\w+)\}\}/g, (_, k) => {
    assert.ok(k in values, `${file}: no value for {{${k}}}`);
    return values[k];
  });
}

// HAProxy in front of `nodes` (fixtures/haproxy.cfg.tmpl): a foreground child (-db) on a
// free loopback port, sticky by the `cookie` the nodes set (cookie: null: no stickiness,
// every request balanced round-robin on its own), health checks on /healthz; ready once
// its stats page shows every server UP. Started as root it drops to nobody once bound.
// stop() ends it.
export async function startHaproxy(nodes, { cookie = "io", checkInterMs = 300 } = {}) {
  const dir = mkdtempSync(path.join(tmpdir(), "sb-haproxy-"));
  const cfg = path.join(dir, "haproxy.cfg");
  const names = nodes.map((n) => n.nodeId);
  const { child, ports: [port, statsPort] } = await startChild({
    label: "haproxy", bin: program("haproxy", "HAPROXY_BIN"), count: 2,
    argv: ([p, stats]) => {
      writeFileSync(cfg, renderTemplate(HAPROXY_TEMPLATE, {
        PORT: p, STATS_PORT: stats, CHECK_INTER: `${checkInterMs}ms`,
        COOKIE_LINE: cookie ? `cookie ${cookie} prefix indirect nocache` : "",
        USER: process.getuid?.() === 0 ? "user nobody\n    group nogroup" : "",
        SERVERS: nodes.map((n) => `server ${n.nodeId} ${HOST}:${n.port}${cookie ? ` cookie ${n.nodeId}` : ""}`).join("\n    "),
      }));
      return ["-f", cfg, "-db"];
    },
    ready: async ([, stats]) => {
      const st = await haproxyStatus(stats);
      return names.every((n) => st[n] === "UP");
    },
  });
  return new HaproxyProcess(child, port, statsPort, dir);
}

// { serverName: "UP" | "DOWN" | ... } of backend "nodes", from the stats page's CSV.
async function haproxyStatus(statsPort) {
  const res = await request(statsPort, { path: "/stats;csv", timeoutMs: ms(1000) });
  const [header, ...rows] = res.text.trim().split("\n").map((l) => l.split(","));
  const col = (name) => header.indexOf(name);
  const out = {};
  for (const r of rows) {
    if (r[col("# pxname")] === "nodes" && !["FRONTEND", "BACKEND"].includes(r[col("svname")])) {
      out[r[col("svname")]] = r[col("status")];
    }
  }
  return out;
}

export class HaproxyProcess {
  constructor(child, port, statsPort, dir) {
    this.child = child;
    this.port = port;
    this.statsPort = statsPort;
    this.dir = dir;
    this.url = `http://${HOST}:${port}`;
    this.path = "/socket.io/";
    this.nodeId = "haproxy";
  }

  status() {
    return haproxyStatus(this.statsPort);
  }

  async stop() {
    await endChild(this.child, "SIGTERM", ms(3000));
    rmSync(this.dir, { recursive: true, force: true });
  }
}
