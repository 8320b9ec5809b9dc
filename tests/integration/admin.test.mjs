// admin.test.mjs: the server side of the Socket.IO Admin UI (@socket.io/admin-ui 0.5.1) on
// /admin, driven with socket.io-client as the UI drives it, and held against the package's
// own Node.js server (socket.io 4.8 + instrument(), fixtures/node-admin.mjs) for the same
// situations: every behavioural test runs on both, so a failure of the C side is the C
// side's. Then the options, and a 2-node cluster on a real redis-server.
import { describe, it, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  HOST, ms, bounded, sleep, startServer, client, closeClients, connected, waitEvent, expectNoEvent,
  binary, TEST_JWT_SECRET,
} from "./helpers.mjs";
import { startRedis, waitStatus, eventually } from "./cluster-helpers.mjs";

const require = createRequire(import.meta.url);
const bcrypt = require("bcryptjs");
const FIXTURE = join(dirname(fileURLToPath(import.meta.url)), "fixtures", "node-admin.mjs");

const USER = "operator";
const PASSWORD = "correct horse battery staple";
const HASH = bcrypt.hashSync(PASSWORD, 8); // $2a$, as the package's README makes them
const ACTIONS = ["EMIT", "JOIN", "LEAVE", "DISCONNECT", "MJOIN", "MLEAVE", "MDISCONNECT"];
const ISO_DATE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

afterEach(() => closeClients());

// A switchboard ("c") or the reference ("node") with the Admin UI on /admin.
async function startAdmin(kind, { readOnly = false, serverId = `${kind}-admin`, extra = [] } = {}) {
  if (kind === "node") {
    const args = ["--user", USER, "--password-hash", HASH, "--server-id", serverId];
    if (readOnly) args.push("--read-only");
    return startServer({ kind: "node", command: [process.execPath, FIXTURE], args });
  }
  const args = ["--admin-user", USER, "--admin-server-id", serverId, ...extra];
  if (readOnly) args.push("--admin-read-only");
  // The hash from the environment, as an operator keeps it out of `ps`.
  return startServer({ kind: "server", args, env: { SWITCHBOARD_ADMIN_PASSWORD_HASH: HASH } });
}

// The UI's connection: /admin with {username, password} (or {sessionId}), every event kept.
function adminClient(srv, auth = { username: USER, password: PASSWORD }, opts = {}) {
  const s = client(srv, "/admin", { auth, ...opts });
  s.seen = [];
  s.onAny((event, ...args) => s.seen.push([event, ...args]));
  return s;
}

// The next event matching pred (looking at what already arrived first).
async function nextEvent(socket, event, pred = () => true, timeoutMs = ms(5000)) {
  let found;
  await eventually(() => {
    found = socket.seen.find(([ev, ...args]) => ev === event && pred(...args));
    assert.ok(found, `no matching "${event}" among ${JSON.stringify(socket.seen.filter((e) => e[0] !== "server_stats")).slice(0, 1500)}`);
  }, { timeoutMs, intervalMs: 20 });
  socket.seen.splice(socket.seen.indexOf(found), 1);
  return found.slice(1);
}

// The structure of a value: key sets and types, not the values.
function shape(v) {
  if (Array.isArray(v)) return v.length ? [shape(v[0])] : [];
  if (v && typeof v === "object") return Object.fromEntries(Object.keys(v).sort().map((k) => [k, shape(v[k])]));
  return v === null ? "null" : typeof v;
}

// What the same situation gives on both servers, to be compared field by field.
async function socketsSituation(kind) {
  const srv = await startAdmin(kind);
  try {
    const plain = client(srv, "/", { transports: ["websocket"] });
    const poller = client(srv, "/", { transports: ["polling"] });
    await Promise.all([connected(plain), connected(poller)]);
    const admin = adminClient(srv, undefined, { transports: ["websocket"] });
    await connected(admin);
    const [session] = await nextEvent(admin, "session");
    const [config] = await nextEvent(admin, "config");
    const [all] = await nextEvent(admin, "all_sockets");
    const [stats] = await nextEvent(admin, "server_stats", () => true, ms(4000));
    const t0 = Date.now();
    await nextEvent(admin, "server_stats", () => true, ms(4000));
    const interval = Date.now() - t0;
    const entry = all.find((s) => s.id === plain.id);
    return { session, config, all, entry, stats, interval, ids: [plain.id, poller.id, admin.id] };
  } finally {
    closeClients();
    await srv.stop();
  }
}

