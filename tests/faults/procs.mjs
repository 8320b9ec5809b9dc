// procs.mjs: the redis-server and the switchboard nodes the fault harness starts, stops,
// kills and restarts, each in its place of the topology (netns.mjs) or on 127.0.0.1.
//
// A node's stderr is kept across its restarts and checked for sanitizer reports; an exit
// the harness did not cause is a crash; a SIGTERM must end it with 0 within 5 s (scaled).

import { spawn } from "node:child_process";
import { accessSync, constants } from "node:fs";
import net from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { sanitizerReport, ms, freePort, TEST_JWT_SECRET, TEST_API_KEY } from "../integration/helpers.mjs";
import { program as findProgram } from "../integration/cluster-helpers.mjs";
import { inNamespace } from "./netns.mjs";

export { TEST_API_KEY };
const VERBOSE = process.env.SWITCHBOARD_TEST_VERBOSE === "1";

const live = new Set();
process.on("exit", () => {
  for (const p of live) {
    try { p.kill("SIGKILL"); } catch { /* gone */ }
  }
});

export function program(name, envVar) {
  const found = findProgram(name, envVar);
  if (!found) throw new Error(`${name} not found (${envVar}, PATH); scripts/setup.sh installs it`);
  return found;
}

// One child process; output kept.
export class Child {
  constructor(label, argv, env) {
    this.label = label;
    this.proc = spawn(argv[0], argv.slice(1), { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    this.pid = this.proc.pid;
    this.out = [];
    const keep = (d) => {
      this.out.push(d);
      if (VERBOSE) process.stderr.write(`[${label}] ${d}`);
    };
    this.proc.stdout.on("data", keep);
    this.proc.stderr.on("data", keep);
    this.exitInfo = null;
    this.spawnError = null;
    this.proc.on("error", (e) => { this.spawnError = e; });
    this.exited = new Promise((resolve) => this.proc.on("exit", (code, signal) => {
      live.delete(this.proc);
      this.exitInfo = { code, signal, at: Date.now() };
      resolve(this.exitInfo);
    }));
    live.add(this.proc);
  }

  alive() { return this.exitInfo === null; }
  text() { return Buffer.concat(this.out).toString("utf8"); }
  tail(n = 2000) { const s = this.text(); return s.length > n ? `…${s.slice(-n)}` : s; }

  signal(sig) {
    if (this.alive()) this.proc.kill(sig);
  }

  async waitExit(timeoutMs) {
    return Promise.race([this.exited, sleep(timeoutMs, null, { ref: false })]);
  }
}

// ---------- Redis ----------

// One command on a fresh connection; resolves with the first reply line ("+PONG", "-LOADING …").
export function redisCommand(host, port, args, timeoutMs = 1000) {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host, port });
    let buf = "";
    const done = (fn, v) => { clearTimeout(t); sock.destroy(); fn(v); };
    const t = setTimeout(() => done(reject, new Error("redis: timeout")), timeoutMs);
    sock.on("error", (e) => done(reject, e));
    sock.on("connect", () => sock.write(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(String(a))}\r\n${a}\r\n`).join("")}`));
    sock.on("data", (d) => {
      buf += d.toString("utf8");
      const i = buf.indexOf("\r\n");
      if (i >= 0) done(resolve, buf.slice(0, i));
    });
    sock.on("close", () => done(resolve, buf || null));
  });
}

// redis-server with AOF (appendfsync always) in dir; start() again after a stop or a kill
// comes back on the same address, port and dir, so it loads what it had appended.
export class RedisProc {
  // ns: the namespace to run it in (when this process is not inside it already), or none.
  constructor({ host, port, dir, ns = null }) {
    this.bin = program("redis-server", "REDIS_SERVER_BIN");
    this.ns = ns;
    this.host = host;
    this.port = port;
    this.dir = dir;
    this.child = null;
    this.starts = 0;
  }

  get url() { return `redis://${this.host}:${this.port}`; }

  async start() {
    if (this.port === null) this.port = await freePort(this.host);
    const end = Date.now() + ms(15000);
    for (;;) {
      this.child = new Child("redis", inNamespace(this.ns, [this.bin, "--bind", this.host, "--port", String(this.port),
        "--appendonly", "yes", "--appendfsync", "always", "--save", "", "--dir", this.dir,
        "--daemonize", "no", "--protected-mode", "no"]), {});
      this.starts++;
      while (this.child.alive() && Date.now() < end) {
        const r = await redisCommand(this.host, this.port, ["PING"], 500).catch(() => null);
        if (r === "+PONG") return;
        await sleep(50);
      }
      if (this.child.alive()) {
        this.child.signal("SIGKILL");
        throw new Error(`redis-server not ready within 15 s\n${this.child.tail()}`);
      }
      // The port of the previous instance may still be held for a moment.
      if (/in use|bind/i.test(this.child.text()) && Date.now() < end) {
        await sleep(200);
        continue;
      }
      throw new Error(`redis-server exited: ${JSON.stringify(this.child.exitInfo)}\n${this.child.tail()}`);
    }
  }

