// harness.mjs: one fault run. Starts redis-server (AOF, appendfsync always) and the nodes in
// the topology it is given, connects the agents then the customers, lets the load run, then
// applies the faults one after another, each followed by a settle period; then drains the
// load, reads every conversation back over REST, stops everything, checks and prints.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { ms, TIME_SCALE } from "../integration/helpers.mjs";
import { RedisProc, NodeProc, TEST_API_KEY } from "./procs.mjs";
import { Customer, Agent } from "./load.mjs";
import { analyse, formatTable } from "./check.mjs";
import { cutFromRedis, restoreToRedis } from "./netns.mjs";
import { HaproxyProc } from "./haproxy.mjs";
import { STICKY_COOKIE, featureArgs } from "./features.mjs";

// Durations in ms; those in SCALED are multiplied by SWITCHBOARD_TIME_SCALE.
const SCALED = ["ackTimeoutMs", "settleMs", "rollSettleMs"];
export const PROFILES = {
  short: {
    nodes: 3, customers: 36, agents: 8, maxChats: 8, intervalMs: 600, ackTimeoutMs: 3000,
    baselineMs: 4000, settleMs: 10000, downMs: 2000, cutMs: 4000, freezeMs: 5000, rollSettleMs: 5000, rounds: 1,
  },
  long: {
    nodes: 3, customers: 60, agents: 10, maxChats: 10, intervalMs: 400, ackTimeoutMs: 3000,
    baselineMs: 10000, settleMs: 20000, downMs: 5000, cutMs: 12000, freezeMs: 8000, rollSettleMs: 10000, rounds: 3,
  },
};
// redis-freeze (SIGSTOP, past the nodes' 3 s store timeout, then SIGCONT) last: the node
// faults' victims rotate by their place in this list.
export const FAULT_KINDS = ["redis-shutdown", "redis-kill", "node-kill", "node-restart", "net-cut", "redis-freeze"];
// Not in the default list (run.mjs --haproxy makes it the default there): every node in turn
// SIGTERM (exit 0), started again on its address, ready (and UP in HAProxy), a settle
// period (rollSettleMs), then the next.
export const ALL_FAULTS = [...FAULT_KINDS, "rolling-restart"];
const RECOVERY_LIMIT_MS = 10000;
// The nodes' own per-socket rate limit is raised above what an agent answering its
// conversations at the offered rate needs (a 429 would be a harness artefact).
const NODE_ARGS = ["--rate-limit", "200", "--rate-burst", "400"];

const t0 = Date.now();
const stamp = () => `${((Date.now() - t0) / 1000).toFixed(1).padStart(6)} s`;
const log = (s) => console.log(`[faults ${stamp()}] ${s}`);

// The transports of party i. Without HAProxy one in four starts on long-polling and
// upgrades, the rest use websocket. Through HAProxy round-robin (no cookie) a third each
// polling only, websocket only and upgrading.
function transportsFor(haproxy) {
  if (!haproxy) return (i) => (i % 4 === 3 ? ["polling", "websocket"] : ["websocket"]);
  const kinds = [["websocket"], ["polling"], ["polling", "websocket"]];
  return (i) => kinds[i % kinds.length];
}

