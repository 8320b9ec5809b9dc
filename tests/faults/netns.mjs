// netns.mjs: the network the fault harness runs in, so that a node can be cut off from
// Redis (fault 5) while it and Redis both keep running and the clients keep reaching it.
//
//   namespace <P>-hub   bridge br0 10.213.0.1/24, Redis listening there, and the harness's
//                       own client process (re-executed inside with `ip netns exec`)
//   namespace <P>-n<k>  eth0 10.213.0.1<k>/24 (veth, other end vn<k> on the hub's bridge),
//                       node k listening on it; its nft table `sbfault` drops the node's
//                       traffic to and from Redis during a cut
//
// <P> is `sbfault-<pid of the launching process>`. Every server therefore listens on an
// address inside a namespace this harness created, and nothing is added to the namespace
// the harness was started in: no address, route, link or rule. The subnet cannot clash
// with the machine's networks, since it exists only inside these namespaces. Deleting a
// namespace deletes its veths and nft rules; the processes still inside one (only ever
// ours) are ended by pid first. Namespaces left by a run that died (its pid gone) are
// removed the same way at the start of the next run.
//
// With { uplink: true } (HAProxy on the host, haproxy.mjs), the hub's bridge also gets a
// veth to the namespace the harness was started in: `sbf<pid>` there, 10.213.S.2/24, whose
// connected route lets a process on the host (HAProxy, the harness's own clients and REST
// reads) reach Redis and the nodes at their addresses. That is the one thing added to the
// host, on a subnet 10.213.S.0/24 (S from 0 to 15) the host has no address or route in; it
// goes with the hub namespace (deleting one end of a veth deletes the other).

import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

export const PREFIX = "sbfault";
const SUBNET = "10.213.0";
// With an uplink the subnet is seen by the host: the first of 10.213.0-15.0/24 it does not
// use already (so runs of the multi-host tests side by side get one each).
const UPLINK_SUBNETS = Array.from({ length: 16 }, (_, i) => `10.213.${i}`);
const uplinkName = (pid) => `sbf${pid}`;
export const REDIS_PORT = 6379;
export const NODE_PORT = 3000;
const NFT_TABLE = "sbfault";

function ip(args, { ignoreFail = false } = {}) {
  try {
    return execFileSync("ip", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  } catch (e) {
    if (ignoreFail) return "";
    throw new Error(`ip ${args.join(" ")}: ${e.stderr || e.message}`);
  }
}

function nsExec(ns, argv, { input, ignoreFail = false } = {}) {
  try {
    return execFileSync("ip", ["netns", "exec", ns, ...argv], { encoding: "utf8", input, stdio: ["pipe", "pipe", "pipe"] });
  } catch (e) {
    if (ignoreFail) return "";
    throw new Error(`ip netns exec ${ns} ${argv.join(" ")}: ${e.stderr || e.message}`);
  }
}

const listNamespaces = () => ip(["netns", "list"], { ignoreFail: true })
  .split("\n").map((l) => l.trim().split(/\s+/)[0]).filter(Boolean);

function pidAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return e.code === "EPERM";
  }
}

// Ends every process inside ns (all of them started by this harness), then deletes ns.
function removeNamespace(ns) {
  for (let round = 0; round < 20; round++) {
    const pids = ip(["netns", "pids", ns], { ignoreFail: true }).split(/\s+/).filter(Boolean).map(Number);
    if (pids.length === 0) break;
    for (const pid of pids) {
      try { process.kill(pid, "SIGKILL"); } catch { /* gone */ }
    }
    execFileSync("sleep", ["0.1"]);
  }
  ip(["netns", "del", ns], { ignoreFail: true });
}

// A HAProxy of a dead run (haproxy.mjs writes its pid in its folder): it ran on the host,
// outside the namespaces. Ended if that pid is still a haproxy reading that folder's config.
function endStaleHaproxy(dir) {
  const file = path.join(dir, "haproxy.pid");
  if (!existsSync(file)) return;
  const pid = Number(readFileSync(file, "utf8"));
  try {
    const cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
    if (path.basename(cmd[0]) === "haproxy" && cmd.some((a) => a.startsWith(dir))) process.kill(pid, "SIGKILL");
  } catch { /* gone */ }
}

// Namespaces (and Redis and HAProxy folders, harness.mjs, haproxy.mjs) of earlier runs whose
// launching process is gone; with them what still runs inside (and such a HAProxy).
export function removeLeftovers(namespaces = true) {
  const re = new RegExp(`^${PREFIX}-(\\d+)-`);
  const isStale = (name) => {
    const m = re.exec(name);
    return m && Number(m[1]) !== process.pid && !pidAlive(Number(m[1]));
  };
  for (const d of readdirSync(tmpdir()).filter(isStale)) {
    endStaleHaproxy(path.join(tmpdir(), d));
    rmSync(path.join(tmpdir(), d), { recursive: true, force: true });
  }
  if (!namespaces) return [];
  const stale = listNamespaces().filter(isStale);
  for (const ns of stale) removeNamespace(ns);
  // An uplink left on the host (normally gone with its hub namespace).
  for (const line of ip(["-o", "link", "show"], { ignoreFail: true }).split("\n")) {
    const m = /^\d+:\s+(sbf(\d+))[@:]/.exec(line);
    if (m && Number(m[2]) !== process.pid && !pidAlive(Number(m[2]))) {
      ip(["link", "del", m[1]], { ignoreFail: true });
      stale.push(m[1]);
    }
  }
  return stale;
}