describe("against the reference Node.js server (socket.io 4.8 + instrument())", () => {
  const got = {};
  before(async () => {
    got.node = await socketsSituation("node");
    got.c = await socketsSituation("c");
  });

  it("sends a session id, then config with the supported features", () => {
    for (const kind of ["node", "c"]) assert.match(got[kind].session, /^[0-9a-f]{16}$/, kind);
    assert.deepEqual(got.node.config, { supportedFeatures: [...ACTIONS, "AGGREGATED_EVENTS", "ALL_EVENTS"] });
    assert.deepEqual(got.c.config, got.node.config);
  });

  it("all_sockets lists every socket of every namespace, serialised as Node does", () => {
    for (const kind of ["node", "c"]) {
      const { all, entry, ids } = got[kind];
      assert.deepEqual(all.map((s) => s.id).sort(), [...ids].sort(), kind);
      assert.ok(entry, `${kind}: the plain socket is listed`);
    }
    const c = got.c.entry;
    const node = got.node.entry;
    assert.deepEqual(shape(c), shape(node), "the same fields with the same types, all the way down");
    for (const field of ["nsp", "transport", "data"]) assert.deepEqual(c[field], node[field], field);
    assert.deepEqual(c.rooms, [c.id]);
    assert.equal(c.clientId.length, 12);
    const ch = c.handshake;
    const nh = node.handshake;
    assert.deepEqual(Object.keys(ch.headers).sort(), Object.keys(nh.headers).sort(), "the same request headers");
    for (const field of ["address", "secure", "xdomain"]) assert.deepEqual(ch[field], nh[field], field);
    assert.deepEqual(Object.keys(ch.query).sort(), Object.keys(nh.query).sort());
    assert.equal(ch.query.transport, "websocket");
    assert.match(ch.url, /^\/socket\.io\/\?EIO=4&transport=websocket/);
    assert.ok(Math.abs(ch.issued - Date.now()) < ms(60000));
    assert.ok(Math.abs(new Date(ch.time).getTime() - ch.issued) < 1000, `time ${ch.time} is issued ${ch.issued}`);
  });

  it("server_stats has Node's fields, every 2 s", () => {
    assert.deepEqual(Object.keys(got.c.stats).sort(), Object.keys(got.node.stats).sort());
    for (const kind of ["node", "c"]) {
      const { stats, interval } = got[kind];
      assert.equal(stats.serverId, `${kind}-admin`);
      assert.equal(typeof stats.hostname, "string");
      assert.ok(Number.isInteger(stats.pid) && stats.pid > 0);
      assert.ok(stats.uptime > 0);
      assert.equal(stats.clientsCount, 3, `${kind}: two plain clients and the admin`);
      assert.equal(stats.pollingClientsCount, 1, `${kind}: one of them polls`);
      const nsps = Object.fromEntries(stats.namespaces.map((n) => [n.name, n.socketsCount]));
      assert.equal(nsps["/"], 2, kind);
      assert.equal(nsps["/admin"], 1, kind);
      for (const e of stats.aggregatedEvents) {
        assert.ok(Number.isInteger(e.timestamp) && e.timestamp % 1000 === 0, JSON.stringify(e));
        assert.ok(["rawConnection", "rawDisconnection", "packetsIn", "packetsOut", "bytesIn", "bytesOut"].includes(e.type));
        assert.ok(e.count > 0);
      }
      assert.ok(interval > 1500 && interval < 2500 + ms(500), `${kind}: ${interval} ms between two server_stats`);
    }
  });
});

