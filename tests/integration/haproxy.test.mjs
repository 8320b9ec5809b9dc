// A real HAProxy (fixtures/haproxy.cfg.tmpl, run as `haproxy -f cfg -db`, a foreground
// child on a free loopback port) in front of two echo nodes on one Redis, the nodes started
// with --cookie io. HAProxy balances new sessions round-robin, keeps a polling session on
// its node by the `io` cookie (prefixed with the server name: io=<server>~<sid>), and
// checks GET /healthz on each node. Clients on either transport connect through it, stay
// on one node per session (the echo event `whoami` answers the --node-id), reach each other
// across nodes through Redis, and move to the other node when one stops.

import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { client, connected, emitAck, waitEvent, request, sleep, ms, bounded, RS } from "./helpers.mjs";
import { useCluster, nodeKinds, startHaproxy, tally, whoami, eventually } from "./cluster-helpers.mjs";

const KINDS = nodeKinds(["echo", "echo"]);
const QUIET_MS = ms(400);
const WHOAMI_ROUNDS = 5;

describe("HAProxy, sticky by the io cookie, in front of two nodes", () => {
  let proxy = null;
  after(() => proxy?.stop()); // registered first: HAProxy goes before the nodes
  const cluster = useCluster({ kinds: KINDS, cookie: "io" });
  before(async () => { proxy = await startHaproxy(cluster.nodes, { cookie: "io" }); });
  const nodeIds = () => cluster.nodes.map((n) => n.nodeId).sort();

  // Cookies are kept by socket.io-client in Node.js only with withCredentials.
  const viaProxy = (transports, opts = {}) => client(proxy, "/", { transports, withCredentials: true, ...opts });

  // Several whoami round trips (each one a new request for a polling client): one answer.
  async function stableNode(s) {
    const seen = new Set();
    for (let i = 0; i < WHOAMI_ROUNDS; i++) seen.add(await whoami(s));
    assert.equal(seen.size, 1, `one session, one node: ${[...seen]}`);
    return [...seen][0];
  }

  test("the handshake sets io=<server>~<sid>; the session's requests carrying it reach that server", bounded(20000), async () => {
    const open = await request(proxy.port, { path: "/socket.io/?EIO=4&transport=polling" });
    assert.equal(open.status, 200, open.text);
    const { sid } = JSON.parse(open.text.slice(1));
    const cookies = open.headers["set-cookie"] ?? [];
    const io = cookies.map((c) => /^io=([^;]*)/.exec(c)).find(Boolean);
    assert.ok(io, `an io cookie through HAProxy: ${JSON.stringify(cookies)}`);
    const [server, value] = io[1].split("~");
    assert.ok(nodeIds().includes(server), `prefixed with a server name: ${io[1]}`);
    assert.equal(value, sid, "the node's value is the session id");

    const headers = { cookie: `io=${io[1]}` };
    const q = `/socket.io/?EIO=4&transport=polling&sid=${encodeURIComponent(sid)}`;
    for (const body of ["40", '421["whoami"]']) {
      const res = await request(proxy.port, { method: "POST", path: q, body, headers });
      assert.equal(res.status, 200, `POST ${body}: ${res.text}`);
    }
    const packets = [];
    for (let i = 0; i < 5 && !packets.some((p) => p.startsWith("431")); i++) {
      const res = await request(proxy.port, { path: q, headers });
      assert.equal(res.status, 200, `poll: ${res.text}`);
      packets.push(...res.text.split(RS));
    }
    const ack = packets.find((p) => p.startsWith("431"));
    assert.ok(ack, `whoami acked: ${JSON.stringify(packets)}`);
    assert.deepEqual(JSON.parse(ack.slice(3)), [server], "answered by the server the cookie names");
  });

  test("polling clients stay on one node per session, and sessions are spread over both", bounded(30000), async () => {
    const homes = new Set();
    for (let i = 0; i < 4; i++) {
      const s = viaProxy(["polling"]);
      await connected(s);
      homes.add(await stableNode(s));
    }
    assert.deepEqual([...homes].sort(), nodeIds());
  });

  test("websocket clients connect through it, spread over both nodes", bounded(30000), async () => {
    const homes = new Set();
    for (let i = 0; i < 4; i++) {
      const s = viaProxy(["websocket"]);
      await connected(s);
      homes.add(await stableNode(s));
    }
    assert.deepEqual([...homes].sort(), nodeIds());
  });

  test("polling upgraded to websocket stays on the node of its session", bounded(30000), async () => {
    for (let i = 0; i < 2; i++) {
      const s = viaProxy(["polling", "websocket"]);
      await connected(s);
      const home = await whoami(s);
      if (s.io.engine.transport.name !== "websocket") await waitEvent(s.io.engine, "upgrade", ms(10000));
      assert.equal(s.io.engine.transport.name, "websocket");
      assert.equal(await stableNode(s), home, "the upgrade went to the same node");
    }
  });

  // Clients through the proxy until there is one on every node.
  async function onEveryNode(transports) {
    const byNode = new Map();
    for (let i = 0; i < 10 && byNode.size < cluster.nodes.length; i++) {
      const s = viaProxy(transports);
      await connected(s);
      const home = await whoami(s);
      if (!byNode.has(home)) {
        s.label = `${home} via haproxy (${transports.join("+")})`;
        byNode.set(home, s);
      }
    }
    assert.equal(byNode.size, cluster.nodes.length, "round-robin reached every node");
    return [...byNode.values()];
  }

  test("clients on different nodes reach each other through Redis", bounded(30000), async () => {
    const members = [...await onEveryNode(["polling"]), ...await onEveryNode(["websocket"])];
    for (const s of members) await emitAck(s, "join", "through-haproxy");
    const t = tally(members, "room-message");
    for (const s of members) s.emit("to-room", "through-haproxy", `from ${s.label}`);
    for (const s of members) await t.reached(members, `from ${s.label}`);
    await sleep(QUIET_MS);
    for (const s of members) t.assertExactlyOnce(`from ${s.label}`, members);
  });

  test("a stopped node fails its health check; its clients and new sessions go to the other", bounded(60000), async () => {
    const reconnecting = { reconnection: true, reconnectionDelay: 200, reconnectionDelayMax: 500, randomizationFactor: 0 };
    const clients = [];
    for (const transports of [["polling"], ["websocket"]]) {
      for (const s of await onEveryNode(transports)) {
        s.disconnect();
        const again = viaProxy(transports, reconnecting);
        await connected(again);
        clients.push(again);
      }
    }
    const [survivor, stopped] = cluster.nodes;
    await stopped.stop(); // SIGTERM: clean exit checked
    await eventually(async () => assert.equal((await proxy.status())[stopped.nodeId], "DOWN"), { timeoutMs: ms(10000) });
    for (const s of clients) {
      await eventually(async () => {
        assert.ok(s.connected, "reconnected");
        assert.equal(await whoami(s), survivor.nodeId);
      }, { timeoutMs: ms(15000) });
    }
    for (const transports of [["polling"], ["websocket"]]) {
      const s = viaProxy(transports);
      await connected(s);
      assert.equal(await stableNode(s), survivor.nodeId, "new sessions go to the node that is up");
    }
  });
});
