// Namespaces multiplexed over one Engine.IO connection: `/` and `/custom` share the
// engine, events stay in their namespace, and an unknown namespace is refused without
// harming the others.

import { test } from "node:test";
import assert from "node:assert/strict";
import {
  useServer, manager, client, connected, echoRoundTrip, emitAck, waitEvent, expectNoEvent,
  eioWsOpen, assertEchoHealthy, ms, bounded,
} from "./helpers.mjs";

const srv = useServer();

for (const transport of ["polling", "websocket"]) {
  test(`${transport}: "/" and "/custom" share one engine and keep their events apart`, bounded(15000), async () => {
    const m = manager(srv, { transports: [transport] });
    const root = m.socket("/");
    const custom = m.socket("/custom");
    await Promise.all([connected(root), connected(custom)]);
    assert.ok(m.engine.id, "engine id");
    assert.equal(root.io, custom.io);
    assert.equal(root.io.engine.id, custom.io.engine.id);
    assert.notEqual(root.id, custom.id, "each namespace has its own socket id");

    const rootBack = waitEvent(root, "message-back");
    const leak = expectNoEvent(custom, "message-back", ms(300));
    root.emit("message", "to root");
    assert.deepEqual(await rootBack, ["to root"]);
    await leak;

    const customBack = waitEvent(custom, "message-back");
    const leak2 = expectNoEvent(root, "message-back", ms(300));
    custom.emit("message", "to custom");
    assert.deepEqual(await customBack, ["to custom"]);
    await leak2;

    assert.deepEqual(await emitAck(custom, "message-with-ack", "c"), ["c"]);
    assert.deepEqual(await emitAck(root, "message-with-ack", "r"), ["r"]);
  });
}

test("a custom namespace alone, without the main one", bounded(15000), async () => {
  const s = client(srv, "/custom", { transports: ["websocket"] });
  await connected(s);
  await echoRoundTrip(s, "only custom");
});

test("an unknown namespace gets connect_error 'Invalid namespace'; siblings are unaffected", bounded(15000), async () => {
  const m = manager(srv, { transports: ["websocket"] });
  const root = m.socket("/");
  await connected(root);
  const bad = m.socket("/does-not-exist");
  const [err] = await waitEvent(bad, "connect_error");
  assert.equal(err.message, "Invalid namespace");
  assert.equal(bad.connected, false);
  assert.equal(root.connected, true);
  await echoRoundTrip(root, "still fine");
  const custom = m.socket("/custom");
  await connected(custom);
  assert.equal(custom.io.engine.id, root.io.engine.id);
});

test("leaving one namespace keeps the connection and the other namespace", bounded(15000), async () => {
  const m = manager(srv, { transports: ["websocket"] });
  const root = m.socket("/");
  const custom = m.socket("/custom");
  await Promise.all([connected(root), connected(custom)]);
  const engineId = m.engine.id;
  custom.disconnect();
  await echoRoundTrip(root, "root after custom left");
  assert.equal(m.engine.id, engineId);
  // and joining it again works over the same engine (Manager.socket() reconnects it)
  const again = m.socket("/custom");
  await connected(again);
  await echoRoundTrip(again, "custom again");
  assert.equal(m.engine.id, engineId);
});

test("wire format: CONNECT replies, namespace prefixes and the auth event", bounded(15000), async () => {
  const { conn } = await eioWsOpen(srv);
  conn.send("40");
  const r1 = await conn.next();
  assert.match(r1, /^40\{"sid":"[^"]+"\}$/);
  assert.equal(await conn.next(), '42["auth",{}]');
  conn.send('40/custom,{"token":"abc"}');
  const r2 = await conn.next();
  assert.match(r2, /^40\/custom,\{"sid":"[^"]+"\}$/);
  assert.notEqual(JSON.parse(r2.slice(10)).sid, JSON.parse(r1.slice(2)).sid);
  assert.equal(await conn.next(), '42/custom,["auth",{"token":"abc"}]');
  conn.send("40/random");
  assert.equal(await conn.next(), '44/random,{"message":"Invalid namespace"}');
  conn.send('42/custom,["message",1,"2",{"3":[true]}]');
  assert.equal(await conn.next(), '42/custom,["message-back",1,"2",{"3":[true]}]');
  conn.send("41/custom,");
  conn.send('42["message","message to main namespace"]');
  assert.equal(await conn.next(), '42["message-back","message to main namespace"]');
});

test("wire format: a packet for a namespace the client never joined closes the connection", bounded(15000), async () => {
  // As the Node server does ("invalid state"): only CONNECT may name a new namespace.
  const { conn } = await eioWsOpen(srv);
  conn.send("40");
  await conn.next(); // CONNECT reply
  await conn.next(); // auth
  conn.send('42/custom,["message","not joined"]');
  await conn.expectClosed();
  await assertEchoHealthy(srv);
});