export async function runHarness(topo, profile, { faults = FAULT_KINDS, haproxy = false } = {}) {
  // The time scale stretches what waits on the servers (ack timeout, settle, the recovery
  // limit), not the faults themselves nor the offered load.
  const P = Object.fromEntries(Object.entries(profile).map(([k, v]) => [k, SCALED.includes(k) ? ms(v) : v]));
  const recoveryLimitMs = ms(RECOVERY_LIMIT_MS);
  // Named after the launching process, so that a later run can remove it if this one is
  // killed outright (netns.mjs removeLeftovers).
  const dir = mkdtempSync(path.join(tmpdir(), `sbfault-${process.env.SBFAULT_PID ?? process.pid}-redis-`));
  process.on("exit", () => rmSync(dir, { recursive: true, force: true })); // ended by a signal too
  const redis = new RedisProc({ host: topo.redis.host, port: topo.redis.port, dir, ns: topo.redisNs ?? null });
  const nodes = [];
  let proxy = null;
  const parties = [];
  const windows = [];
  const harnessErrors = [];
  let result = null;
  const transports = transportsFor(haproxy);
  log(`${topo.mode === "netns" ? `network namespaces (hub ${topo.hub})` : "loopback, no network namespaces"}; ` +
    `${haproxy ? `HAProxy round-robin${STICKY_COOKIE ? ` sticky by cookie ${STICKY_COOKIE} (debugging)` : ", no cookie"}, clients on ${[...new Set(Array.from({ length: 3 }, (_, i) => transports(i).join("+")))].join(" / ")}` + "; " : ""}` +
    `${P.nodes} nodes, ${P.customers} customers, ${P.agents} agents x ${P.maxChats} chats, a message every ~${P.intervalMs} ms per customer, time scale ${TIME_SCALE}`);
  try {
    await redis.start();
    for (const n of topo.nodes.slice(0, P.nodes)) {
      const args = haproxy ? [...NODE_ARGS, ...featureArgs()] : NODE_ARGS;
      nodes.push(new NodeProc({ name: n.name, host: n.host, port: n.port, ns: n.ns, redisUrl: redis.url, args }));
    }
    await Promise.all(nodes.map((n) => n.start()));
    log(`redis ${redis.url}; nodes ${nodes.map((n) => `${n.name} ${n.url}`).join(", ")}`);
    if (haproxy) {
      proxy = new HaproxyProc(nodes, { cookie: STICKY_COOKIE });
      await proxy.start();
      log(`haproxy ${proxy.url}, every node UP`);
    }

    // Through HAProxy every client has the one address; otherwise each attempt goes to the
    // next node.
    const common = { nodes: proxy ? [proxy] : nodes, ackTimeoutMs: P.ackTimeoutMs, withCredentials: !!(proxy && STICKY_COOKIE) };
    const agents = Array.from({ length: P.agents }, (_, i) => new Agent({ ...common, id: `fa${i + 1}`, first: i, transports: transports(i), maxChats: P.maxChats }));
    parties.push(...agents);
    agents.forEach((a) => a.connect());
    await connectAll(agents);
    const customers = Array.from({ length: P.customers }, (_, i) => new Customer({ ...common, id: `fc${i + 1}`, first: i, transports: transports(i) }));
    parties.push(...customers);
    customers.forEach((c) => c.connect());
    await connectAll(customers);
    log(`${agents.length} agents and ${customers.length} customers connected; load running`);

    windows.push({ name: "0 baseline", start: Date.now() });
    customers.forEach((c) => c.run(P.intervalMs));
    await sleep(P.baselineMs);

    const plan = [];
    for (let r = 0; r < P.rounds; r++) {
      for (const kind of faults) plan.push({ kind, round: r });
    }
    for (const [i, f] of plan.entries()) {
      const victim = f.kind === "rolling-restart" ? null : nodes[(FAULT_KINDS.indexOf(f.kind) - 2 + f.round) % nodes.length];
      const label = `${i + 1} ${faultLabel(f.kind, victim, P)}`;
      if (f.kind === "net-cut" && topo.mode !== "netns") {
        log(`${label}: skipped (needs the network namespaces)`);
        continue;
      }
      const w = { name: label, start: Date.now(), victim: victim?.name };
      windows.push(w);
      log(`${label}: start`);
      await applyFault(f.kind, { redis, victim, topo, P, nodes, proxy, label });
      w.restored = Date.now();
      log(`${label}: undone after ${((w.restored - w.start) / 1000).toFixed(1)} s; settling ${P.settleMs / 1000} s`);
      await sleep(P.settleMs);
    }

    // Drain: no new customer messages; the sends in flight and the agents' replies finish.
    const drainStart = Date.now();
    windows.forEach((w, i) => { w.end = windows[i + 1]?.start ?? drainStart; });
    customers.forEach((c) => { c.stopping = true; });
    log("draining: customers stop sending new messages");
    await Promise.race([Promise.all(customers.map((c) => c.loop)), sleep(ms(20000))]);
    const end = Date.now() + ms(20000);
    for (let quiet = 0; quiet < 4 && Date.now() < end;) {
      quiet = agents.every((a) => a.pending === 0) ? quiet + 1 : 0;
      await sleep(500);
    }
    await sleep(ms(1500)); // the last deliveries
    parties.forEach((p) => { p.stopHard = true; });
    const stillPending = agents.reduce((n, a) => n + a.pending, 0);
    if (stillPending) log(`${stillPending} agent replies still pending at the end of the drain`);
    parties.forEach((p) => p.close());

    if (proxy) {
      const stot = await proxy.status("stot");
      log(`HAProxy sent ${nodes.map((n) => `${n.name} ${stot[n.name]}`).join(", ")} connections`);
      const idle = nodes.filter((n) => !(Number(stot[n.name]) > 0));
      if (idle.length) harnessErrors.push(`HAProxy round-robin sent nothing to ${idle.map((n) => n.name).join(", ")}`);
    }
    log("reading every conversation back over REST");
    const live = nodes.filter((n) => n.alive());
    result = await analyse({ customers, agents, windows, nodes: live, apiKey: TEST_API_KEY, recoveryLimitMs });
  } catch (e) {
    harnessErrors.push(`harness: ${e.stack ?? e}`);
  } finally {
    parties.forEach((p) => { p.stopHard = true; p.close(); });
    await proxy?.stop();
    for (const n of nodes) {
      if (n.alive()) await n.stop().catch((e) => harnessErrors.push(`stopping ${n.name}: ${e.message}`));
    }
    if (redis.child?.alive()) await redis.shutdown().catch(() => redis.kill());
    rmSync(dir, { recursive: true, force: true });
  }

  const failures = [...harnessErrors, ...nodes.flatMap((n) => n.findings()), ...(result?.failures ?? [])];
  console.log("");
  if (result) {
    console.log(formatTable(result.rows, result.total));
    console.log("");
    console.log("fault: the window from that fault's start to the next one's (messages by their first attempt); " +
      "503 / t/o+disc / 4xx: send attempts answered 503, or retried after an ack timeout or a disconnect, or refused otherwise; " +
      `recover: the slowest customer's first ack after the fault was undone (limit ${recoveryLimitMs / 1000} s); ` +
      "longest wait: the longest any customer went between two acks in that window.");
    for (const n of result.notes) console.log(`note: ${n}`);
  }
  console.log("");
  if (failures.length) {
    console.log(`FAILED (${failures.length}):`);
    for (const f of failures) console.log(`  - ${f}`);
  } else {
    console.log("PASSED: every acknowledged message stored once with gap-free seq and delivered live to the other party; every customer served again within the limit; no node crashed or reported a sanitizer error");
  }
  return failures.length ? 1 : 0;
}