for (const kind of ["node", "c"]) {
  describe(`the UI's live feed and actions (${kind})`, () => {
    let srv;
    before(async () => { srv = await startAdmin(kind); });
    after(() => srv.stop());

    it("socket_connected, socket_updated on upgrade, socket_disconnected", bounded(15000), async () => {
      const admin = adminClient(srv);
      await connected(admin);
      await nextEvent(admin, "all_sockets");
      const plain = client(srv, "/", { transports: ["polling", "websocket"] });
      await connected(plain);
      const [s, at] = await nextEvent(admin, "socket_connected", (x) => x.id === plain.id);
      assert.match(at, ISO_DATE);
      assert.equal(s.nsp, "/");
      assert.equal(s.transport, "polling");
      assert.deepEqual(s.rooms, [plain.id]);
      assert.equal(s.handshake.query.transport, "polling");
      assert.ok("user-agent" in s.handshake.headers || "host" in s.handshake.headers);
      const [upd] = await nextEvent(admin, "socket_updated", (x) => x.id === plain.id);
      assert.deepEqual(upd, { id: plain.id, nsp: "/", transport: "websocket" });
      const id = plain.id;
      plain.disconnect();
      const [nsp, gone, reason, when] = await nextEvent(admin, "socket_disconnected", (n, i) => i === id);
      assert.deepEqual([nsp, gone, reason], ["/", id, "client namespace disconnect"]);
      assert.match(when, ISO_DATE);
      const [, room, who] = await nextEvent(admin, "room_left", (n, r, i) => i === id);
      assert.deepEqual([room, who], [id, id]);
    });

    it("join and leave (nsp, room, filter) move sockets, _disconnect (nsp, close, filter) disconnects", bounded(15000), async () => {
      const admin = adminClient(srv);
      await connected(admin);
      const a = client(srv, "/", { transports: ["websocket"] });
      const b = client(srv, "/", { transports: ["websocket"] });
      await Promise.all([connected(a), connected(b)]);
      admin.emit("join", "/", "ops-room", a.id);
      assert.deepEqual((await nextEvent(admin, "room_joined", (n, r) => r === "ops-room")).slice(0, 3), ["/", "ops-room", a.id]);
      // The room as filter: every member of ops-room joins "second"; b is in neither.
      admin.emit("join", "/", "second", "ops-room");
      await nextEvent(admin, "room_joined", (n, r, i) => r === "second" && i === a.id);
      const check = adminClient(srv);
      await connected(check);
      const [all] = await nextEvent(check, "all_sockets");
      assert.deepEqual(all.find((s) => s.id === a.id).rooms, [a.id, "ops-room", "second"]);
      assert.deepEqual(all.find((s) => s.id === b.id).rooms, [b.id]);
      admin.emit("leave", "/", "ops-room", a.id);
      await nextEvent(admin, "room_left", (n, r, i) => r === "ops-room" && i === a.id);
      admin.emit("_disconnect", "/", false, b.id);
      assert.deepEqual(await waitEvent(b, "disconnect"), ["io server disconnect", undefined]);
      assert.ok(a.connected, "only the designated socket went");
      // A namespace the server does not have is ignored, and the server stays up.
      admin.emit("_disconnect", "/nowhere", true);
      await expectNoEvent(a, "disconnect", ms(300));
    });

    it("emit (nsp, filter, event, ...args) reaches the sockets of the room; event_sent follows it", bounded(15000), async () => {
      const admin = adminClient(srv);
      await connected(admin);
      const a = client(srv, "/", { transports: ["websocket"] });
      await connected(a);
      admin.emit("emit", "/", a.id, "from-admin", { n: 1 }, "two");
      assert.deepEqual(await waitEvent(a, "from-admin"), [{ n: 1 }, "two"]);
      const [nsp, id, args, at] = await nextEvent(admin, "event_sent", (n, i) => i === a.id);
      assert.deepEqual([nsp, id, args], ["/", a.id, ["from-admin", { n: 1 }, "two"]]);
      assert.match(at, ISO_DATE);
    });

    it("event_received: what a socket sends, binary included", bounded(15000), async () => {
      const admin = adminClient(srv);
      await connected(admin);
      const a = client(srv, "/", { transports: ["websocket"] });
      await connected(a);
      a.emit("to-server", 1, { b: [true, null] });
      a.emit("with-ack", "x", () => {});
      a.emit("bytes", Buffer.from([1, 2, 3]));
      const [n1, i1, args1, at] = await nextEvent(admin, "event_received", (n, i, x) => x[0] === "to-server");
      assert.deepEqual([n1, i1, args1], ["/", a.id, ["to-server", 1, { b: [true, null] }]]);
      assert.match(at, ISO_DATE);
      const [, , args2] = await nextEvent(admin, "event_received", (n, i, x) => x[0] === "with-ack");
      assert.deepEqual(args2, ["with-ack", "x"], "without the ack function");
      const [, , args3] = await nextEvent(admin, "event_received", (n, i, x) => x[0] === "bytes");
      assert.deepEqual([args3[0], [...args3[1]]], ["bytes", [1, 2, 3]]);
    });

    it("a session id from a login connects without the password", bounded(15000), async () => {
      const first = adminClient(srv);
      await connected(first);
      const [sessionId] = await nextEvent(first, "session");
      const again = adminClient(srv, { sessionId });
      await connected(again);
      await nextEvent(again, "config");
      assert.ok(!again.seen.some(([ev]) => ev === "session"), "no new session for a session id");
    });

    it("a wrong password or username is refused with Node's message", bounded(15000), async () => {
      for (const auth of [{ username: USER, password: "wrong" }, { username: "nobody", password: PASSWORD }, {}, { sessionId: "0123456789abcdef" }]) {
        const s = adminClient(srv, auth);
        const [err] = await waitEvent(s, "connect_error");
        assert.equal(err.message, "invalid credentials", JSON.stringify(auth));
      }
    });
  });

  describe(`read-only (${kind})`, () => {
    let srv;
    before(async () => { srv = await startAdmin(kind, { readOnly: true }); });
    after(() => srv.stop());

    it("offers no action and ignores them when sent", bounded(15000), async () => {
      const admin = adminClient(srv);
      await connected(admin);
      const [config] = await nextEvent(admin, "config");
      assert.deepEqual(config.supportedFeatures, ["AGGREGATED_EVENTS", "ALL_EVENTS"]);
      const a = client(srv, "/", { transports: ["websocket"] });
      await connected(a);
      await nextEvent(admin, "all_sockets");
      admin.emit("_disconnect", "/", true, a.id);
      admin.emit("join", "/", "nope", a.id);
      admin.emit("emit", "/", a.id, "from-admin");
      await expectNoEvent(a, "disconnect", ms(500));
      await expectNoEvent(a, "from-admin", 10);
      assert.ok(!admin.seen.some(([ev, , room]) => ev === "room_joined" && room === "nope"));
      // Still watching: the feed goes on.
      a.disconnect();
      await nextEvent(admin, "socket_disconnected", (n, i) => i !== admin.id);
    });
  });
}

