// rdap_vectors.js: writes rdap_vectors.h, the golden vectors of test_redis_adapter_golden.c,
// from what the real Node packages PUBLISH to a real redis-server, plus a few values encoded
// by notepack.io directly (the encoder RedisAdapter.broadcast() calls on [uid, packet, opts]).
//
//   npm i @socket.io/redis-adapter@8 @socket.io/redis-emitter@5 socket.io@4.8 \
//         socket.io-client@4.8 redis            (in a scratch directory, not in the repo)
//   redis-server --port N --save '' --appendonly no &
//   NODE_PATH=<scratch>/node_modules node rdap_vectors.js N > rdap_vectors.h
//
// Uids, request ids and socket ids are random: a new capture changes the values the tests
// check, so regenerate only on purpose (for a new major version of the packages, say).
const { createServer } = require("http");
const { Server } = require("socket.io");
const { createAdapter } = require("@socket.io/redis-adapter");
const { Emitter } = require("@socket.io/redis-emitter");
const { createClient } = require("redis");
const { io: ioc } = require("socket.io-client");
const notepack = require("notepack.io");

const url = `redis://127.0.0.1:${Number(process.argv[2])}`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const captured = []; // {name, channel, bytes}
let classify = null;  // names the messages of the step under way (null: drop the message)
let seen = 0;

async function startServer(opts, serverOpts = {}) {
  const pub = createClient({ url });
  const sub = pub.duplicate();
  await Promise.all([pub.connect(), sub.connect()]);
  const http = createServer();
  const io = new Server(http, { adapter: createAdapter(pub, sub, opts), ...serverOpts });
  io.of("/admin");
  await new Promise((r) => http.listen(0, "127.0.0.1", r));
  return { io, pub, port: http.address().port };
}

// Runs fn, which must publish count messages; name(channel, bytes) names each (null: drop).
async function step(count, name, fn, wait = 300) {
  classify = typeof name === "string" ? () => name : name;
  seen = 0;
  await fn();
  await sleep(wait);
  if (seen !== count) throw new Error(`step published ${seen} messages, not ${count}`);
  classify = null;
}

const shared = (ch) => ch.endsWith("-response#/#");
const isJson = (bytes) => bytes[0] === 0x7b;

function connect(port) {
  const c = ioc(`http://127.0.0.1:${port}`, { transports: ["websocket"], auth: { token: "t" } });
  return new Promise((r) => c.on("connect", () => r(c)));
}