  // SHUTDOWN (graceful: the AOF is flushed), then wait for exit 0.
  async shutdown() {
    const child = this.child;
    await redisCommand(this.host, this.port, ["SHUTDOWN"], 3000).catch(() => null);
    const info = await child.waitExit(ms(10000));
    if (!info) {
      child.signal("SIGKILL");
      throw new Error(`redis-server still running 10 s after SHUTDOWN\n${child.tail()}`);
    }
    if (info.code !== 0) throw new Error(`redis-server after SHUTDOWN: ${JSON.stringify(info)}\n${child.tail()}`);
  }

  async kill() {
    this.child.signal("SIGKILL");
    await this.child.exited;
  }

  // Stalled, not gone: connections stay open and what the nodes send waits in its sockets.
  freeze() { this.child.signal("SIGSTOP"); }
  thaw() { this.child.signal("SIGCONT"); }
}

// ---------- switchboard nodes ----------

export class NodeProc {
  constructor({ name, host, port, ns, redisUrl, args = [] }) {
    this.bin = process.env.SWITCHBOARD_BIN;
    if (!this.bin) throw new Error("SWITCHBOARD_BIN is not set (ctest sets it from the CMake target)");
    accessSync(this.bin, constants.X_OK);
    Object.assign(this, { name, host, port, ns, redisUrl, args });
    this.child = null;
    this.runs = []; // every incarnation: { child, expectedExit, started }
    this.crashes = []; // exits the harness did not cause
    this.problems = []; // bad exit codes after SIGTERM, sanitizer reports
  }

  get url() { return `http://${this.host}:${this.port}`; }

  async start() {
    if (this.port === null) this.port = await freePort(this.host);
    const end = Date.now() + ms(20000);
    for (;;) {
      const argv = inNamespace(this.ns, [this.bin, "--host", this.host, "--port", String(this.port),
        "--redis", this.redisUrl, "--node-id", this.name, ...this.args]);
      const child = new Child(this.name, argv, { SWITCHBOARD_JWT_SECRET: TEST_JWT_SECRET, SWITCHBOARD_API_KEY: TEST_API_KEY });
      const run = { child, expectedExit: false, started: Date.now() };
      this.runs.push(run);
      this.child = child;
      child.exited.then((info) => {
        if (!run.expectedExit) this.crashes.push({ node: this.name, child, info, tail: child.tail() });
      });
      while (child.alive() && Date.now() < end) {
        if (child.spawnError) throw new Error(`cannot start ${this.bin}: ${child.spawnError.message}`);
        if (await this.status("/readyz") === 200) return;
        await sleep(100);
      }
      if (child.alive()) {
        run.expectedExit = true;
        child.signal("SIGKILL");
        throw new Error(`${this.name} not ready (/readyz 200) within 20 s\n${child.tail()}`);
      }
      if (/in use|bind/i.test(child.text()) && Date.now() < end) {
        run.expectedExit = true;
        await sleep(200);
        this.crashes = this.crashes.filter((c) => c.child !== child);
        continue;
      }
      throw new Error(`${this.name} exited while starting: ${JSON.stringify(child.exitInfo)}\n${child.tail()}`);
    }
  }

  async status(p) {
    try {
      const res = await fetch(`${this.url}${p}`, { signal: AbortSignal.timeout(1000) });
      await res.arrayBuffer();
      return res.status;
    } catch {
      return null;
    }
  }

  alive() { return this.child?.alive() ?? false; }

  async kill() {
    const run = this.runs.at(-1);
    run.expectedExit = true;
    run.child.signal("SIGKILL");
    await run.child.exited;
  }

  // SIGTERM; the node must exit 0 within 5 s (scaled).
  async stop() {
    const run = this.runs.at(-1);
    if (!run.child.alive()) return;
    run.expectedExit = true;
    run.child.signal("SIGTERM");
    const info = await run.child.waitExit(ms(5000));
    if (!info) {
      run.child.signal("SIGKILL");
      await run.child.exited;
      this.problems.push(`${this.name}: still running 5 s after SIGTERM`);
    } else if (info.code !== 0) {
      this.problems.push(`${this.name}: exit ${JSON.stringify({ code: info.code, signal: info.signal })} after SIGTERM\n${run.child.tail()}`);
    }
  }

  // Sanitizer reports in any incarnation's stderr, crashes, bad SIGTERM exits.
  findings() {
    const out = [...this.problems];
    for (const c of this.crashes) out.push(`${this.name} crashed: ${JSON.stringify({ code: c.info.code, signal: c.info.signal })}\n${c.tail}`);
    for (const [i, r] of this.runs.entries()) {
      const rep = sanitizerReport(r.child.text());
      if (rep) out.push(`${this.name} (run ${i + 1}): sanitizer report\n${rep}`);
    }
    return out;
  }
}