describe("bad input on the admin namespace", () => {
  let srv;
  before(async () => { srv = await startAdmin("c"); });
  after(() => srv.stop());

  it("malformed credentials are refused, malformed actions ignored, nothing crashes or leaks", bounded(20000), async () => {
    for (const auth of [{ username: 1, password: 2 }, { username: USER, password: { x: 1 } }, { sessionId: 5 }, { username: USER }, { username: USER, password: "" }]) {
      const s = adminClient(srv, auth);
      const [err] = await waitEvent(s, "connect_error");
      assert.equal(err.message, "invalid credentials", JSON.stringify(auth));
    }
    const admin = adminClient(srv);
    await connected(admin);
    const plain = client(srv, "/", { transports: ["websocket"] });
    await connected(plain);
    const bad = [
      ["join"], ["join", 1, {}, []], ["join", "/", { room: 1 }, plain.id], ["leave", "/", null],
      ["_disconnect"], ["_disconnect", "/", "yes", { x: 1 }], ["_disconnect", "/", false, ["a"]],
      ["emit", "/", null], ["emit", "/", plain.id, 7], ["emit", "/", plain.id, "disconnect"],
      ["emit", "/", Buffer.from([1]), "x"], ["emit", 3, "", "x"],
    ];
    for (const args of bad) admin.emit(...args);
    admin.emit("join", "/", "acked", plain.id, () => {}); // an ack nobody answers
    await nextEvent(admin, "room_joined", (n, r) => r === "acked");
    await expectNoEvent(plain, "disconnect", ms(300));
    const joins = admin.seen.filter(([ev, , room, id]) => ev === "room_joined" && room !== id);
    assert.deepEqual(joins, [], "no room joined but the sockets' own");
    srv.assertAlive();
  });
});

