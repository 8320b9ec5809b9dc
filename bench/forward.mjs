// forward.mjs: what relaying a request to the node that holds its session costs
// (--cluster-engine), against the same request served where the session lives.
//
// Starts a redis-server and two switchboard-echo nodes (A, B) on one Redis, opens a
// Socket.IO session over raw long-polling on A, then runs N round trips twice: a GET parked
// for the session, a POST of one message, the echo ("message-back") read on the GET. Local:
// both requests to A. Forwarded: both to B, which relays them to A through Redis. Reports
// the round trip's p50/p99, the CPU of both nodes (and of Redis) per round trip from
// /proc/PID/stat, and their system calls per round trip (`perf stat -e
// raw_syscalls:sys_enter -p PID`, when perf can count them), with the forwarded/local
// ratios. Then the same for a websocket: N message round trips on a session upgraded on A
// (local) and on one upgraded through B (forwarded: B tunnels every frame to A through
// Redis). With taskset: the nodes on CPU 1, Redis and this client on CPU 0.
//
//   node bench/forward.mjs build/release/switchboard-echo [round trips] [--json FILE]
import { spawn, spawnSync } from "node:child_process";
import { readFileSync, appendFileSync, mkdtempSync, rmSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import path from "node:path";

const require = createRequire(new URL("../tests/integration/", import.meta.url));
const WebSocket = require("ws");

const args = process.argv.slice(2);
const jsonAt = args.indexOf("--json");
const jsonFile = jsonAt >= 0 ? args.splice(jsonAt, 2)[1] : null;
const [echoBin, countArg] = args;
if (!echoBin) {
  console.error("usage: node bench/forward.mjs SWITCHBOARD_ECHO [round trips] [--json FILE]");
  process.exit(2);
}
const N = Number(countArg || 3000);
const WARMUP = Math.min(300, Math.floor(N / 10));
const CLK_TCK = 100; // Linux USER_HZ: /proc/PID/stat counts CPU time in these
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
setTimeout(() => { console.error("forward.mjs: timed out"); process.exit(1); }, 300000).unref();

const HAVE_TASKSET = spawnSync("taskset", ["-c", "0", "true"]).status === 0;
const HAVE_PERF = spawnSync("perf", ["stat", "-e", "raw_syscalls:sys_enter", "-x,", "-o", "/dev/null", "--", "true"]).status === 0;
const children = [];
process.on("exit", () => { for (const c of children) c.kill("SIGKILL"); });

function pinned(cpu, bin, argv, opts) {
  const c = HAVE_TASKSET ? spawn("taskset", ["-c", String(cpu), bin, ...argv], opts) : spawn(bin, argv, opts);
  children.push(c);
  return c;
}

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function waitHttp(port, p) {
  for (let i = 0; i < 200; i++) {
    try { if ((await fetch(`http://127.0.0.1:${port}${p}`)).status === 200) return; } catch {}
    await sleep(50);
  }
  throw new Error(`port ${port} never ready`);
}

// One keep-alive connection per agent: the GET and the POST each have their own.
const getAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const postAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });

function req(port, agent, method, p, body) {
  return new Promise((resolve, reject) => {
    const r = http.request({ host: "127.0.0.1", port, method, path: p, agent,
      headers: body === undefined ? {} : { "content-type": "text/plain;charset=UTF-8", "content-length": Buffer.byteLength(body) } }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode, text: Buffer.concat(chunks).toString() }));
    });
    r.on("error", reject);
    if (body !== undefined) r.write(body);
    r.end();
  });
}

const q = (sid) => `/socket.io/?EIO=4&transport=polling${sid ? `&sid=${encodeURIComponent(sid)}` : ""}`;

async function openSession(port) {
  const open = await req(port, getAgent, "GET", q());
  const { sid } = JSON.parse(open.text.slice(1));
  await req(port, postAgent, "POST", q(sid), "40");
  for (;;) {
    const r = await req(port, getAgent, "GET", q(sid));
    if (r.text.includes("40{")) return sid;
  }
}