async function capture() {
  const sniffer = createClient({ url });
  await sniffer.connect();
  await sniffer.pSubscribe("*", (msg, rawChannel) => {
    const channel = rawChannel.toString();
    if (classify === null) throw new Error(`unexpected message on ${channel}`);
    seen++;
    const name = classify(channel, msg);
    if (name !== null) captured.push({ name, channel, bytes: msg });
  }, true);

  // s1 asks, s2 answers on the requester's own channel, s3 on the shared one.
  const s1 = await startServer({});
  const s2 = await startServer({ publishOnSpecificResponseChannel: true });
  const s3 = await startServer({});
  s2.io.on("connection", (s) => { s.data = { user: "alice" }; s.join("room1"); });
  s3.io.on("connection", (s) => s.join("room2"));
  let sock1;
  s1.io.on("connection", (s) => { sock1 = s; s.join("room1"); });
  for (const s of [s2, s3]) s.io.on("ping", (arg, cb) => cb({ pong: arg }));
  const [c1, c2, c3] = await Promise.all([connect(s1.port), connect(s2.port), connect(s3.port)]);
  c1.on("ack-me", (n, cb) => cb(1));
  c2.on("ack-me", (n, cb) => cb({ ok: true, n, buf: Buffer.from([9, 8]) }));
  c3.on("ack-me", (n, cb) => cb("fine"));
  c1.on("ack-bin", (b, cb) => cb(0));
  c2.on("ack-bin", (b, cb) => cb(b.length));
  c3.on("ack-bin", (b, cb) => cb(b.length));
  const sid2 = [...s2.io.sockets.sockets.keys()][0];
  await sleep(200);

  const io = s1.io;
  await step(1, "BC_ALL", () => io.emit("hello", "world", 42, -7, 2.5, true, null, { a: 1, b: [1, 2] }));
  await step(1, "BC_ONE_ROOM", () => io.to("room1").emit("news", { title: "x" }));
  await step(1, "BC_ROOMS_EXCEPT", () => io.to(["r1", "r2"]).except("r3").emit("multi", 1));
  await step(1, "BC_BINARY", () => io.emit("bin", Buffer.from([1, 2, 3]),
    { nested: { buf: Buffer.alloc(300, 7) }, list: [Buffer.from("hi")] }));
  await step(1, "BC_VOLATILE", () => io.volatile.emit("tick", 1));
  await step(1, "BC_COMPRESS_VOLATILE_ROOM", () => io.compress(false).volatile.to("room1").emit("x"));
  await step(1, "BC_ADMIN_NSP", () => io.of("/admin").emit("adm", "x"));
  await step(1, "BC_FROM_SOCKET", () => sock1.broadcast.emit("sb", 1));
  await step(1, "BC_SOCKET_TO_ROOM", () => sock1.to("room1").emit("sr", 1));
  // notepack.io writes integral numbers from 2^64 on modulo 2^64 (1e300 becomes uint64 0).
  await step(1, "BC_NUMBERS_BEYOND_UINT64", () => io.emit("big", 1e300));
  await step(1, "BC_NUMERIC_ROOM", () => io.to(123).emit("num-room"));
  await step(1, "BC_KEY_ORDER", () => io.emit("keys", { b: 1, 2: "two", a: 2, 1: "one" }));

  const req = (ch) => ch.startsWith("socket.io-request#");
  await step(3, (ch) => (req(ch) ? "REQ_REMOTE_FETCH" : shared(ch) ? null : "RES_REMOTE_FETCH"),
    () => io.fetchSockets());
  await step(3, (ch) => (req(ch) ? "REQ_ALL_ROOMS" : shared(ch) ? null : "RES_ALL_ROOMS"),
    () => io.of("/").adapter.allRooms());
  await step(1, "REQ_REMOTE_JOIN", () => io.in("room1").socketsJoin(["j1", "j2"]));
  await step(1, "REQ_REMOTE_LEAVE", () => io.except("room2").socketsLeave("j2"));
  await step(1, "REQ_SERVER_SIDE_EMIT", () => io.serverSideEmit("hello", 1, "two"));
  let answers = 0; // both nodes answer a server-side emit on the shared channel, alike
  await step(3, (ch) => (req(ch) ? "REQ_SERVER_SIDE_EMIT_ACK" : answers++ === 0 ? "RES_SERVER_SIDE_EMIT" : null),
    () => io.serverSideEmitWithAck("ping", 5));
  // Each node reports its client count, then each client's answer follows: c2's (binary,
  // from s2) on s1's own channel, c3's ("fine", from s3) on the shared one.
  await step(5, (ch, b) => (req(ch) ? "REQ_BROADCAST"
    : isJson(b) ? (shared(ch) ? null : "RES_BROADCAST_CLIENT_COUNT")
    : shared(ch) ? "RES_BROADCAST_ACK_STRING" : "RES_BROADCAST_ACK_BINARY"),
    () => io.timeout(2000).emitWithAck("ack-me", 7));
  await step(4, (ch, b) => (req(ch) ? "REQ_BROADCAST_BINARY"
    : !isJson(b) ? "RES_BROADCAST_ACK_NUMBER" : shared(ch) ? "RES_BROADCAST_CLIENT_COUNT_ZERO" : null),
    () => io.timeout(2000).to("room1").emitWithAck("ack-bin", Buffer.from([5, 6, 7])));
  // 8.x answers but no longer sends these: a 7.x node's requests, written by hand.
  const publish = (request) => () => s1.pub.publish("socket.io-request#/#", JSON.stringify(request));
  await step(4, (ch, b) => (req(ch) ? "REQ_SOCKETS" : !shared(ch) ? "RES_SOCKETS"
    : JSON.parse(b).sockets.length === 0 ? "RES_SOCKETS_EMPTY" : null),
    publish({ uid: "crafted", requestId: "req-sockets", type: 0, rooms: ["room1"] }));
  await step(2, (ch) => (req(ch) ? "REQ_REMOTE_JOIN_ONE" : "RES_REMOTE_JOIN_ONE"),
    publish({ uid: "crafted", requestId: "req-join", type: 2, sid: sid2, room: "legacy" }));
  await step(2, (ch) => (req(ch) ? "REQ_REMOTE_LEAVE_ONE" : "RES_REMOTE_LEAVE_ONE"),
    publish({ uid: "crafted", requestId: "req-leave", type: 3, sid: sid2, room: "legacy" }));

  const ep = createClient({ url });
  await ep.connect();
  const emitter = new Emitter(ep);
  await step(1, "BC_EMITTER_ALL", () => emitter.emit("from-emitter", 1, "two"));
  await step(1, "BC_EMITTER_ONE_ROOM", () => emitter.to("room1").emit("e-room", { x: 1 }));
  await step(1, "BC_EMITTER_ROOMS_EXCEPT_VOLATILE", () => emitter.to(["a", "b"]).except("c").volatile.emit("e-multi"));
  await step(1, "BC_EMITTER_BINARY", () => emitter.emit("e-bin", Buffer.from([0xde, 0xad])));
  await step(1, "BC_EMITTER_ADMIN", () => emitter.of("/admin").emit("e-adm", 1));
  await step(1, "REQ_EMITTER_JOIN", () => emitter.socketsJoin("ej"));
  await step(1, "REQ_EMITTER_LEAVE", () => emitter.in("room1").socketsLeave(["ej", "ek"]));
  await step(1, "REQ_EMITTER_SERVER_SIDE_EMIT", () => emitter.serverSideEmit("from-emitter", 1));
  await step(1, "REQ_EMITTER_DISCONNECT", () => emitter.in("nobody").disconnectSockets(true));
  await step(1, "REQ_REMOTE_DISCONNECT", () => io.in("nobody").disconnectSockets());

  // socket.emit() with an ack, on a server with connection state recovery: published to the
  // socket's own room.
  const s4 = await startServer({}, { connectionStateRecovery: {} });
  s4.io.on("connection", (s) => setTimeout(() => s.emit("welcome", Buffer.from([1]), () => {}), 100));
  let c4;
  await step(1, "BC_SOCKET_EMIT_RECOVERY", async () => {
    c4 = await connect(s4.port);
    c4.on("welcome", (b, cb) => cb());
  });
  for (const c of [c1, c2, c3, c4]) c.close();
}

