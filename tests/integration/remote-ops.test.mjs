// Cluster-wide operations on a single node, through the echo's events (see echo.c):
//   sockets-join (target, room|rooms)    sockets-leave (target, room|rooms)
//   disconnect-sockets (target, close)   fetch-sockets (target) → [{id, handshake, rooms, data}]
//   set-data (object)                    server-side-emit (event, ...args) → [answers]
// A target is null (everyone), a room, an array of rooms, or {rooms, except}. Expected
// behaviour is Node's (socket.io 4.8): io.in(target).socketsJoin() / socketsLeave() /
// disconnectSockets(close) / fetchSockets(), and serverSideEmit with an ack on a node
// alone in its cluster, which completes at once with no answers (its own handlers never
// run). Sockets closed by an earlier test may linger on the server for a moment, so tests
// that target everyone first wait until the server sees exactly their own sockets.

import { test } from "node:test";
import assert from "node:assert/strict";
import {
  useServer, client, roomMember, manager, connected, emitAck, waitEvent, expectNoEvent, echoRoundTrip,
  sleep, ms, bounded,
} from "./helpers.mjs";

const srv = useServer();

const member = (nsp, transport, ...rooms) => roomMember(srv, nsp, transport, ...rooms);

// fetch-sockets through `via`; fails on an error answer.
async function fetch(via, target) {
  const reply = await emitAck(via, "fetch-sockets", target);
  assert.equal(reply.length, 1, `fetch-sockets failed: ${JSON.stringify(reply)}`);
  return reply[0];
}

const sorted = (ids) => [...ids].sort();
const idsOf = (fetched) => sorted(fetched.map((f) => f.id));

async function fetchIds(via, target) {
  return idsOf(await fetch(via, target));
}

// Waits until the namespace holds exactly these sockets (earlier tests' have left).
async function settle(sockets) {
  const want = sorted(sockets.map((s) => s.id));
  const end = Date.now() + ms(5000);
  let got;
  while (Date.now() < end) {
    got = await fetchIds(sockets[0], null);
    if (JSON.stringify(got) === JSON.stringify(want)) return;
    await sleep(ms(50));
  }
  assert.deepEqual(got, want, "the namespace never held exactly this test's sockets");
}

// Expects the ack of a remote operation that only acts: no arguments.
async function act(via, event, ...args) {
  assert.deepEqual(await emitAck(via, event, ...args), [], `${event} ${JSON.stringify(args)}`);
}

// ---- sockets-join ------------------------------------------------------------------------

test("sockets-join: the sockets of the target room join the new room, nobody else", bounded(15000), async () => {
  const a = await member("/", "websocket", "sj-r1");
  const b = await member("/", "polling", "sj-r1");
  const c = await member("/", "websocket", "sj-r2");
  const d = await member("/", "polling");
  await act(d, "sockets-join", "sj-r1", "sj-new");
  assert.deepEqual(await fetchIds(d, "sj-new"), sorted([a.id, b.id]));
  const [fa] = await fetch(d, a.id);
  assert.deepEqual(fa.rooms, [a.id, "sj-r1", "sj-new"]);
  const gotA = waitEvent(a, "room-message");
  const gotB = waitEvent(b, "room-message");
  const quietC = expectNoEvent(c, "room-message", ms(400));
  const quietD = expectNoEvent(d, "room-message", ms(400));
  d.emit("to-room", "sj-new", "to the joined");
  assert.deepEqual(await gotA, ["to the joined"]);
  assert.deepEqual(await gotB, ["to the joined"]);
  await quietC;
  await quietD;
});

test("sockets-join: everyone, several rooms at once, minus an except room", bounded(15000), async () => {
  const a = await member("/", "websocket");
  const b = await member("/", "polling", "sj-out");
  const c = await member("/", "websocket");
  await settle([a, b, c]);
  await act(a, "sockets-join", { except: "sj-out" }, ["sj-x", "sj-y"]);
  assert.deepEqual(await fetchIds(a, "sj-x"), sorted([a.id, c.id]));
  assert.deepEqual(await fetchIds(a, "sj-y"), sorted([a.id, c.id]));
  await act(a, "sockets-join", null, "sj-all");
  assert.deepEqual(await fetchIds(a, "sj-all"), sorted([a.id, b.id, c.id]));
});

