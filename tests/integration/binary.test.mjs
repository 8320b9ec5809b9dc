// Binary payloads (Socket.IO BINARY_EVENT / BINARY_ACK with attachments) in both
// directions over both transports: polling carries them as base64 records, websocket
// as binary frames. The echo returns `message` as `message-back` with the same args.

import { test } from "node:test";
import assert from "node:assert/strict";
import {
  useServer, client, connected, emitAck, waitEvent, collectEvents, randomBytes, sioWsConnect, ms,
  bounded,
} from "./helpers.mjs";

const srv = useServer();

// Deep equality that also insists every Buffer came back as a Buffer (not an array
// of numbers or a placeholder object).
function assertSameWithBuffers(actual, expected, where = "args") {
  if (Buffer.isBuffer(expected)) {
    assert.ok(Buffer.isBuffer(actual), `${where}: expected a Buffer, got ${JSON.stringify(actual)?.slice(0, 100)}`);
    assert.ok(actual.equals(expected), `${where}: buffer bytes differ (${actual.length} vs ${expected.length} bytes)`);
    return;
  }
  if (Array.isArray(expected)) {
    assert.ok(Array.isArray(actual), `${where}: expected an array`);
    assert.equal(actual.length, expected.length, `${where}: length`);
    expected.forEach((e, i) => assertSameWithBuffers(actual[i], e, `${where}[${i}]`));
    return;
  }
  if (expected && typeof expected === "object") {
    assert.ok(actual && typeof actual === "object", `${where}: expected an object`);
    assert.deepEqual(Object.keys(actual).sort(), Object.keys(expected).sort(), `${where}: keys`);
    for (const k of Object.keys(expected)) assertSameWithBuffers(actual[k], expected[k], `${where}.${k}`);
    return;
  }
  assert.deepEqual(actual, expected, where);
}

async function echoBack(s, ...args) {
  const back = waitEvent(s, "message-back", ms(10000));
  s.emit("message", ...args);
  const got = await back;
  assertSameWithBuffers(got, args);
}

for (const transport of ["polling", "websocket"]) {
  test(`${transport}: a Buffer comes back as a Buffer`, bounded(15000), async () => {
    const s = client(srv, "/", { transports: [transport] });
    await connected(s);
    await echoBack(s, Buffer.from([1, 2, 3]));
    await echoBack(s, Buffer.from([0, 0xff, 0x1e, 0x0a, 0x22, 0x5c])); // separator, newline, quote, backslash
  });

  test(`${transport}: an empty Buffer and a 512 KiB Buffer`, bounded(20000), async () => {
    const s = client(srv, "/", { transports: [transport] });
    await connected(s);
    await echoBack(s, Buffer.alloc(0));
    await echoBack(s, randomBytes(512 * 1024, 7));
  });

  test(`${transport}: binary nested in objects and arrays, mixed with text`, bounded(15000), async () => {
    const s = client(srv, "/", { transports: [transport] });
    await connected(s);
    await echoBack(s, "label", { file: { name: "a.bin", data: Buffer.from("hello") }, list: [1, Buffer.from([9]), "x"] }, 5);
  });

  test(`${transport}: several attachments in one event keep their order`, bounded(15000), async () => {
    const s = client(srv, "/", { transports: [transport] });
    await connected(s);
    const bufs = Array.from({ length: 8 }, (_, i) => randomBytes(100 + i * 37, i + 1));
    await echoBack(s, ...bufs);
    await echoBack(s, { a: bufs[0], b: [bufs[1], { c: bufs[2] }] }, bufs[3]);
  });

  test(`${transport}: binary in acks both ways`, bounded(15000), async () => {
    const s = client(srv, "/", { transports: [transport] });
    await connected(s);
    const payload = { bin: randomBytes(300, 3), more: [Buffer.from([4, 5])] };
    const reply = await emitAck(s, "message-with-ack", payload, Buffer.from([6]));
    assertSameWithBuffers(reply, [payload, Buffer.from([6])]);
    const asked = waitEvent(s, "ack-me");
    const result = waitEvent(s, "ack-result");
    s.emit("request-ack", Buffer.from([7, 7]));
    const args = await asked;
    const ack = args.pop();
    assertSameWithBuffers(args, [Buffer.from([7, 7])]);
    ack(Buffer.from([8]), { nested: Buffer.from([9, 9, 9]) });
    assertSameWithBuffers(await result, [Buffer.from([8]), { nested: Buffer.from([9, 9, 9]) }]);
  });
}

test("interleaved binary and text events keep their order", bounded(20000), async () => {
  const s = client(srv, "/", { transports: ["websocket"] });
  await connected(s);
  const n = 200;
  const all = collectEvents(s, "message-back", n, ms(10000));
  const sent = [];
  for (let i = 0; i < n; i++) {
    const args = i % 3 === 0 ? [i, Buffer.from([i & 0xff])] : i % 3 === 1 ? [i, "text"] : [i, { b: [Buffer.alloc(i), Buffer.from("z")] }];
    sent.push(args);
    s.emit("message", ...args);
  }
  const got = await all;
  got.forEach((args, i) => assertSameWithBuffers(args, sent[i], `event ${i}`));
});

test("binary on a custom namespace", bounded(15000), async () => {
  const s = client(srv, "/custom", { transports: ["websocket"] });
  await connected(s);
  await echoBack(s, Buffer.from("custom namespace"), { x: Buffer.from([1, 2]) });
});

test("wire format: BINARY_EVENT text then one binary frame per attachment", bounded(15000), async () => {
  // The socket.io-protocol test suite's exact exchange, on a raw websocket.
  const { conn } = await sioWsConnect(srv);
  conn.send('452-["message",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]');
  conn.send(Buffer.from([1, 2, 3]));
  conn.send(Buffer.from([4, 5, 6]));
  assert.equal(await conn.next(), '452-["message-back",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]');
  assert.deepEqual(await conn.next(), Buffer.from([1, 2, 3]));
  assert.deepEqual(await conn.next(), Buffer.from([4, 5, 6]));
  conn.send('452-789["message-with-ack",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]');
  conn.send(Buffer.from([1, 2, 3]));
  conn.send(Buffer.from([4, 5, 6]));
  assert.equal(await conn.next(), '462-789[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]');
  assert.deepEqual(await conn.next(), Buffer.from([1, 2, 3]));
  assert.deepEqual(await conn.next(), Buffer.from([4, 5, 6]));
});