// One round trip: the GET goes first (it parks), then the POST; timed from the POST to
// the echo on the GET. A server PING met on the way is answered and the GET reissued.
async function roundTrip(port, sid, i) {
  let get = req(port, getAgent, "GET", q(sid));
  const t0 = process.hrtime.bigint();
  const posted = await req(port, postAgent, "POST", q(sid), `42["message",${i}]`);
  if (posted.status !== 200) throw new Error(`POST: ${posted.status} ${posted.text}`);
  for (;;) {
    const r = await get;
    if (r.status !== 200) throw new Error(`GET: ${r.status} ${r.text}`);
    if (r.text.includes(`"message-back",${i}]`)) return Number(process.hrtime.bigint() - t0) / 1e3;
    if (r.text.split("\x1e").includes("2")) await req(port, postAgent, "POST", q(sid), "3");
    get = req(port, getAgent, "GET", q(sid));
  }
}

// A session opened by polling on owner, upgraded to a websocket on upgradePort (the owner,
// or another node, which then tunnels it). Returns roundTrip(i) for it, and close().
async function wsSession(owner, upgradePort) {
  const sid = await openSession(owner);
  const ws = new WebSocket(`ws://127.0.0.1:${upgradePort}${q(sid).replace("polling", "websocket")}`, { perMessageDeflate: false });
  let waiter = null;
  const queue = [];
  ws.on("message", (data) => {
    const m = data.toString();
    if (m === "2") return ws.send("3");
    if (waiter) { const w = waiter; waiter = null; w(m); } else queue.push(m);
  });
  const next = () => (queue.length ? Promise.resolve(queue.shift()) : new Promise((r) => { waiter = r; }));
  await new Promise((resolve, reject) => { ws.once("open", resolve); ws.once("error", reject); });
  ws.send("2probe");
  if ((await next()) !== "3probe") throw new Error("no 3probe");
  ws.send("5");
  return {
    async roundTrip(i) {
      const t0 = process.hrtime.bigint();
      ws.send(`42["message",${i}]`);
      for (;;) {
        const m = await next();
        if (m === `42["message-back",${i}]`) return Number(process.hrtime.bigint() - t0) / 1e3;
      }
    },
    close: () => ws.close(),
  };
}

function cpuTicks(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(f[11]) + Number(f[12]); // utime, stime
}

function startPerf(pid, dir, name) {
  if (!HAVE_PERF) return null;
  const out = path.join(dir, `${name}.perf`);
  const p = spawn("perf", ["stat", "-e", "raw_syscalls:sys_enter", "-x,", "-o", out, "-p", String(pid)], { stdio: "ignore" });
  return { p, out, exited: new Promise((r) => p.on("exit", r)) };
}

async function stopPerf(perf) {
  if (!perf) return null;
  perf.p.kill("SIGINT");
  await perf.exited;
  const line = readFileSync(perf.out, "utf8").split("\n").find((l) => l.includes("raw_syscalls"));
  return line ? Number(line.split(",")[0]) : null;
}

const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

async function measure(label, rt, nodes, redis, dir) {
  for (let i = 0; i < WARMUP; i++) await rt(-1 - i);
  const perfs = nodes.map((n) => startPerf(n.pid, dir, `${label}-${n.name}`));
  await sleep(200); // perf attaches
  const before = nodes.map((n) => cpuTicks(n.pid));
  const redisBefore = cpuTicks(redis.pid);
  const t = [];
  const start = process.hrtime.bigint();
  for (let i = 0; i < N; i++) t.push(await rt(i));
  const wall = Number(process.hrtime.bigint() - start) / 1e9;
  const cpu = nodes.map((n, i) => cpuTicks(n.pid) - before[i]);
  const redisCpu = cpuTicks(redis.pid) - redisBefore;
  const sys = await Promise.all(perfs.map(stopPerf));
  t.sort((a, b) => a - b);
  const usPer = (ticks) => Math.round((ticks / CLK_TCK) * 1e6 / N);
  const perNode = Object.fromEntries(nodes.map((n, i) => [n.name, usPer(cpu[i])]));
  const syscalls = sys.every((s) => s !== null) ? sys.reduce((a, b) => a + b, 0) / N : null;
  return {
    label, round_trips: N, wall_s: Number(wall.toFixed(2)),
    p50_us: Math.round(pct(t, 50)), p99_us: Math.round(pct(t, 99)),
    cpu_us_per_round_trip: usPer(cpu.reduce((a, b) => a + b, 0)), cpu_us_by_node: perNode,
    redis_cpu_us_per_round_trip: usPer(redisCpu),
    syscalls_per_round_trip: syscalls === null ? null : Number(syscalls.toFixed(1)),
  };
}