test("sockets-join: a socket id is a room, joining twice changes nothing", bounded(15000), async () => {
  const a = await member("/", "websocket");
  const b = await member("/", "websocket");
  await act(b, "sockets-join", a.id, "sj-one");
  await act(b, "sockets-join", a.id, ["sj-one"]);
  const fetched = await fetch(b, "sj-one");
  assert.deepEqual(idsOf(fetched), [a.id]);
  assert.deepEqual(fetched[0].rooms, [a.id, "sj-one"]);
  const got = waitEvent(a, "room-message");
  b.emit("to-room", "sj-one", "once");
  assert.deepEqual(await got, ["once"]);
  await expectNoEvent(a, "room-message", ms(300));
});

test("sockets-join: rooms and targets belong to their namespace", bounded(15000), async () => {
  const root = await member("/", "websocket", "sj-ns");
  const custom = await member("/custom", "websocket", "sj-ns");
  await act(custom, "sockets-join", "sj-ns", "sj-ns-joined");
  assert.deepEqual(await fetchIds(custom, "sj-ns-joined"), [custom.id]);
  assert.deepEqual(await fetchIds(root, "sj-ns-joined"), []);
});

// ---- sockets-leave -----------------------------------------------------------------------

test("sockets-leave: the target's sockets leave, the room's other members and rooms stay", bounded(15000), async () => {
  const a = await member("/", "websocket", "sl-r1", "sl-x");
  const b = await member("/", "polling", "sl-r1", "sl-x");
  const c = await member("/", "websocket", "sl-x");
  await act(c, "sockets-leave", "sl-r1", "sl-x");
  assert.deepEqual(await fetchIds(c, "sl-x"), [c.id]);
  assert.deepEqual(await fetchIds(c, "sl-r1"), sorted([a.id, b.id]));
  const [fa] = await fetch(c, a.id);
  assert.deepEqual(fa.rooms, [a.id, "sl-r1"]);
  const gotC = waitEvent(c, "room-message");
  const quietA = expectNoEvent(a, "room-message", ms(400));
  const quietB = expectNoEvent(b, "room-message", ms(400));
  c.emit("to-room", "sl-x", "only c is left");
  assert.deepEqual(await gotC, ["only c is left"]);
  await quietA;
  await quietB;
});

test("sockets-leave: several rooms, rooms not joined are skipped, except is honoured", bounded(15000), async () => {
  const a = await member("/", "websocket", "sl-a", "sl-b", "sl-keep");
  const b = await member("/", "websocket", "sl-a", "sl-b", "sl-spare");
  await act(a, "sockets-leave", { rooms: ["sl-a", "sl-b"], except: "sl-spare" }, ["sl-a", "sl-b", "sl-never"]);
  const [fa] = await fetch(a, a.id);
  const [fb] = await fetch(a, b.id);
  assert.deepEqual(fa.rooms, [a.id, "sl-keep"]);
  assert.deepEqual(fb.rooms, [b.id, "sl-a", "sl-b", "sl-spare"]);
  assert.deepEqual(await fetchIds(a, "sl-never"), []);
});

// ---- disconnect-sockets ------------------------------------------------------------------

test("disconnect-sockets(false): the target's sockets get \"io server disconnect\", their other namespaces stay", bounded(20000), async () => {
  const m = manager(srv, { transports: ["websocket"] });
  const a = m.socket("/");
  const aCustom = m.socket("/custom");
  a.connect();
  aCustom.connect();
  await Promise.all([connected(a), connected(aCustom)]);
  await emitAck(a, "join", "dc-r1");
  const b = await member("/", "polling", "dc-r1");
  const c = await member("/", "websocket", "dc-other");
  const lostA = waitEvent(a, "disconnect");
  const lostB = waitEvent(b, "disconnect");
  const quietC = expectNoEvent(c, "disconnect", ms(500));
  const quietCustom = expectNoEvent(aCustom, "disconnect", ms(500));
  await act(c, "disconnect-sockets", "dc-r1", false);
  assert.equal((await lostA)[0], "io server disconnect");
  assert.equal((await lostB)[0], "io server disconnect");
  await quietC;
  await quietCustom;
  assert.ok(aCustom.connected);
  await echoRoundTrip(aCustom, "the connection is still open");
  assert.deepEqual(await fetchIds(c, "dc-r1"), []);
  assert.deepEqual(await fetchIds(c, c.id), [c.id]);
});