// Values only notepack.io itself shows: every number and string format, Dates, depth.
function generated() {
  const opts = { rooms: [], except: [], flags: {} };
  const bc = (data) => notepack.encode(["DXpmJg", { type: 2, data, nsp: "/" }, opts]);
  let deep = [];
  for (let i = 0; i < 29; i++) deep = [deep]; // packet data is the 3rd container: 32 in all
  return [
    ["BC_NUMBERS", bc(["nums", 0, 127, 128, 255, 256, 65535, 65536, 4294967295, 4294967296,
      9007199254740991, -1, -32, -33, -128, -129, -32768, -32769, -2147483648, -2147483649, 0.5,
      -0.25, 2 ** 60, 2 ** 63, -(2 ** 63), 1e-7, "a".repeat(31), "b".repeat(32), "c".repeat(255),
      "d".repeat(256), "héllo €𝄞", ""])],
    ["BC_NON_FINITE", bc(["nf", NaN, Infinity, -Infinity, -0])],
    ["BC_DATES", bc(["dates", new Date(Date.UTC(2024, 0, 2, 3, 4, 5, 678)), new Date(0), new Date(-1),
      new Date(Date.UTC(10000, 0, 1)), new Date(Date.UTC(-1, 0, 1)), new Date(8.64e15),
      new Date(-8.64e15), new Date(1700000000000)])],
    ["BC_DEPTH_32", bc(deep)],
    ["BC_DEPTH_33", bc([deep])],
    ["BC_EMPTY_AND_UNICODE", bc(["e", {}, [], { "ключ": "значение", "": "" }])],
  ].map(([name, bytes]) => ({ name, channel: "", bytes }));
}

function cDefine({ name, channel, bytes }) {
  const where = channel ? `/* ${channel} */\n` : "";
  if (bytes[0] === 0x7b) return `${where}#define ${name} ${JSON.stringify(bytes.toString())}`;
  const hex = bytes.toString("hex").match(/.{1,96}/g).map((c) => `    "${c}"`).join(" \\\n");
  return `${where}#define ${name} \\\n${hex}`;
}

(async () => {
  await capture();
  const all = [...captured, ...generated()].sort((a, b) => a.name.localeCompare(b.name));
  console.log(`/* rdap_vectors.h: golden vectors, written by rdap_vectors.js (see there) with
 * @socket.io/redis-adapter ${require("@socket.io/redis-adapter/package.json").version}, @socket.io/redis-emitter ${require("@socket.io/redis-emitter/package.json").version}, socket.io ${require("socket.io/package.json").version},
 * notepack.io ${require("notepack.io/package.json").version}. JSON messages are text, msgpack ones hex; each names the
 * channel it was published on. */
#ifndef SB_RDA_VECTORS_H
#define SB_RDA_VECTORS_H
`);
  for (const v of all) console.log(cDefine(v) + "\n");
  console.log("#endif");
  process.exit(0);
})().catch((e) => { console.error(e); process.exit(1); });
