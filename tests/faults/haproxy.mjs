// haproxy.mjs: HAProxy on the host, round-robin without stickiness (haproxy-roundrobin.cfg),
// in front of the nodes of a multi-host run, for the clients of multihost.test.mjs and of
// `run.mjs --haproxy`. It listens on 127.0.0.1 (a free port, and another for its stats page)
// and reaches the nodes at their addresses in their namespaces through the uplink
// (netns.mjs). Started as root it drops to nobody once bound.

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import { ms, freePort } from "../integration/helpers.mjs";
import { Child, program } from "./procs.mjs";

const TEMPLATE = path.join(path.dirname(fileURLToPath(import.meta.url)), "haproxy-roundrobin.cfg");
const HOST = "127.0.0.1";
export const PID_FILE = "haproxy.pid";

function render(values) {
  return readFileSync(TEMPLATE, "utf8").replace(/\{\{(\w+)\}\}/g, (_, k) => {
    if (!(k in values)) throw new Error(`${TEMPLATE}: no value for {{${k}}}`);
    return values[k];
  });
}

export class HaproxyProc {
  // nodes: [{ name, host, port }]; cookie: a sticky cookie name (debugging only, features.mjs).
  constructor(nodes, { cookie = null, checkInterMs = 300, label = "haproxy" } = {}) {
    this.bin = program("haproxy", "HAPROXY_BIN");
    this.nodes = nodes;
    this.cookie = cookie;
    this.checkInterMs = checkInterMs;
    this.label = label;
    this.dir = mkdtempSync(path.join(tmpdir(), `sbfault-${process.env.SBFAULT_PID ?? process.pid}-haproxy-`));
    process.on("exit", () => rmSync(this.dir, { recursive: true, force: true })); // ended by a signal too
    this.child = null;
    this.port = null;
    this.statsPort = null;
  }

  get url() { return `http://${HOST}:${this.port}`; }
  get name() { return this.label; }

  config() {
    return render({
      PORT: this.port, STATS_PORT: this.statsPort, CHECK_INTER: `${this.checkInterMs}ms`,
      USER: process.getuid?.() === 0 ? "user nobody\n    group nogroup" : "",
      COOKIE: this.cookie ? `cookie ${this.cookie} prefix indirect nocache` : "# no cookie: not sticky",
      SERVERS: this.nodes.map((n) => `server ${n.name} ${n.host}:${n.port}${this.cookie ? ` cookie ${n.name}` : ""}`).join("\n    "),
    });
  }

  // Starts it and waits until its stats page shows every node UP.
  async start({ timeoutMs = ms(15000) } = {}) {
    const end = Date.now() + timeoutMs;
    for (;;) {
      this.port = await freePort(HOST);
      this.statsPort = await freePort(HOST);
      const cfg = path.join(this.dir, "haproxy.cfg");
      writeFileSync(cfg, this.config());
      this.child = new Child(this.label, [this.bin, "-f", cfg, "-db"], {});
      // For the next run, should this one be killed outright (netns.mjs removeLeftovers).
      writeFileSync(path.join(this.dir, PID_FILE), String(this.child.pid));
      while (this.child.alive() && Date.now() < end) {
        if (this.child.spawnError) throw new Error(`cannot start ${this.bin}: ${this.child.spawnError.message}`);
        const st = await this.status().catch(() => ({}));
        if (this.nodes.every((n) => st[n.name] === "UP")) return this;
        await sleep(100);
      }
      if (this.child.alive()) {
        const st = await this.status().catch((e) => e.message);
        this.child.signal("SIGKILL");
        throw new Error(`haproxy: not every node UP within ${timeoutMs} ms: ${JSON.stringify(st)}\n${this.child.tail()}`);
      }
      if (/cannot bind|in use/i.test(this.child.text()) && Date.now() < end) continue;
      throw new Error(`haproxy exited: ${JSON.stringify(this.child.exitInfo)}\n${this.child.tail()}`);
    }
  }

  // { nodeName: value of column `field` } of backend `nodes`, from the stats CSV: "status"
  // ("UP" | "DOWN" | "UP 1/2" | ...), "stot" (sessions sent to it so far), ...
  async status(field = "status") {
    const res = await fetch(`http://${HOST}:${this.statsPort}/stats;csv`, { signal: AbortSignal.timeout(1000) });
    const [header, ...rows] = (await res.text()).trim().split("\n").map((l) => l.split(","));
    const col = (name) => header.indexOf(name);
    const out = {};
    for (const r of rows) {
      if (r[col("# pxname")] === "nodes" && !["FRONTEND", "BACKEND"].includes(r[col("svname")])) out[r[col("svname")]] = r[col(field)];
    }
    return out;
  }

  // Waits until node `name` is `want` ("UP" or "DOWN") in HAProxy's eyes.
  async waitNode(name, want, timeoutMs = ms(15000)) {
    const end = Date.now() + timeoutMs;
    let last;
    for (;;) {
      last = await this.status().catch((e) => ({ error: e.message }));
      if (last[name] === want) return;
      if (Date.now() > end) throw new Error(`haproxy: ${name} not ${want} within ${timeoutMs} ms: ${JSON.stringify(last)}`);
      await sleep(100);
    }
  }

  // The nodes that served requests of Engine.IO session sid, from HAProxy's request log
  // (httplog on stderr: `... socketio nodes/<server> ... "GET /socket.io/?...&sid=<sid> ..."`).
  serversOf(sid) {
    const out = new Set();
    for (const line of this.child.text().split("\n")) {
      const m = / nodes\/(\S+) .*"\S+ [^" ]*[?&]sid=([^&" ]+)/.exec(line);
      if (m && decodeURIComponent(m[2]) === sid) out.add(m[1]);
    }
    return out;
  }

  alive() { return this.child?.alive() ?? false; }

  async stop() {
    if (this.child?.alive()) {
      this.child.signal("SIGTERM");
      if (!(await this.child.waitExit(ms(3000)))) {
        this.child.signal("SIGKILL");
        await this.child.exited;
      }
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