describe("a costly hash", () => {
  // PASSWORD at cost 13 (`mkpasswd -m bcrypt -R 13`): some hundreds of ms in libxcrypt.
  const slow = "$2b$13$qyGY36Jy1a4ozk3aQMfPZupO3fDM2L6qDqL/r0ibC5PbTTDJIhC86";
  const slowServer = () => startServer({ kind: "server", args: ["--admin-user", USER], env: { SWITCHBOARD_ADMIN_PASSWORD_HASH: slow } });

  it("at most two checks run at once: more logins are refused at once, the loop keeps serving", bounded(30000), async () => {
    const srv = await slowServer();
    try {
      const started = Date.now();
      const logins = Array.from({ length: 4 }, () => adminClient(srv, { username: USER, password: "guess" }));
      const plainAt = connected(client(srv, "/", { transports: ["websocket"] })).then(() => Date.now() - started);
      const refusals = await Promise.all(logins.map((s) => waitEvent(s, "connect_error", ms(10000)).then(([e]) => {
        return { at: Date.now() - started, message: e.message };
      })));
      refusals.sort((x, y) => x.at - y.at);
      const refusedAt = refusals.map((r) => r.at);
      assert.deepEqual(refusals.map((r) => r.message), ["too many login attempts, try again", "too many login attempts, try again", "invalid credentials", "invalid credentials"]);
      assert.ok(refusedAt[1] * 2 < refusedAt[2], `two refused at once, two after their check: ${refusedAt} ms`);
      assert.ok(await plainAt < refusedAt[2], `a client connected (${await plainAt} ms) while the checks ran`);
      const admin = adminClient(srv);
      await connected(admin, ms(10000));
    } finally {
      closeClients();
      await srv.stop();
    }
  });

  it("a server stopped while a password is being checked (off the loop) exits cleanly", bounded(30000), async () => {
    const srv = await slowServer();
    const admin = adminClient(srv);
    admin.on("connect_error", () => {});
    await eventually(() => assert.ok(admin.io.engine?.transport?.name), { timeoutMs: ms(5000) });
    await sleep(50); // the CONNECT is in, the check has started
    await srv.stop({ timeoutMs: ms(10000) });
    closeClients();
  });
});

