// idle-rss.mjs: how much memory one idle Socket.IO websocket client costs the server.
//
// Starts the given server binary on a free loopback port, opens a warm-up batch of
// connections, reads the server's VmRSS, then opens N more (each completes the Engine.IO
// handshake and a Socket.IO CONNECT to "/", then stays idle answering pings), and reads
// VmRSS again. Prints one JSON line. The increase divided by N is the cost per
// connection (kernel socket buffers are not in RSS).
//
//   node bench/idle-rss.mjs build/release/switchboard 19000
//
// Bounded: gives up after 120 s. Uses the `ws` package installed for the integration tests.
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import net from "node:net";
import { createRequire } from "node:module";

const require = createRequire(new URL("../tests/integration/", import.meta.url));
const WebSocket = require("ws");

const [bin, countArg] = process.argv.slice(2);
const N = Number(countArg || 10000);
const WARMUP = 100;
const BATCH = 500;
const deadline = setTimeout(() => { console.error("timed out"); process.exit(1); }, 120000);

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function rssKiB(pid) {
  const m = readFileSync(`/proc/${pid}/status`, "utf8").match(/VmRSS:\s+(\d+)/);
  return Number(m[1]);
}

function connect(port, i) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/socket.io/?EIO=4&transport=websocket`, {
      localAddress: `127.0.0.${2 + (i % 200)}`, perMessageDeflate: false,
    });
    ws.on("message", (data) => {
      const s = data.toString();
      if (s[0] === "0") ws.send("40");
      else if (s.startsWith("40")) resolve(ws);
      else if (s === "2") ws.send("3");
    });
    ws.on("error", reject);
  });
}

async function openMany(port, from, count) {
  const sockets = [];
  for (let i = from; i < from + count; i += BATCH) {
    const n = Math.min(BATCH, from + count - i);
    sockets.push(...(await Promise.all(Array.from({ length: n }, (_, k) => connect(port, i + k)))));
  }
  return sockets;
}

const port = await freePort();
const server = spawn(bin, ["--port", String(port)], { stdio: ["ignore", "ignore", "inherit"] });
await new Promise((r) => setTimeout(r, 500));
const warm = await openMany(port, 0, WARMUP);
await new Promise((r) => setTimeout(r, 500));
const before = rssKiB(server.pid);
const t0 = Date.now();
const idle = await openMany(port, WARMUP, N);
const connectMs = Date.now() - t0;
await new Promise((r) => setTimeout(r, 1000));
const after = rssKiB(server.pid);
console.log(JSON.stringify({
  workload: "idle", connections: N, rss_before_kib: before, rss_after_kib: after,
  bytes_per_connection: Math.round(((after - before) * 1024) / N),
  connects_per_s: Math.round((N * 1000) / connectMs),
}));
for (const ws of [...warm, ...idle]) ws.terminate();
server.kill("SIGTERM");
server.on("exit", (code) => { clearTimeout(deadline); process.exit(code === 0 ? 0 : 1); });
