// Rooms, through the echo's room API on namespace "/" (and "/custom"):
//   `join` (room, ack)          joins the room, then acks
//   `to-room` (room, ...args)   emits `room-message` (...args) to every socket in the room
//                               of that namespace, the sender included if it is a member

import { test } from "node:test";
import assert from "node:assert/strict";
import {
  useServer, roomMember, waitEvent, expectNoEvent, collectEvents, sleep, ms,
  bounded,
} from "./helpers.mjs";

const srv = useServer();

const member = (nsp, transport, ...rooms) => roomMember(srv, nsp, transport, ...rooms);

test("a room broadcast reaches every member and nobody else", bounded(15000), async () => {
  const a = await member("/", "websocket", "r1");
  const b = await member("/", "polling", "r1");
  const c = await member("/", "websocket", "r2");
  const d = await member("/", "polling");
  const gotA = waitEvent(a, "room-message");
  const gotB = waitEvent(b, "room-message");
  const quietC = expectNoEvent(c, "room-message", ms(500));
  const quietD = expectNoEvent(d, "room-message", ms(500));
  c.emit("to-room", "r1", "hello r1", { n: 1 });
  assert.deepEqual(await gotA, ["hello r1", { n: 1 }]);
  assert.deepEqual(await gotB, ["hello r1", { n: 1 }]);
  await quietC;
  await quietD;
});

test("the sender gets its own room broadcast when it is a member", bounded(15000), async () => {
  const a = await member("/", "websocket", "self");
  const got = waitEvent(a, "room-message");
  a.emit("to-room", "self", "echo to self");
  assert.deepEqual(await got, ["echo to self"]);
});

test("a socket in several rooms gets each room's broadcasts once", bounded(15000), async () => {
  const a = await member("/", "websocket", "x", "y");
  const sender = await member("/", "websocket");
  const got = collectEvents(a, "room-message", 2);
  sender.emit("to-room", "x", "to x");
  sender.emit("to-room", "y", "to y");
  assert.deepEqual(await got, [["to x"], ["to y"]]);
  await expectNoEvent(a, "room-message", ms(300));
});

test("joining the same room twice does not duplicate deliveries", bounded(15000), async () => {
  const a = await member("/", "websocket", "twice", "twice");
  const got = waitEvent(a, "room-message");
  a.emit("to-room", "twice", "once");
  assert.deepEqual(await got, ["once"]);
  await expectNoEvent(a, "room-message", ms(300));
});

test("a broadcast to an empty or unknown room goes nowhere and breaks nothing", bounded(15000), async () => {
  const a = await member("/", "websocket", "r");
  const quiet = expectNoEvent(a, "room-message", ms(300));
  a.emit("to-room", "nobody-here", "lost");
  await quiet;
  const got = waitEvent(a, "room-message");
  a.emit("to-room", "r", "found");
  assert.deepEqual(await got, ["found"]);
});

test("rooms belong to their namespace", bounded(15000), async () => {
  const root = await member("/", "websocket", "shared-name");
  const custom = await member("/custom", "websocket", "shared-name");
  const gotCustom = waitEvent(custom, "room-message");
  const quietRoot = expectNoEvent(root, "room-message", ms(500));
  custom.emit("to-room", "shared-name", "custom only");
  assert.deepEqual(await gotCustom, ["custom only"]);
  await quietRoot;
});

test("a disconnected member is removed from its rooms", bounded(15000), async () => {
  const a = await member("/", "websocket", "leavers");
  const b = await member("/", "websocket", "leavers");
  a.disconnect();
  await sleep(ms(100));
  const got = waitEvent(b, "room-message");
  b.emit("to-room", "leavers", "after a left");
  assert.deepEqual(await got, ["after a left"]);
  // a new socket does not inherit a's membership
  const c = await member("/", "websocket");
  await expectNoEvent(c, "room-message", ms(300));
});

test("binary room broadcast reaches members on both transports", bounded(15000), async () => {
  const a = await member("/", "websocket", "bin");
  const b = await member("/", "polling", "bin");
  const gotA = waitEvent(a, "room-message");
  const gotB = waitEvent(b, "room-message");
  const payload = { data: Buffer.from([1, 2, 3, 0x1e]) };
  a.emit("to-room", "bin", payload, Buffer.from("two"));
  for (const got of [await gotA, await gotB]) {
    assert.ok(Buffer.isBuffer(got[0].data) && got[0].data.equals(payload.data));
    assert.ok(Buffer.isBuffer(got[1]) && got[1].equals(Buffer.from("two")));
  }
});

test("fan-out: 50 members each get every one of 20 broadcasts in order", bounded(30000), async () => {
  const members = await Promise.all(
    Array.from({ length: 50 }, (_, i) => member("/", i % 5 === 0 ? "polling" : "websocket", "fan"))
  );
  const all = members.map((m) => collectEvents(m, "room-message", 20, ms(15000)));
  for (let i = 0; i < 20; i++) members[i % members.length].emit("to-room", "fan", i);
  // Order is only defined per sender; here every message comes from a different socket,
  // so compare as sets, then check one sender's messages stay ordered.
  for (const got of await Promise.all(all)) {
    assert.deepEqual(got.map((a) => a[0]).sort((x, y) => x - y), Array.from({ length: 20 }, (_, i) => i));
  }
  const ordered = members.map((m) => collectEvents(m, "room-message", 30, ms(15000)));
  for (let i = 0; i < 30; i++) members[0].emit("to-room", "fan", `seq-${i}`);
  for (const got of await Promise.all(ordered)) {
    assert.deepEqual(got.map((a) => a[0]), Array.from({ length: 30 }, (_, i) => `seq-${i}`));
  }
});