for (const transport of ["polling", "websocket"]) {
  test(`disconnect-sockets(true) over ${transport}: the whole connection closes, its other namespaces included`, bounded(20000), async () => {
    const m = manager(srv, { transports: [transport] });
    const a = m.socket("/");
    const aCustom = m.socket("/custom");
    a.connect();
    aCustom.connect();
    await Promise.all([connected(a), connected(aCustom)]);
    await emitAck(a, "join", "dc-close");
    const c = await member("/", "websocket");
    // every disconnect event: Node's server sends the DISCONNECTs before closing the
    // transport, so each socket sees "io server disconnect" once and nothing else
    const reasons = [];
    a.on("disconnect", (r) => reasons.push(`/:${r}`));
    aCustom.on("disconnect", (r) => reasons.push(`/custom:${r}`));
    const closed = waitEvent(m, "close");
    const quietC = expectNoEvent(c, "disconnect", ms(500));
    await act(c, "disconnect-sockets", "dc-close", true);
    await closed;
    await quietC;
    assert.deepEqual(reasons.sort(), ["/:io server disconnect", "/custom:io server disconnect"]);
    assert.deepEqual(await fetchIds(c, "dc-close"), []);
    await echoRoundTrip(c, "c still served");
  });
}

test("disconnect-sockets: a sender inside the target gets its ack first, then the disconnect", bounded(15000), async () => {
  const a = await member("/", "websocket", "dc-self");
  const b = await member("/", "websocket", "dc-self");
  // recorded from the callbacks themselves: a promise would resolve a microtask late
  const order = [];
  a.on("disconnect", (reason) => order.push(`disconnect:${reason}`));
  const lostB = waitEvent(b, "disconnect");
  const lostA = waitEvent(a, "disconnect");
  a.emit("disconnect-sockets", "dc-self", false, (...reply) => order.push(`ack:${JSON.stringify(reply)}`));
  await lostA;
  assert.deepEqual(order, ["ack:[]", "disconnect:io server disconnect"]);
  assert.equal((await lostB)[0], "io server disconnect");
});

test("disconnect-sockets: everyone minus an except room", bounded(15000), async () => {
  const a = await member("/", "websocket", "dc-keep");
  const b = await member("/", "polling");
  const c = await member("/", "websocket");
  await settle([a, b, c]);
  const lostB = waitEvent(b, "disconnect");
  const lostC = waitEvent(c, "disconnect");
  const quietA = expectNoEvent(a, "disconnect", ms(500));
  await act(a, "disconnect-sockets", { except: ["dc-keep"] }, false);
  assert.equal((await lostB)[0], "io server disconnect");
  assert.equal((await lostC)[0], "io server disconnect");
  await quietA;
  assert.deepEqual(await fetchIds(a, null), [a.id]);
});

// ---- a socket's own-id room ----------------------------------------------------------------
// Every socket is in the room named by its id, as in Node (the server keeps that room
// implicit, without a room object of its own): it can be targeted, excepted, joined by
// another socket, left, and joined again.

test("a socket's own id is a room: it reaches that socket, and others who joined it", bounded(15000), async () => {
  const a = await member("/", "websocket");
  const b = await member("/", "polling");
  const c = await member("/", "websocket");
  let gotA = waitEvent(a, "room-message");
  let quiet = [expectNoEvent(b, "room-message", ms(300)), expectNoEvent(c, "room-message", ms(300))];
  b.emit("to-room", a.id, "to a");
  assert.deepEqual(await gotA, ["to a"]);
  await Promise.all(quiet);
  await emitAck(c, "join", a.id);
  gotA = waitEvent(a, "room-message");
  const gotC = waitEvent(c, "room-message");
  b.emit("to-room", a.id, "to a's room");
  assert.deepEqual(await gotA, ["to a's room"]);
  assert.deepEqual(await gotC, ["to a's room"]);
  // except c's own room: a only
  quiet = [expectNoEvent(b, "room-message", ms(300)), expectNoEvent(c, "room-message", ms(300))];
  gotA = waitEvent(a, "room-message");
  b.emit("to-room-except", a.id, c.id, "not c");
  assert.deepEqual(await gotA, ["not c"]);
  await Promise.all(quiet);
  const fetched = await fetch(b, a.id);
  assert.deepEqual(idsOf(fetched), sorted([a.id, c.id]));
  assert.deepEqual(fetched.find((f) => f.id === a.id).rooms, [a.id]);
  assert.deepEqual(fetched.find((f) => f.id === c.id).rooms, [c.id, a.id]);
  // c leaves (it was the room's explicit member): a is still in its own room
  await act(c, "disconnect-sockets", c.id, false);
  const end = Date.now() + ms(5000);
  while ((await fetchIds(b, a.id)).length > 1 && Date.now() < end) await sleep(ms(50));
  assert.deepEqual(await fetchIds(b, a.id), [a.id]);
  gotA = waitEvent(a, "room-message");
  b.emit("to-room", a.id, "a alone");
  assert.deepEqual(await gotA, ["a alone"]);
});