function report(transport, what, local, forwarded) {
  const r = (x, y) => (x && y ? Number((x / y).toFixed(2)) : null);
  const result = {
    workload: "forward", transport, local, forwarded,
    ratio: {
      p50: r(forwarded.p50_us, local.p50_us), p99: r(forwarded.p99_us, local.p99_us),
      cpu: r(forwarded.cpu_us_per_round_trip, local.cpu_us_per_round_trip),
      syscalls: r(forwarded.syscalls_per_round_trip, local.syscalls_per_round_trip),
    },
  };
  console.log(JSON.stringify(result));
  if (jsonFile) appendFileSync(jsonFile, `${JSON.stringify(result)}\n`);
  const row = (k, f) => console.log(`  ${k.padEnd(38)} ${String(f(local)).padStart(10)} ${String(f(forwarded)).padStart(10)}`);
  console.log(`\nforward, ${transport}: ${N} round trips (${what})`);
  console.log(`  ${"".padEnd(38)} ${"local".padStart(10)} ${"forwarded".padStart(10)}`);
  row("round trip p50 (us)", (x) => x.p50_us);
  row("round trip p99 (us)", (x) => x.p99_us);
  row("CPU of both nodes per round trip (us)", (x) => x.cpu_us_per_round_trip);
  row("  of which A (owner) / B", (x) => `${x.cpu_us_by_node.A}/${x.cpu_us_by_node.B}`);
  row("Redis CPU per round trip (us)", (x) => x.redis_cpu_us_per_round_trip);
  row("syscalls of both nodes per round trip", (x) => x.syscalls_per_round_trip ?? "n/a");
  console.log(`  forwarded/local: p50 x${result.ratio.p50}, p99 x${result.ratio.p99}, CPU x${result.ratio.cpu}, syscalls x${result.ratio.syscalls ?? "n/a"}\n`);
}

async function main() {
  const dir = mkdtempSync(path.join(tmpdir(), "sb-forward-"));
  const redisPort = await freePort();
  const redis = pinned(0, "redis-server", ["--port", String(redisPort), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], { stdio: "ignore" });
  await sleep(300);
  const nodes = [];
  for (const name of ["A", "B"]) {
    const port = await freePort();
    const c = pinned(1, echoBin, ["--port", String(port), "--redis", `redis://127.0.0.1:${redisPort}`, "--node-id", name], { stdio: "ignore" });
    await waitHttp(port, "/readyz");
    nodes.push({ name, port, pid: c.pid });
  }
  await sleep(300);
  const [a, b] = nodes;
  const sid = await openSession(a.port);
  report("polling", "POST a message, its echo on the parked GET",
    await measure("local", (i) => roundTrip(a.port, sid, i), nodes, redis, dir),
    await measure("forwarded", (i) => roundTrip(b.port, sid, i), nodes, redis, dir));
  const wsLocal = await wsSession(a.port, a.port);
  const wsTunnel = await wsSession(a.port, b.port);
  report("websocket", "a message and its echo; forwarded: upgraded through B, a tunnel to A",
    await measure("local", wsLocal.roundTrip, nodes, redis, dir),
    await measure("forwarded", wsTunnel.roundTrip, nodes, redis, dir));
  wsLocal.close();
  wsTunnel.close();
  getAgent.destroy();
  postAgent.destroy();
  for (const c of children) c.kill("SIGTERM");
  rmSync(dir, { recursive: true, force: true });
}

main().catch((e) => { console.error(e); process.exit(1); });
