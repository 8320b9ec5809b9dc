// The CONNECT auth payload: delivered to the namespace (the echo emits it back as
// `auth`), per namespace, and refusals carried to the client as connect_error.
//
// Refusal uses the echo's `/refuse` namespace, which refuses every CONNECT with
// message "refused" and data {"reason":"test"}; an unknown namespace is refused with
// "Invalid namespace".

import { test } from "node:test";
import assert from "node:assert/strict";
import {
  useServer, client, manager, connected, waitEvent, echoRoundTrip, eioWsOpen, assertEchoHealthy,
  ms, bounded,
} from "./helpers.mjs";

const srv = useServer();

for (const transport of ["polling", "websocket"]) {
  test(`${transport}: the auth payload reaches the namespace`, bounded(15000), async () => {
    const auth = { token: "abc", n: 1, nested: { list: [1, "2", null] }, unicode: "é€😀" };
    const s = client(srv, "/", { transports: [transport], auth });
    const got = waitEvent(s, "auth");
    await connected(s);
    assert.deepEqual(await got, [auth]);
  });
}

test("no auth option: the namespace sees an empty object", bounded(15000), async () => {
  const s = client(srv, "/", { transports: ["websocket"] });
  const got = waitEvent(s, "auth");
  await connected(s);
  assert.deepEqual(await got, [{}]);
});

test("auth given as a function", bounded(15000), async () => {
  const s = client(srv, "/", { transports: ["websocket"], auth: (cb) => cb({ fromFunction: true }) });
  const got = waitEvent(s, "auth");
  await connected(s);
  assert.deepEqual(await got, [{ fromFunction: true }]);
});

test("each namespace on one connection gets its own auth payload", bounded(15000), async () => {
  const m = manager(srv, { transports: ["websocket"] });
  const root = m.socket("/", { auth: { who: "root" } });
  const custom = m.socket("/custom", { auth: { who: "custom" } });
  const gotRoot = waitEvent(root, "auth");
  const gotCustom = waitEvent(custom, "auth");
  await Promise.all([connected(root), connected(custom)]);
  assert.deepEqual(await gotRoot, [{ who: "root" }]);
  assert.deepEqual(await gotCustom, [{ who: "custom" }]);
  assert.equal(root.io.engine.id, custom.io.engine.id);
});

for (const transport of ["polling", "websocket"]) {
  test(`${transport}: a refused CONNECT gives connect_error with message and data`, bounded(15000), async () => {
    const s = client(srv, "/refuse", { transports: [transport], auth: { token: "nope" } });
    const [err] = await waitEvent(s, "connect_error");
    assert.ok(err instanceof Error);
    assert.equal(err.message, "refused");
    assert.deepEqual(err.data, { reason: "test" });
    assert.equal(s.connected, false);
  });
}

test("a refusal on one namespace leaves the shared connection usable", bounded(15000), async () => {
  const m = manager(srv, { transports: ["websocket"] });
  const root = m.socket("/");
  await connected(root);
  const refused = m.socket("/refuse");
  const [err] = await waitEvent(refused, "connect_error");
  assert.equal(err.message, "refused");
  assert.equal(root.connected, true);
  await echoRoundTrip(root, "after refusal");
});

test("unknown namespace: connect_error 'Invalid namespace' without data", bounded(15000), async () => {
  const s = client(srv, "/nope", { transports: ["polling"] });
  const [err] = await waitEvent(s, "connect_error");
  assert.equal(err.message, "Invalid namespace");
  assert.equal(err.data, undefined);
});

test("wire format: CONNECT_ERROR packets", bounded(15000), async () => {
  const { conn } = await eioWsOpen(srv);
  conn.send('40/refuse,{"token":"x"}');
  assert.equal(await conn.next(), '44/refuse,{"message":"refused","data":{"reason":"test"}}');
  conn.send("40/random,");
  assert.equal(await conn.next(), '44/random,{"message":"Invalid namespace"}');
  // the connection itself survives refusals
  conn.send("40");
  assert.match(await conn.next(), /^40\{"sid":/);
});

test("a CONNECT whose auth is not an object closes the connection", bounded(15000), async () => {
  // socket.io-parser refuses CONNECT data that is not an object (here an array).
  const { conn } = await eioWsOpen(srv);
  conn.send('40["not","an","object"]');
  await conn.expectClosed();
  await assertEchoHealthy(srv);
});

test("a huge auth payload (just under max payload) is delivered intact", bounded(15000), async () => {
  const auth = { blob: "a".repeat(500 * 1000) };
  const s = client(srv, "/", { transports: ["websocket"], auth });
  const got = waitEvent(s, "auth", ms(10000));
  await connected(s);
  assert.deepEqual(await got, [auth]);
});