test("a socket that left its own-id room is not reached through it, and may join it again", bounded(15000), async () => {
  const a = await member("/", "websocket", "own-r");
  const b = await member("/", "polling");
  await act(b, "sockets-leave", a.id, a.id);
  assert.deepEqual((await fetch(b, "own-r")).map((f) => f.rooms), [["own-r"]]);
  assert.deepEqual(await fetch(b, a.id), []);
  const quiet = expectNoEvent(a, "room-message", ms(300));
  b.emit("to-room", a.id, "nobody");
  await quiet;
  await emitAck(a, "join", a.id);
  assert.deepEqual((await fetch(b, "own-r")).map((f) => f.rooms), [["own-r", a.id]]);
  const got = waitEvent(a, "room-message");
  b.emit("to-room", a.id, "again");
  assert.deepEqual(await got, ["again"]);
});

// ---- fetch-sockets -----------------------------------------------------------------------

test("fetch-sockets: id, handshake (auth, address, query, url, time), rooms and data", bounded(15000), async () => {
  const auth = { token: "t-1", nested: { n: 2 } };
  const s = client(srv, "/", { transports: ["websocket"], auth, query: { foo: "bar" } });
  await connected(s);
  await emitAck(s, "join", "fs-room");
  await act(s, "set-data", { name: "alice", n: 1, tags: ["x"] });
  const other = await member("/", "polling");
  const before = Date.now();
  const fetched = await fetch(other, "fs-room");
  assert.equal(fetched.length, 1);
  const [f] = fetched;
  assert.deepEqual(Object.keys(f).sort(), ["data", "handshake", "id", "rooms"]);
  assert.equal(f.id, s.id);
  assert.deepEqual(f.rooms, [s.id, "fs-room"]);
  assert.deepEqual(f.data, { name: "alice", n: 1, tags: ["x"] });
  const h = f.handshake;
  assert.deepEqual(h.auth, auth);
  assert.equal(h.address, "127.0.0.1");
  assert.equal(h.query.foo, "bar");
  assert.equal(h.query.EIO, "4");
  assert.equal(h.query.transport, "websocket");
  assert.ok(h.url.startsWith(`${srv.path}?`) && h.url.includes("foo=bar"), `url ${h.url}`);
  assert.equal(typeof h.issued, "number");
  assert.ok(h.issued <= before && h.issued > before - ms(60000), `issued ${h.issued}, now ${before}`);
  assert.equal(typeof h.time, "string");
  assert.ok(!Number.isNaN(Date.parse(h.time.replace(/ GMT.*/, ""))), `time ${h.time}`);
});

test("fetch-sockets: a socket without auth or data has {} for both", bounded(15000), async () => {
  const s = await member("/", "polling", "fs-plain");
  const [f] = await fetch(s, "fs-plain");
  assert.deepEqual(f.handshake.auth, {});
  assert.deepEqual(f.data, {});
  assert.equal(f.handshake.query.transport, "polling");
});

