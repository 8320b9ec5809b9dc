// Graceful shutdown: on SIGTERM the server stops accepting, sends every session a close,
// and exits 0 (stop() also checks the sanitizer reports). socket.io-client reports an
// Engine.IO close as "transport close", so its reconnection logic would retry — which is
// what a rolling restart needs.

import { test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import {
  serversPerTest, client, connected, waitEvent, eioOpen, eioGet, eioWsOpen, splitPayload, sleep,
  ms, bounded, HOST,
} from "./helpers.mjs";

const servers = serversPerTest();
let srv;

function portRefuses(port) {
  return new Promise((resolve) => {
    const s = net.connect(port, HOST);
    s.on("connect", () => { s.destroy(); resolve(false); });
    s.on("error", () => resolve(true));
  });
}

test("switchboard with no clients exits 0 on SIGTERM, promptly", bounded(15000), async () => {
  srv = await servers.start({ kind: "server" });
  const t0 = Date.now();
  await srv.stop({ timeoutMs: ms(3000) });
  console.log(`# idle shutdown took ${Date.now() - t0} ms`);
  assert.ok(await portRefuses(srv.port), "the port is released");
});

test("switchboard: every connected client is disconnected with 'transport close', exit 0", bounded(30000), async () => {
  srv = await servers.start({ kind: "server" });
  const sockets = [
    client(srv, "/", { transports: ["websocket"] }),
    client(srv, "/", { transports: ["polling"] }),
    client(srv, "/", { transports: ["polling", "websocket"] }),
    ...Array.from({ length: 20 }, (_, i) => client(srv, "/", { transports: [i % 2 ? "polling" : "websocket"] })),
  ];
  await Promise.all(sockets.map((s) => connected(s)));
  const reasons = Promise.all(sockets.map((s) => waitEvent(s, "disconnect", ms(10000)).then(([r]) => r)));
  await sleep(ms(300)); // polling clients park their GET; the upgrade completes
  await srv.stop({ timeoutMs: ms(5000) });
  const got = await reasons;
  assert.deepEqual(got, sockets.map(() => "transport close"));
});

for (const transports of [["polling"], ["websocket"]]) {
  test(`switchboard: a lone ${transports[0]} client is disconnected with 'transport close'`, bounded(15000), async () => {
    srv = await servers.start({ kind: "server" });
    const s = client(srv, "/", { transports });
    await connected(s);
    const down = waitEvent(s, "disconnect", ms(10000));
    await sleep(ms(300));
    await srv.stop();
    assert.deepEqual(await down.then(([r]) => r), "transport close");
  });
}

test("echo: a parked polling GET is answered with a CLOSE packet", bounded(15000), async () => {
  srv = await servers.start();
  const { sid } = await eioOpen(srv);
  const parked = eioGet(srv, sid, { timeoutMs: ms(5000) });
  await sleep(ms(200));
  const stopping = srv.stop();
  stopping.catch(() => {}); // reported by afterEach if the assertions below fail first
  const res = await parked;
  assert.equal(res.status, 200);
  assert.equal(splitPayload(res.text).at(-1), "1", `the poll must end with a CLOSE packet, got ${JSON.stringify(res.text)}`);
  await stopping;
});

test("echo: a raw websocket session gets a proper close (not a reset)", bounded(15000), async () => {
  srv = await servers.start();
  const { conn } = await eioWsOpen(srv);
  await sleep(ms(100));
  const stopping = srv.stop();
  stopping.catch(() => {}); // reported by afterEach if the assertions below fail first
  const info = await conn.expectClosed(ms(5000));
  assert.notEqual(info.code, 1006, "the server must send a close frame, not drop the TCP connection");
  await stopping;
});

test("echo: shutdown with 300 clients on both transports finishes in bounded time", bounded(60000), async () => {
  srv = await servers.start();
  const sockets = Array.from({ length: 300 }, (_, i) => client(srv, i % 3 === 0 ? "/custom" : "/", { transports: [i % 4 === 0 ? "polling" : "websocket"] }));
  await Promise.all(sockets.map((s) => connected(s, ms(20000))));
  const reasons = Promise.all(sockets.map((s) => waitEvent(s, "disconnect", ms(15000)).then(([r]) => r)));
  await sleep(ms(300));
  const t0 = Date.now();
  await srv.stop({ timeoutMs: ms(10000) });
  console.log(`# shutdown with 300 clients took ${Date.now() - t0} ms`);
  const got = await reasons;
  assert.equal(got.filter((r) => r === "transport close").length, 300, `reasons: ${[...new Set(got)]}`);
});

test("switchboard: new connections are refused once shutdown has begun", bounded(15000), async () => {
  srv = await servers.start({ kind: "server" });
  const s = client(srv, "/", { transports: ["websocket"] });
  await connected(s);
  await srv.stop();
  const late = client(srv, "/", { transports: ["websocket"], timeout: ms(1000) });
  const [err] = await waitEvent(late, "connect_error", ms(5000));
  assert.ok(err, "connecting to a stopped server fails");
});