async function connectAll(parties) {
  const ok = await Promise.all(parties.map((p) => p.waitConnected(ms(20000))));
  const missing = parties.filter((_, i) => !ok[i]);
  if (missing.length) {
    const why = missing.slice(0, 3).map((p) => `${p.id}: ${JSON.stringify(p.conn.at(-1) ?? null)}`).join("; ");
    throw new Error(`${missing.length} client(s) could not connect: ${why}`);
  }
}

function faultLabel(kind, victim, P) {
  switch (kind) {
    case "redis-shutdown": return `redis SHUTDOWN, ${P.downMs / 1000} s down`;
    case "redis-kill": return `redis SIGKILL, ${P.downMs / 1000} s down`;
    case "node-kill": return `${victim.name} SIGKILL, ${P.downMs / 1000} s down`;
    case "node-restart": return `${victim.name} SIGTERM + restart`;
    case "net-cut": return `${victim.name} cut from redis ${P.cutMs / 1000} s`;
    case "redis-freeze": return `redis SIGSTOP ${P.freezeMs / 1000} s`;
    case "rolling-restart": return `rolling restart, ${P.rollSettleMs / 1000} s apart`;
    default: throw new Error(`unknown fault ${kind}`);
  }
}

async function applyFault(kind, { redis, victim, topo, P, nodes, proxy, label }) {
  switch (kind) {
    case "rolling-restart":
      for (const [k, n] of nodes.entries()) {
        const t = Date.now();
        await n.stop(); // SIGTERM, exit 0 within 5 s (scaled), else a finding
        await n.start(); // same address and port, GET /readyz 200
        await proxy?.waitNode(n.name, "UP");
        log(`${label}: ${n.name} back after ${((Date.now() - t) / 1000).toFixed(1)} s${k + 1 < nodes.length ? `; settling ${P.rollSettleMs / 1000} s` : ""}`);
        if (k + 1 < nodes.length) await sleep(P.rollSettleMs);
      }
      return;
    case "redis-shutdown":
      await redis.shutdown();
      await sleep(P.downMs);
      await redis.start();
      return;
    case "redis-kill":
      await redis.kill();
      await sleep(P.downMs);
      await redis.start();
      return;
    case "redis-freeze": // what it had in its sockets runs when it wakes: past their deadline
      redis.freeze();
      try {
        await sleep(P.freezeMs);
      } finally {
        redis.thaw();
      }
      return;
    case "node-kill":
      await victim.kill();
      await sleep(P.downMs);
      await victim.start();
      return;
    case "node-restart":
      await victim.stop();
      await victim.start();
      return;
    case "net-cut": {
      const node = topo.nodes.find((n) => n.name === victim.name);
      cutFromRedis(topo, node);
      try {
        await sleep(P.cutMs);
      } finally {
        restoreToRedis(topo, node);
      }
      return;
    }
    default:
      throw new Error(`unknown fault ${kind}`);
  }
}
