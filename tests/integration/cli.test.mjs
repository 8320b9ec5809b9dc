// Command line of both binaries: --help, --path, and refusal of bad flags.

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import {
  serversPerTest, binary, client, connected, echoRoundTrip, request, sanitizerReport, freePort,
  waitEvent, eioOpen, ms, bounded, HOST,
} from "./helpers.mjs";

const servers = serversPerTest();
let srv;

// Runs a binary to completion (bounded); resolves { code, signal, stdout, stderr }.
function run(kind, args, timeoutMs = ms(5000)) {
  return new Promise((resolve, reject) => {
    const p = spawn(binary(kind), args, { stdio: ["ignore", "pipe", "pipe"] });
    const out = [], err = [];
    p.stdout.on("data", (d) => out.push(d));
    p.stderr.on("data", (d) => err.push(d));
    p.on("error", reject);
    const killer = setTimeout(() => p.kill("SIGKILL"), timeoutMs);
    p.on("exit", (code, signal) => {
      clearTimeout(killer);
      resolve({ code, signal, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() });
    });
  });
}

const FLAGS = ["--host", "--port", "--ping-interval", "--ping-timeout", "--max-payload", "--connect-timeout",
  "--cors-origin", "--path", "--max-outbound", "--cookie", "--recovery-window", "--help"];

for (const kind of ["server", "echo"]) {
  test(`${kind}: --help prints every flag and exits 0`, bounded(10000), async () => {
    const r = await run(kind, ["--help"]);
    assert.equal(r.code, 0, `exit ${r.code}, stderr: ${r.stderr}`);
    const text = r.stdout + r.stderr;
    for (const f of FLAGS) assert.ok(text.includes(f), `--help does not mention ${f}`);
    assert.equal(sanitizerReport(r.stderr), null);
  });

  test(`${kind}: an unknown flag is refused with a non-zero exit`, bounded(10000), async () => {
    const r = await run(kind, ["--no-such-flag"]);
    assert.notEqual(r.code, 0);
    assert.equal(r.signal, null, "refused, not crashed");
    assert.ok(r.stderr.length > 0, "says why on stderr");
    assert.equal(sanitizerReport(r.stderr), null);
  });

  test(`${kind}: a malformed number is refused`, bounded(10000), async () => {
    const port = await freePort();
    for (const args of [["--port", "abc"], ["--port", "70000"], ["--ping-interval", "-5"], ["--max-payload", "12abc"]]) {
      const r = await run(kind, ["--host", HOST, ...(args[0] === "--port" ? [] : ["--port", String(port)]), ...args], ms(3000));
      assert.notEqual(r.code, 0, `${args.join(" ")} was accepted`);
      assert.equal(r.signal, null, `${args.join(" ")} crashed or hung (signal ${r.signal})`);
      assert.equal(sanitizerReport(r.stderr), null);
    }
  });
}

test("a port already in use is reported and exits non-zero", bounded(10000), async () => {
  srv = await servers.start();
  const r = await run("echo", ["--host", HOST, "--port", String(srv.port)]);
  assert.notEqual(r.code, 0);
  assert.equal(r.signal, null, `crashed:\n${r.stderr}`);
  assert.equal(sanitizerReport(r.stderr), null);
  assert.ok(r.stderr.length > 0);
});

test("--path moves the endpoint", bounded(15000), async () => {
  srv = await servers.start({ args: ["--path", "/realtime/"] });
  const s = client(srv, "/", { path: "/realtime/", transports: ["polling", "websocket"] });
  await connected(s);
  await echoRoundTrip(s, "on a custom path");
  const old = await request(srv.port, { path: "/socket.io/?EIO=4&transport=polling", timeoutMs: ms(2000) })
    .catch(() => ({ status: "no answer" }));
  assert.notEqual(old.status, 200, "the default path is no longer the endpoint");
});

test("the daemon serves the default namespace", bounded(15000), async () => {
  srv = await servers.start({ kind: "server" });
  const s = client(srv, "/", { transports: ["websocket"] });
  await connected(s);
  const bad = client(srv, "/custom", { transports: ["websocket"] });
  const [err] = await waitEvent(bad, "connect_error");
  assert.equal(err.message, "Invalid namespace");
});

test("settings come from SWITCHBOARD_* environment variables, and a flag wins", bounded(15000), async () => {
  srv = await servers.start({ env: { SWITCHBOARD_PING_INTERVAL: "1234", SWITCHBOARD_MAX_PAYLOAD: "4321" } });
  let { open } = await eioOpen(srv);
  assert.equal(open.pingInterval, 1234);
  assert.equal(open.maxPayload, 4321);
  await srv.stop();
  srv = await servers.start({ env: { SWITCHBOARD_PING_INTERVAL: "1234" }, args: ["--ping-interval", "5678"] });
  ({ open } = await eioOpen(srv));
  assert.equal(open.pingInterval, 5678);
});

test("the daemon refuses to start without helpdesk credentials, and never prints a secret", bounded(20000), async () => {
  const port = String(await freePort());
  const envRun = (args, env) => new Promise((resolve, reject) => {
    const p = spawn(binary("server"), args, { stdio: ["ignore", "pipe", "pipe"], env: { PATH: process.env.PATH, ...env } });
    const out = [], err = [];
    p.stdout.on("data", (d) => out.push(d));
    p.stderr.on("data", (d) => err.push(d));
    p.on("error", reject);
    const killer = setTimeout(() => p.kill("SIGTERM"), ms(1500));
    p.on("exit", (code, signal) => {
      clearTimeout(killer);
      resolve({ code, signal, text: Buffer.concat(out).toString() + Buffer.concat(err).toString() });
    });
  });
  let r = await envRun(["--host", HOST, "--port", port], {});
  assert.equal(r.code, 2, r.text);
  assert.match(r.text, /--jwt-secret/);
  assert.match(r.text, /--api-key/);
  r = await envRun(["--host", HOST, "--port", port, "--jwt-secret", "short"], {});
  assert.equal(r.code, 2);
  assert.match(r.text, /too short/);
  assert.ok(!r.text.includes("short\n") && !r.text.includes("'short'"), "the secret is not echoed");
  const secret = "a-very-secret-value-0123456789", key = "an-api-key-value-0123456789";
  r = await envRun(["--host", HOST, "--port", port, "--api-key", key], { SWITCHBOARD_JWT_SECRET: secret });
  assert.equal(r.signal, null, r.text);
  assert.equal(r.code, 0, "it ran and stopped on SIGTERM");
  assert.ok(!r.text.includes(secret) && !r.text.includes(key), `a secret was printed:\n${r.text}`);
  assert.match(r.text, /embedded/, "the embedded mode says that state is lost on restart");
  r = await envRun(["--routing", "sideways", "--api-key", key], {});
  assert.equal(r.code, 2);
});
