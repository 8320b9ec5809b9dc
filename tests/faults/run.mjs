#!/usr/bin/env node
// The fault harness: real socket.io-client customers and agents on a cluster of switchboard
// nodes and one redis-server, while Redis and the nodes are shut down, killed, restarted and
// cut off from each other. See README.md beside this file.
//
//   node tests/faults/run.mjs                 short form (ctest entry `faults`), ~1.5 min
//   node tests/faults/run.mjs --long          long form: more load, every fault three times
//   node tests/faults/run.mjs --haproxy       multi-host: every client through HAProxy, rolling restart
//   options: --faults redis-shutdown,redis-kill,node-kill,node-restart,net-cut,redis-freeze,rolling-restart
//            --customers N --agents N --rounds N --settle SECONDS --loopback --haproxy
//   SWITCHBOARD_BIN (required), SWITCHBOARD_TIME_SCALE, REDIS_SERVER_BIN,
//   SWITCHBOARD_FAULTS_LONG=1 (as --long), SWITCHBOARD_TEST_VERBOSE=1 (servers' output)
//
// As root (the default), this process builds the network namespaces (netns.mjs), runs the
// harness itself inside the hub namespace (`ip netns exec <hub> node run.mjs --inner`),
// and removes the namespaces, with everything still running in them, when that ends, however
// it ends. --loopback (or not root) runs everything on 127.0.0.1 and skips the network cut.
//
// --haproxy: the multi-host mode. Each node in its own namespace, Redis in the hub, and
// HAProxy on the host (haproxy-roundrobin.cfg: round-robin, no cookie, checks on /readyz) in
// front of them on 127.0.0.1; every client connects through HAProxy, and this process runs
// on the host (no re-execution inside the hub), reaching the namespaces through the uplink
// (netns.mjs). Its faults default to `rolling-restart` (each node SIGTERM, started again on
// its address, ready, settle, then the next). Not root: exit 77 (skipped) with the reason,
// unless --loopback (HAProxy in front of nodes on 127.0.0.1) is given.

import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { netnsUsable, removeLeftovers, createTopology, destroyTopology } from "./netns.mjs";

const argv = process.argv.slice(2);
const flag = (name) => argv.includes(name);
const opt = (name) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};

const SKIPPED = 77; // ctest SKIP_RETURN_CODE

async function inner(givenTopo = null) {
  // Ending by a signal still runs the exit hooks that end the servers this process started.
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(sig, () => process.exit(143));
  const { runHarness, PROFILES, FAULT_KINDS, ALL_FAULTS } = await import("./harness.mjs");
  const haproxy = flag("--haproxy");
  const long = flag("--long") || process.env.SWITCHBOARD_FAULTS_LONG === "1";
  const profile = { ...(long ? PROFILES.long : PROFILES.short) };
  if (opt("--customers")) profile.customers = Number(opt("--customers"));
  if (opt("--agents")) profile.agents = Number(opt("--agents"));
  if (opt("--rounds")) profile.rounds = Number(opt("--rounds"));
  if (opt("--settle")) profile.settleMs = Number(opt("--settle")) * 1000;
  profile.maxChats = Math.max(profile.maxChats, Math.ceil((profile.customers * 1.5) / profile.agents));
  const faults = opt("--faults") ? opt("--faults").split(",") : haproxy ? ["rolling-restart"] : FAULT_KINDS;
  for (const f of faults) if (!ALL_FAULTS.includes(f)) throw new Error(`unknown fault ${f}; known: ${ALL_FAULTS.join(",")}`);
  const topo = givenTopo ?? (process.env.SBFAULT_TOPOLOGY ? JSON.parse(process.env.SBFAULT_TOPOLOGY) : loopbackTopology(profile.nodes));
  return runHarness(topo, profile, { faults, haproxy });
}

function loopbackTopology(n) {
  return {
    mode: "loopback",
    redis: { host: "127.0.0.1", port: null },
    nodes: Array.from({ length: n }, (_, i) => ({ name: `n${i + 1}`, ns: null, host: "127.0.0.1", port: null })),
  };
}

async function outer() {
  const why = flag("--loopback") ? "--loopback" : netnsUsable();
  const stale = removeLeftovers(why !== "not root");
  if (flag("--haproxy")) return outerHaproxy(why, stale);
  if (why) {
    console.log(`[faults] no network namespaces (${why}): loopback only, the network cut is skipped`);
    return inner();
  }
  if (stale.length) console.log(`[faults] removed namespaces left by an earlier run: ${stale.join(", ")}`);
  const { PROFILES } = await import("./harness.mjs");
  const topo = createTopology(Math.max(PROFILES.short.nodes, PROFILES.long.nodes));
  let child = null;
  const cleanup = () => destroyTopology(topo);
  process.on("exit", cleanup); // also after an uncaught error below
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) {
    process.on(sig, () => {
      if (child?.pid) {
        try { process.kill(child.pid, "SIGTERM"); } catch { /* gone */ }
      }
      setTimeout(() => process.exit(130), 3000).unref();
    });
  }
  child = spawn("ip", ["netns", "exec", topo.hub, process.execPath, fileURLToPath(import.meta.url), "--inner", ...argv], {
    stdio: "inherit",
    env: { ...process.env, SBFAULT_TOPOLOGY: JSON.stringify(topo), SBFAULT_PID: String(process.pid) },
  });
  const code = await new Promise((resolve) => child.on("exit", (c, s) => resolve(c ?? (s ? 1 : 0))));
  return code;
}

// --haproxy: this process stays on the host (HAProxy and the clients are there) and runs
// the harness itself; the namespaces (and the uplink with them) go when it exits.
async function outerHaproxy(why, stale) {
  if (why === "--loopback") {
    console.log("[faults] --haproxy --loopback: HAProxy in front of nodes on 127.0.0.1, no network namespaces");
    return inner();
  }
  if (why) {
    console.log(`[faults] SKIPPED: the multi-host mode needs network namespaces (${why}); --loopback runs it on 127.0.0.1`);
    return SKIPPED;
  }
  if (stale.length) console.log(`[faults] removed namespaces left by an earlier run: ${stale.join(", ")}`);
  const { PROFILES } = await import("./harness.mjs");
  const topo = createTopology(Math.max(PROFILES.short.nodes, PROFILES.long.nodes), { uplink: true });
  process.on("exit", () => destroyTopology(topo)); // also after an uncaught error or a signal
  process.env.SBFAULT_PID = String(process.pid);
  return inner({ ...topo, redisNs: topo.hub });
}

const main = flag("--inner") ? inner : outer;
main().then((code) => process.exit(code), (e) => {
  console.error(e.stack ?? e);
  process.exit(2);
});