describe("options", () => {
  it("--admin-production: Node's production mode, stats only", bounded(15000), async () => {
    const srv = await startServer({ kind: "server", args: ["--admin-no-auth", "--admin-production"] });
    try {
      const admin = adminClient(srv, {});
      await connected(admin);
      const [config] = await nextEvent(admin, "config");
      assert.deepEqual(config.supportedFeatures, [...ACTIONS, "AGGREGATED_EVENTS"]);
      const a = client(srv, "/", { transports: ["websocket"] });
      await connected(a);
      a.emit("hello");
      const [stats] = await nextEvent(admin, "server_stats", () => true, ms(4000));
      assert.ok(stats.aggregatedEvents.some((e) => e.type === "rawConnection"));
      const feed = admin.seen.filter(([ev]) => ev !== "server_stats").map(([ev]) => ev);
      assert.deepEqual(feed, [], "no socket list and no live feed");
    } finally {
      closeClients();
      await srv.stop();
    }
  });

  it("without --admin-* there is no admin namespace", bounded(15000), async () => {
    const srv = await startServer({ kind: "server" });
    try {
      const s = client(srv, "/admin", { auth: { username: USER, password: PASSWORD } });
      const [err] = await waitEvent(s, "connect_error");
      assert.equal(err.message, "Invalid namespace");
    } finally {
      closeClients();
      await srv.stop();
    }
  });

  it("--admin-namespace and --admin-no-auth on a loopback host", bounded(15000), async () => {
    const srv = await startServer({ kind: "server", args: ["--admin-no-auth", "--admin-namespace", "/ops"] });
    try {
      const admin = adminClient(srv, {});
      const refusal = waitEvent(admin, "connect_error");
      const ops = client(srv, "/ops");
      ops.seen = [];
      ops.onAny((event, ...args) => ops.seen.push([event, ...args]));
      await connected(ops);
      const [config] = await nextEvent(ops, "config");
      assert.ok(config.supportedFeatures.includes("DISCONNECT"));
      assert.ok(!ops.seen.some(([ev]) => ev === "session"));
      const [err] = await refusal;
      assert.equal(err.message, "Invalid namespace", "/admin is not the admin namespace any more");
    } finally {
      closeClients();
      await srv.stop();
    }
  });

  // Exit status and message of the daemon for options that cannot work.
  async function refused(args, env = {}) {
    const proc = spawn(binary("server"), ["--host", HOST, "--port", "0", ...args], {
      env: { ...process.env, SWITCHBOARD_JWT_SECRET: TEST_JWT_SECRET, ...env }, stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    proc.stderr.on("data", (d) => { stderr += d; });
    const code = await new Promise((resolve) => proc.on("exit", (c) => resolve(c)));
    return { code, stderr };
  }

  it("refuses what cannot work", bounded(20000), async () => {
    const cases = [
      [["--admin-no-auth", "--host", "0.0.0.0"], /loopback/],
      [["--admin-user", USER], /--admin-password-hash/],
      [["--admin-password-hash", HASH], /--admin-user/],
      [["--admin-user", USER, "--admin-password-hash", "plaintext"], /bcrypt/],
      [["--admin-user", USER, "--admin-password-hash", HASH, "--admin-no-auth"], /exclude/],
      [["--admin-user", USER, "--admin-password-hash", HASH, "--admin-namespace", "admin"], /namespace/],
    ];
    for (const [args, re] of cases) {
      const { code, stderr } = await refused(args);
      assert.equal(code, 2, `${args.join(" ")}: ${stderr}`);
      assert.match(stderr, re, args.join(" "));
      assert.ok(!stderr.includes(HASH), "the hash is not printed");
    }
  });

  it("takes $2b$ and $2y$ hashes (htpasswd -B makes $2y$)", bounded(20000), async () => {
    for (const prefix of ["$2b$", "$2y$"]) {
      const hash = prefix + HASH.slice(4);
      const srv = await startServer({ kind: "server", args: ["--admin-user", USER, "--admin-password-hash", hash] });
      try {
        const admin = adminClient(srv);
        await connected(admin);
      } finally {
        closeClients();
        await srv.stop();
      }
    }
  });
});

describe("a 2-node cluster on Redis", () => {
  let redis;
  const nodes = [];
  before(async () => {
    redis = await startRedis();
    for (const id of ["node-a", "node-b"]) {
      const node = await startServer({
        kind: "server",
        args: ["--redis", redis.url, "--node-id", id, "--admin-user", USER],
        env: { SWITCHBOARD_ADMIN_PASSWORD_HASH: HASH },
      });
      await waitStatus(node, "/readyz", 200, { what: `${id} ready` });
      nodes.push(node);
    }
  });
  after(async () => {
    closeClients();
    for (const n of nodes) await n.stop();
    await redis?.dispose();
  });

  it("a UI on node A sees node B's stats and sockets, and disconnects a socket of node B", bounded(30000), async () => {
    const [a, b] = nodes;
    const onB = client(b, "/", { transports: ["websocket"] });
    await connected(onB);
    const admin = adminClient(a);
    await connected(admin);
    const [all] = await nextEvent(admin, "all_sockets");
    const listed = all.find((s) => s.id === onB.id);
    assert.ok(listed, `B's socket in all_sockets: ${JSON.stringify(all.map((s) => s.id))}`);
    assert.equal(listed.transport, "websocket");
    assert.equal(listed.clientId.length, 12);
    assert.ok(listed.handshake.headers.host.endsWith(`:${b.port}`));
    const ids = new Set();
    await eventually(() => {
      for (const [ev, st] of admin.seen) if (ev === "server_stats") ids.add(st.serverId);
      assert.deepEqual([...ids].sort(), ["node-a", "node-b"]);
    }, { timeoutMs: ms(8000) });
    // Live events of node B reach the UI on node A.
    const late = client(b, "/", { transports: ["websocket"] });
    await connected(late);
    await nextEvent(admin, "socket_connected", (s) => s.id === late.id);
    admin.emit("join", "/", "cluster-room", late.id);
    await nextEvent(admin, "room_joined", (n, r, i) => r === "cluster-room" && i === late.id);
    const bId = onB.id; // the client forgets it once disconnected
    admin.emit("_disconnect", "/", false, bId);
    assert.deepEqual(await waitEvent(onB, "disconnect"), ["io server disconnect", undefined]);
    await nextEvent(admin, "socket_disconnected", (n, i) => i === bId);
    assert.ok(late.connected);
  });
});