// Can this process build the topology (root, iproute2 with netns, and nft unless told it
// is not needed)? null when it can, else why not.
export function netnsUsable({ nft = true } = {}) {
  if (process.getuid?.() !== 0) return "not root";
  try {
    execFileSync("ip", ["netns", "list"], { stdio: "ignore" });
  } catch {
    return "`ip netns` unavailable (Debian package iproute2)";
  }
  if (!nft) return null;
  try {
    execFileSync("nft", ["--version"], { stdio: "ignore" });
  } catch {
    return "`nft` unavailable (Debian package nftables; scripts/setup.sh installs it)";
  }
  return null;
}

// Does the host already have an address or a route (other than the default) in the subnet?
function hostUses(subnet) {
  const routes = ip(["-o", "-4", "route", "show", "match", `${subnet}.0/24`], { ignoreFail: true })
    .split("\n").filter((l) => l.trim() && !l.startsWith("default"));
  const addrs = ip(["-o", "-4", "addr", "show"], { ignoreFail: true }).split("\n").filter((l) => l.includes(` ${subnet}.`));
  return routes.length + addrs.length > 0;
}

// Creates the hub and `nodes` node namespaces (and with uplink, the veth from the host to
// the hub's bridge). Returns the topology (plain data, passed to the harness process inside
// the hub through the environment).
export function createTopology(nodes, { uplink = false } = {}) {
  const subnet = uplink ? UPLINK_SUBNETS.find((n) => !hostUses(n)) : SUBNET;
  if (!subnet) throw new Error(`the host uses every subnet of ${UPLINK_SUBNETS[0]}.0/24 - ${UPLINK_SUBNETS.at(-1)}.0/24: no room for the uplink`);
  const base = `${PREFIX}-${process.pid}`;
  const hub = `${base}-hub`;
  const topo = {
    mode: "netns",
    hub,
    namespaces: [hub],
    subnet: `${subnet}.0/24`,
    redis: { host: `${subnet}.1`, port: REDIS_PORT },
    nodes: [],
  };
  try {
    ip(["netns", "add", hub]);
    ip(["-n", hub, "link", "set", "lo", "up"]);
    ip(["-n", hub, "link", "add", "br0", "type", "bridge"]);
    ip(["-n", hub, "addr", "add", `${subnet}.1/24`, "dev", "br0"]);
    ip(["-n", hub, "link", "set", "br0", "up"]);
    for (let k = 1; k <= nodes; k++) {
      const ns = `${base}-n${k}`;
      const addr = `${subnet}.${10 + k}`;
      ip(["netns", "add", ns]);
      topo.namespaces.push(ns);
      ip(["-n", ns, "link", "set", "lo", "up"]);
      ip(["-n", hub, "link", "add", `vn${k}`, "type", "veth", "peer", "name", "eth0", "netns", ns]);
      ip(["-n", hub, "link", "set", `vn${k}`, "master", "br0"]);
      ip(["-n", hub, "link", "set", `vn${k}`, "up"]);
      ip(["-n", ns, "addr", "add", `${addr}/24`, "dev", "eth0"]);
      ip(["-n", ns, "link", "set", "eth0", "up"]);
      topo.nodes.push({ name: `n${k}`, ns, host: addr, port: NODE_PORT });
    }
    if (uplink) {
      const dev = uplinkName(process.pid);
      ip(["link", "add", dev, "type", "veth", "peer", "name", "up0", "netns", hub]);
      topo.uplink = { dev, addr: `${subnet}.2` };
      ip(["-n", hub, "link", "set", "up0", "master", "br0"]);
      ip(["-n", hub, "link", "set", "up0", "up"]);
      ip(["addr", "add", `${subnet}.2/24`, "dev", dev]);
      ip(["link", "set", dev, "up"]);
    }
  } catch (e) {
    destroyTopology(topo);
    throw e;
  }
  return topo;
}

export function destroyTopology(topo) {
  for (const ns of [...(topo?.namespaces ?? [])].reverse()) removeNamespace(ns);
  if (topo?.uplink) ip(["link", "del", topo.uplink.dev], { ignoreFail: true }); // normally gone already
}

// Fault 5: the node's namespace drops everything to and from Redis (both directions, so
// neither side gets a reset: connections hang as on a real partition).
export function cutFromRedis(topo, node) {
  const { host, port } = topo.redis;
  nsExec(node.ns, ["nft", "-f", "-"], {
    input: `table inet ${NFT_TABLE} {
  chain out { type filter hook output priority 0; policy accept; ip daddr ${host} tcp dport ${port} drop; }
  chain in { type filter hook input priority 0; policy accept; ip saddr ${host} tcp sport ${port} drop; }
}
`,
  });
}

export function restoreToRedis(topo, node) {
  nsExec(node.ns, ["nft", "delete", "table", "inet", NFT_TABLE], { ignoreFail: true });
}

// The argv that runs argv inside node's namespace (as is in loopback mode).
export function inNamespace(ns, argv) {
  return ns ? ["ip", "netns", "exec", ns, ...argv] : argv;
}
