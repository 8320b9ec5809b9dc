// cluster-latency.mjs: cross-node delivery latency through Redis, ours and the Node.js
// reference side by side in one run.
//
// For each kind (ours: switchboard-echo --redis; reference: socket.io 4.8 on
// @socket.io/redis-adapter 8, tests/integration/fixtures/node-echo-cluster.mjs) it starts a
// redis-server and two nodes on loopback, puts a receiver in room "lat" on node A and a
// sender on node B, and times `to-room` broadcasts from the sender's emit to the receiver's
// event (both clients live in this process, so one clock). Paced, bounded in count and time.
// Prints one JSON line per kind and the ratio of the p50s and p99s.
//
//   node bench/cluster-latency.mjs build/release/switchboard-echo [messages]
import { spawn } from "node:child_process";
import net from "node:net";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const require = createRequire(new URL("../tests/integration/", import.meta.url));
const { io } = require("socket.io-client");
const FIXTURE = fileURLToPath(new URL("../tests/integration/fixtures/node-echo-cluster.mjs", import.meta.url));
const [echoBin, countArg] = process.argv.slice(2);
const N = Number(countArg || 2000);
const WARMUP = 200;
const PACE_MS = 2;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
setTimeout(() => { console.error("timed out"); process.exit(1); }, 180000).unref();

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function waitHttp(port, path) {
  for (let i = 0; i < 200; i++) {
    try { if ((await fetch(`http://127.0.0.1:${port}${path}`)).status === 200) return; } catch {}
    await sleep(50);
  }
  throw new Error(`port ${port} never ready`);
}

function connect(port) {
  return new Promise((resolve, reject) => {
    const s = io(`http://127.0.0.1:${port}`, { transports: ["websocket"], forceNew: true, reconnection: false });
    s.on("connect", () => resolve(s));
    s.on("connect_error", reject);
  });
}

function percentile(sorted, p) { return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]; }

async function run(kind) {
  const redisPort = await freePort();
  const redis = spawn("redis-server", ["--port", String(redisPort), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], { stdio: "ignore" });
  await sleep(300);
  const nodes = [];
  const ports = [await freePort(), await freePort()];
  for (const [i, port] of ports.entries()) {
    const args = ["--host", "127.0.0.1", "--port", String(port), "--redis", `redis://127.0.0.1:${redisPort}`, "--node-id", `n${i}`];
    nodes.push(kind === "ours" ? spawn(echoBin, args, { stdio: "ignore" }) : spawn(process.execPath, [FIXTURE, ...args], { stdio: "ignore" }));
  }
  for (const port of ports) await waitHttp(port, "/readyz");
  const receiver = await connect(ports[0]);
  const sender = await connect(ports[1]);
  await new Promise((r) => receiver.emit("join", "lat", r));
  await sleep(200);
  const sent = new Map();
  const lat = [];
  let got = 0;
  const done = new Promise((resolve) => {
    receiver.on("room-message", (i) => {
      const t = process.hrtime.bigint();
      if (i >= WARMUP) lat.push(Number(t - sent.get(i)) / 1e6);
      if (++got === N + WARMUP) resolve();
    });
  });
  for (let i = 0; i < N + WARMUP; i++) {
    sent.set(i, process.hrtime.bigint());
    sender.emit("to-room", "lat", i);
    await sleep(PACE_MS);
  }
  await Promise.race([done, sleep(10000)]);
  receiver.close(); sender.close();
  for (const n of nodes) n.kill("SIGTERM");
  redis.kill("SIGTERM");
  lat.sort((a, b) => a - b);
  const lost = N - lat.length;
  const r = { workload: "cluster-latency", kind, messages: N, lost,
    p50_ms: +percentile(lat, 50).toFixed(3), p90_ms: +percentile(lat, 90).toFixed(3), p99_ms: +percentile(lat, 99).toFixed(3) };
  console.log(JSON.stringify(r));
  await sleep(500);
  return r;
}

const ours = await run("ours");
const ref = await run("reference");
console.log(JSON.stringify({ ratio_p50: +(ours.p50_ms / ref.p50_ms).toFixed(2), ratio_p99: +(ours.p99_ms / ref.p99_ms).toFixed(2), failed: ours.lost > 0 || ref.lost > 0 }));
process.exit(ours.lost > 0 || ref.lost > 0 ? 1 : 0);
