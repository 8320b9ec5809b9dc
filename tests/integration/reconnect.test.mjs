// Reconnection after a server restart: the server is stopped (SIGTERM, clean exit) and
// started again on the same port; the stock client reconnects by itself and can emit.

import { test } from "node:test";
import assert from "node:assert/strict";
import {
  serversPerTest, client, connected, echoRoundTrip, emitAck, waitEvent, sleep, ms, bounded,
} from "./helpers.mjs";

const servers = serversPerTest();
let srv;

const reconnecting = {
  reconnection: true,
  reconnectionDelay: 100,
  reconnectionDelayMax: 300,
  randomizationFactor: 0,
};

for (const transports of [["websocket"], ["polling"], ["polling", "websocket"]]) {
  test(`${transports.join("+")}: the client reconnects by itself after a restart`, bounded(30000), async () => {
    srv = await servers.start();
    const port = srv.port;
    const s = client(srv, "/", { transports, ...reconnecting });
    await connected(s);
    await echoRoundTrip(s, "before restart");
    const firstId = s.id;

    const disconnected = waitEvent(s, "disconnect", ms(5000));
    await sleep(ms(200)); // let a polling client park its next GET
    await srv.stop();
    const [reason] = await disconnected;
    assert.equal(reason, "transport close");

    const reconnected = waitEvent(s.io, "reconnect", ms(20000));
    const connectedAgain = waitEvent(s, "connect", ms(20000));
    srv = await servers.start({ port });
    await connectedAgain;
    await reconnected;
    assert.notEqual(s.id, firstId, "a restarted server knows nothing of the old session");
    assert.ok(!s.recovered, "nothing to recover without --recovery-window");
    await echoRoundTrip(s, "after restart");
    assert.deepEqual(await emitAck(s, "message-with-ack", "ack after restart"), ["ack after restart"]);
  });
}

test("emits buffered while the server is down are delivered after reconnection", bounded(30000), async () => {
  srv = await servers.start();
  const port = srv.port;
  const s = client(srv, "/", { transports: ["websocket"], ...reconnecting });
  await connected(s);
  const disconnected = waitEvent(s, "disconnect", ms(5000));
  await srv.stop();
  await disconnected;
  // socket.io-client buffers emits made while disconnected and flushes them on connect
  const back = waitEvent(s, "message-back", ms(10000));
  s.emit("message", "sent while down");
  srv = await servers.start({ port });
  assert.deepEqual(await back, ["sent while down"]);
});

test("a custom namespace and the main one both reconnect over one new engine", bounded(30000), async () => {
  srv = await servers.start();
  const port = srv.port;
  const root = client(srv, "/", { transports: ["websocket"], ...reconnecting });
  const custom = root.io.socket("/custom");
  custom.connect();
  await Promise.all([connected(root), connected(custom)]);
  const downs = [waitEvent(root, "disconnect", ms(5000)), waitEvent(custom, "disconnect", ms(5000))];
  await srv.stop();
  await Promise.all(downs);
  const ups = [waitEvent(root, "connect", ms(20000)), waitEvent(custom, "connect", ms(20000))];
  srv = await servers.start({ port });
  await Promise.all(ups);
  assert.equal(root.io.engine.id, custom.io.engine.id);
  await echoRoundTrip(root, "root back");
  await echoRoundTrip(custom, "custom back");
});