test("fetch-sockets: a union of rooms lists each socket once, except rooms are left out", bounded(15000), async () => {
  const a = await member("/", "websocket", "fs-r1", "fs-r2");
  const b = await member("/", "polling", "fs-r2");
  const c = await member("/", "websocket", "fs-r1", "fs-skip");
  assert.deepEqual(await fetchIds(a, ["fs-r1", "fs-r2"]), sorted([a.id, b.id, c.id]));
  assert.deepEqual(await fetchIds(a, { rooms: ["fs-r1", "fs-r2"], except: "fs-skip" }), sorted([a.id, b.id]));
  assert.deepEqual(await fetchIds(a, "fs-nobody"), []);
  await settle([a, b, c]);
  assert.deepEqual(await fetchIds(a, { except: ["fs-r2"] }), [c.id]);
});

test("fetch-sockets: data is a snapshot, later changes show in the next fetch", bounded(15000), async () => {
  const s = await member("/", "websocket", "fs-snap");
  await act(s, "set-data", { v: 1 });
  const [first] = await fetch(s, "fs-snap");
  await act(s, "set-data", { v: 2, w: true });
  const [second] = await fetch(s, "fs-snap");
  assert.deepEqual(first.data, { v: 1 });
  assert.deepEqual(second.data, { v: 2, w: true });
});

test("fetch-sockets: a disconnected socket is no longer listed", bounded(15000), async () => {
  const a = await member("/", "websocket", "fs-gone");
  const b = await member("/", "websocket", "fs-gone");
  assert.deepEqual(await fetchIds(b, "fs-gone"), sorted([a.id, b.id]));
  a.disconnect();
  const end = Date.now() + ms(3000);
  let ids;
  do {
    ids = await fetchIds(b, "fs-gone");
    if (ids.length === 1) break;
    await sleep(ms(20));
  } while (Date.now() < end);
  assert.deepEqual(ids, [b.id]);
});

// ---- server-side-emit --------------------------------------------------------------------

test("server-side-emit: alone in the cluster, it completes at once with no answers", bounded(15000), async () => {
  const s = await member("/", "websocket");
  const t0 = Date.now();
  assert.deepEqual(await emitAck(s, "server-side-emit", "ping-node"), [[]]);
  assert.deepEqual(await emitAck(s, "server-side-emit", "ping-node", 1, { a: [true] }), [[]]);
  assert.deepEqual(await emitAck(s, "server-side-emit", "no-handler-anywhere"), [[]]);
  // far below the 5 s a missing answer would cost: nothing waited for another node
  assert.ok(Date.now() - t0 < ms(2000), `took ${Date.now() - t0} ms`);
  const custom = await member("/custom", "polling");
  assert.deepEqual(await emitAck(custom, "server-side-emit", "ping-node"), [[]]);
});

test("server-side-emit: reserved event names are refused, as Node throws", bounded(15000), async () => {
  const s = await member("/", "websocket");
  for (const name of ["connect", "disconnect", "connect_error", "disconnecting", "newListener", "removeListener"]) {
    assert.deepEqual(await emitAck(s, "server-side-emit", name), [null, "invalid argument"], name);
  }
  assert.deepEqual(await emitAck(s, "server-side-emit"), [null, "invalid argument"]);
  assert.deepEqual(await emitAck(s, "server-side-emit", "ping-node"), [[]]);
});

// ---- malformed requests ------------------------------------------------------------------

test("malformed targets and rooms are refused and change nothing", bounded(15000), async () => {
  const a = await member("/", "websocket", "bad-r");
  const b = await member("/", "websocket", "bad-r");
  const invalid = [null, "invalid argument"];
  assert.deepEqual(await emitAck(a, "sockets-join", 42, "bad-new"), invalid);
  assert.deepEqual(await emitAck(a, "sockets-join", "bad-r", [1]), invalid);
  assert.deepEqual(await emitAck(a, "sockets-join", { rooms: "bad-r", except: {} }, "bad-new"), invalid);
  assert.deepEqual(await emitAck(a, "sockets-leave", ["bad-r", 3], "bad-r"), invalid);
  assert.deepEqual(await emitAck(a, "fetch-sockets", true), invalid);
  assert.deepEqual(await emitAck(a, "set-data", "not an object"), invalid);
  const quiet = expectNoEvent(b, "disconnect", ms(300));
  assert.deepEqual(await emitAck(a, "disconnect-sockets", 7, false), invalid);
  await quiet;
  assert.deepEqual(await fetchIds(a, "bad-new"), []);
  assert.deepEqual(await fetchIds(a, "bad-r"), sorted([a.id, b.id]));
  await echoRoundTrip(b, "still fine");
});
