// Health endpoints of the daemon, for load balancers: GET /healthz says the process
// serves, GET /readyz says the node can do its whole job (embedded mode: always).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, request, jsonBody, client, connected, closeClients, bounded } from "./helpers.mjs";

let srv;
before(async () => { srv = await startServer({ kind: "server" }); });
after(async () => { closeClients(); await srv.stop(); });

test("GET /healthz answers 200 ok", bounded(10000), async () => {
  const res = await request(srv.port, { path: "/healthz" });
  assert.equal(res.status, 200);
  assert.match(res.headers["content-type"], /application\/json/);
  assert.deepEqual(jsonBody(res), { status: "ok" });
});

test("GET /readyz answers 200 ready in the embedded mode", bounded(10000), async () => {
  const res = await request(srv.port, { path: "/readyz" });
  assert.equal(res.status, 200);
  assert.deepEqual(jsonBody(res), { status: "ready" });
});

test("other paths and methods answer 404, and Socket.IO still works beside them", bounded(10000), async () => {
  assert.equal((await request(srv.port, { path: "/nope" })).status, 404);
  assert.equal((await request(srv.port, { method: "POST", path: "/healthz", body: "x" })).status, 404);
  const s = client(srv, "/", { transports: ["websocket"] });
  await connected(s);
  assert.ok(s.id);
});
