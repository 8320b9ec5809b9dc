// No sticky sessions (--cluster-engine, on by default with --redis), as Node's
// @socket.io/cluster-engine: every sid carries its owner's tag, and a node that gets an
// Engine.IO request (polling GET or POST, websocket upgrade) for a session another node
// holds relays it to that node through Redis and writes back the owner's answer. Real
// redis-server, real echo nodes, a real HAProxy balancing every request round-robin with no
// cookie, and the stock socket.io-client.

import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  client, connected, emitAck, waitEvent, request, sleep, ms, bounded, RS, eioOpen, eioGet, eioPost,
  eioQuery, jsonBody, wsConnect, splitPayload,
} from "./helpers.mjs";
import { useCluster, startHaproxy, killNode, eventually } from "./cluster-helpers.mjs";

const TAGGED_SID = /^([A-Za-z0-9_-]{1,16})\.[A-Za-z0-9_-]{20}$/;
const UNKNOWN_SID = { code: 1, message: "Session ID unknown" };

// The forwarding counters of a node's /metrics.
async function forwardStats(node) {
  const res = await request(node.port, { path: "/metrics" });
  assert.equal(res.status, 200, res.text);
  const value = (name) => {
    const m = new RegExp(`^${name} (\\d+)$`, "m").exec(res.text);
    assert.ok(m, `${name} in /metrics: ${res.text}`);
    return Number(m[1]);
  };
  return {
    forwarded: value("switchboard_forwarded_requests_total"),
    failed: value("switchboard_forward_failures_total"),
    served: value("switchboard_forwarded_served_total"),
  };
}

// Polls node for sid until a record matching want arrives; answers pings.
async function pollFor(node, sid, want, { deadlineMs = ms(5000) } = {}) {
  const end = Date.now() + deadlineMs;
  const seen = [];
  for (;;) {
    const left = end - Date.now();
    assert.ok(left > 0, `no record matching ${want} within ${deadlineMs} ms: ${JSON.stringify(seen)}`);
    const res = await eioGet(node, sid, { timeoutMs: left });
    assert.equal(res.status, 200, `poll on ${node.nodeId}: ${res.status} ${res.text}`);
    for (const rec of splitPayload(res.text)) {
      seen.push(rec);
      if (rec === "2") await eioPost(node, sid, "3");
      if (want.test(rec)) return rec;
    }
  }
}

// A Socket.IO session opened over polling on owner (CONNECT answered and drained there).
async function pollingSession(owner) {
  const { sid } = await eioOpen(owner);
  const posted = await eioPost(owner, sid, "40");
  assert.equal(posted.status, 200, posted.text);
  await pollFor(owner, sid, /^40\{/);
  return sid;
}

describe("forwarding between two echo nodes", () => {
  const cluster = useCluster({ kinds: ["echo", "echo"] });
  const nodes = () => cluster.nodes;

  test("every sid names its node: one tag per node, a different one on each", bounded(10000), async () => {
    const [a, b] = nodes();
    const tags = [];
    for (const node of [a, a, b]) {
      const { sid } = await eioOpen(node);
      const m = TAGGED_SID.exec(sid);
      assert.ok(m, `tag "." 20 random characters: ${sid}`);
      tags.push(m[1]);
    }
    assert.equal(tags[0], tags[1], "the same node, the same tag");
    assert.notEqual(tags[0], tags[2], "another node, another tag");
  });

  test("polling: a session opened on A is served on B (POST, GET, packets both ways)", bounded(15000), async () => {
    const [a, b] = nodes();
    const before = await forwardStats(b);
    const { sid } = await eioOpen(a);
    const posted = await eioPost(b, sid, "40");
    assert.equal(posted.status, 200, posted.text);
    assert.equal(posted.text, "ok");
    await pollFor(b, sid, /^40\{"sid"/);
    for (let i = 0; i < 5; i++) {
      const res = await eioPost(b, sid, `42["message","round ${i}"]`);
      assert.equal(res.status, 200, res.text);
      assert.equal(await pollFor(b, sid, /^42\["message-back"/), `42["message-back","round ${i}"]`);
    }
    const after = await forwardStats(b);
    assert.ok(after.forwarded >= before.forwarded + 12, `B relayed every request: ${JSON.stringify([before, after])}`);
    assert.equal(after.failed, before.failed);
  });

  test("a GET parked through B is answered when A emits", bounded(15000), async () => {
    const [a, b] = nodes();
    const sid = await pollingSession(a);
    const started = Date.now();
    const parked = eioGet(b, sid, { timeoutMs: ms(10000) });
    await sleep(ms(500));
    const res = await eioPost(a, sid, '42["message","late"]');
    assert.equal(res.status, 200, res.text);
    const got = await parked;
    assert.equal(got.status, 200, got.text);
    assert.deepEqual(splitPayload(got.text), ['42["message-back","late"]']);
    assert.ok(Date.now() - started >= ms(500), "the GET waited for the packet");
  });

  test("a parked GET relayed through B whose client goes leaves nothing on A", bounded(15000), async () => {
    const [a, b] = nodes();
    const sid = await pollingSession(a);
    const before = await forwardStats(a);
    const gone = eioGet(b, sid, { timeoutMs: ms(500) }).then(() => "answered", (e) => e.message);
    assert.match(await gone, /no response/, "the GET was parked on A");
    assert.equal((await forwardStats(a)).served, before.served + 1);
    // Were the relayed GET still parked on A, a second GET would be a protocol error there
    // (two GETs at once: 400 and the session closed).
    await sleep(ms(200));
    const again = eioGet(a, sid, { timeoutMs: ms(5000) });
    await sleep(ms(200));
    await eioPost(a, sid, '42["message","still here"]');
    const res = await again;
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(splitPayload(res.text), ['42["message-back","still here"]']);
  });

  test("websocket upgrade through B of a session polling on A: probe, upgrade, messages both ways", bounded(20000), async () => {
    const [a, b] = nodes();
    const sid = await pollingSession(a);
    const ws = await wsConnect(b.wsUrl + eioQuery(b.path, { transport: "websocket", sid }));
    const parked = eioGet(a, sid, { timeoutMs: ms(5000) });
    ws.send("2probe");
    assert.equal(await ws.next(), "3probe");
    const released = await parked;
    assert.equal(released.text, "6", "the parked GET is released with a NOOP");
    ws.send("5");
    for (let i = 0; i < 5; i++) {
      ws.send(`42["message","ws ${i}"]`);
      assert.equal(await ws.next(), `42["message-back","ws ${i}"]`);
    }
    ws.send('451-["message",{"_placeholder":true,"num":0}]');
    ws.send(Buffer.from([1, 2, 3, 250]));
    assert.equal(await ws.next(), '451-["message-back",{"_placeholder":true,"num":0}]');
    assert.deepEqual(await ws.next(), Buffer.from([1, 2, 3, 250]));
    // The session moved to the websocket: polling it on A is now a bad request.
    const poll = await eioGet(a, sid);
    assert.equal(poll.status, 400, poll.text);
    ws.close();
    await eventually(async () => {
      const res = await eioGet(a, sid, { timeoutMs: ms(1000) });
      assert.deepEqual(jsonBody(res), UNKNOWN_SID, "the client's close ended the session on A");
    });
  });

  test("a websocket to B for a session A does not have: 400 Session ID unknown", bounded(10000), async () => {
    const [a, b] = nodes();
    const { sid } = await eioOpen(b);
    const tag = TAGGED_SID.exec(sid)[1];
    const { sid: aSid } = await eioOpen(a);
    const fake = `${TAGGED_SID.exec(aSid)[1]}.${"x".repeat(20)}`;
    assert.notEqual(tag, TAGGED_SID.exec(fake)[1]);
    await assert.rejects(wsConnect(b.wsUrl + eioQuery(b.path, { transport: "websocket", sid: fake })),
      (e) => e.statusCode === 400);
    const res = await eioGet(b, fake);
    assert.equal(res.status, 400);
    assert.deepEqual(jsonBody(res), UNKNOWN_SID);
  });
});

describe("socket.io-client through HAProxy balancing every request round-robin, no cookie", () => {
  let proxy = null;
  after(() => proxy?.stop()); // registered first: HAProxy goes before the nodes
  const cluster = useCluster({ kinds: ["echo", "echo", "echo"] });
  before(async () => { proxy = await startHaproxy(cluster.nodes, { cookie: null }); });
  const ROUNDS = 30;

  const totals = async () => {
    const all = await Promise.all(cluster.nodes.map(forwardStats));
    return all.reduce((t, s) => ({ forwarded: t.forwarded + s.forwarded, failed: t.failed + s.failed }), { forwarded: 0, failed: 0 });
  };

  for (const transports of [["polling"], ["websocket"], ["polling", "websocket"]]) {
    test(`transports ${JSON.stringify(transports)}: acks and broadcasts for ${ROUNDS} rounds`, bounded(60000), async () => {
      const before = await totals();
      const s = client(proxy, "/", { transports });
      const other = client(proxy, "/", { transports: ["websocket"] });
      await Promise.all([connected(s), connected(other)]);
      if (transports.length > 1) await eventually(() => assert.equal(s.io.engine.transport.name, "websocket"));
      for (let i = 0; i < ROUNDS; i++) {
        const [answer] = await emitAck(s, "message-with-ack", { round: i, bin: Buffer.from([i]) });
        assert.equal(answer.round, i);
        assert.deepEqual(Buffer.from(answer.bin), Buffer.from([i]));
        const all = waitEvent(s, "all-message");
        other.emit("to-all", `b${i}`);
        assert.deepEqual(await all, [`b${i}`]);
      }
      const after = await totals();
      if (transports[0] === "polling") {
        assert.ok(after.forwarded > before.forwarded, `some requests landed on another node and were relayed: ${JSON.stringify([before, after])}`);
      }
      assert.equal(after.failed, before.failed, "none failed");
    });
  }
});

describe("the owner killed", () => {
  const cluster = useCluster({ kinds: ["echo", "echo"] });

  test("a request for its sid on another node is answered Session ID unknown at once", bounded(15000), async () => {
    const [a, b] = cluster.nodes;
    const { sid, open } = await eioOpen(a);
    assert.ok(open.pingTimeout >= 20000, "the default ping timeout");
    await killNode(a);
    const started = Date.now();
    const res = await eioGet(b, sid, { timeoutMs: ms(10000) });
    const took = Date.now() - started;
    assert.equal(res.status, 400, res.text);
    assert.deepEqual(jsonBody(res), UNKNOWN_SID);
    assert.ok(took < ms(2000), `answered in ${took} ms, well under the ping timeout`);
    const post = await eioPost(b, sid, "40");
    assert.deepEqual(jsonBody(post), UNKNOWN_SID);
    assert.ok((await forwardStats(b)).failed >= 2);
  });
});

describe("a node stopping while requests are relayed", () => {
  const cluster = useCluster({ kinds: ["echo", "echo", "echo"] });

  test("the owner stops: a GET parked through another node gets the CLOSE, the owner exits clean", bounded(15000), async () => {
    const [a, b] = cluster.nodes;
    const sid = await pollingSession(a);
    const parked = eioGet(b, sid, { timeoutMs: ms(5000) });
    await sleep(ms(300));
    await a.stop();
    const res = await parked;
    assert.equal(res.status, 200, res.text);
    assert.equal(splitPayload(res.text).at(-1), "1", `the session's CLOSE: ${JSON.stringify(res.text)}`);
  });

  test("the relaying node stops: the owner drops the parked GET, the session goes on", bounded(15000), async () => {
    const [, b, c] = cluster.nodes;
    const sid = await pollingSession(c);
    const parked = eioGet(b, sid, { timeoutMs: ms(5000) }).then((r) => r.status, (e) => e.message);
    await sleep(ms(300));
    await b.stop();
    assert.notEqual(await parked, 200, "the relayed GET had nothing to answer");
    await sleep(ms(200));
    const again = eioGet(c, sid, { timeoutMs: ms(5000) });
    await sleep(ms(200));
    await eioPost(c, sid, '42["message","after"]');
    const res = await again;
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(splitPayload(res.text), ['42["message-back","after"]']);
  });
});

describe("a node stopping while a websocket is tunnelled", () => {
  const cluster = useCluster({ kinds: ["echo", "echo", "echo"] });

  // A session polling on owner, upgraded through via: the tunnel, ready for messages.
  async function tunnel(owner, via) {
    const sid = await pollingSession(owner);
    const ws = await wsConnect(via.wsUrl + eioQuery(via.path, { transport: "websocket", sid }));
    ws.send("2probe");
    assert.equal(await ws.next(), "3probe");
    ws.send("5");
    ws.send('42["message","up"]');
    assert.equal(await ws.next(), '42["message-back","up"]');
    return { sid, ws };
  }

  test("the owner stops: the client gets the session's CLOSE and the close frame", bounded(15000), async () => {
    const [a, b] = cluster.nodes;
    const { ws } = await tunnel(a, b);
    await a.stop();
    assert.equal(await ws.next(), "1", "the CLOSE packet");
    const { code } = await ws.expectClosed();
    assert.equal(code, 1000);
  });

  test("the relaying node stops: the tunnel ends, and with it the session on its owner", bounded(15000), async () => {
    const [, b, c] = cluster.nodes;
    const { sid, ws } = await tunnel(c, b);
    await b.stop();
    await ws.expectClosed();
    await eventually(async () => {
      const res = await eioGet(c, sid, { timeoutMs: ms(1000) });
      assert.deepEqual(jsonBody(res), UNKNOWN_SID);
    });
  });
});

describe("an owner that does not answer, and Redis down", () => {
  const PING_TIMEOUT = 1000;
  const cluster = useCluster({ kinds: ["echo", "echo"], args: ["--ping-interval", "3000", "--ping-timeout", String(PING_TIMEOUT)] });

  test("an owner that is stopped (SIGSTOP): Session ID unknown after the ping timeout", bounded(15000), async () => {
    const [a, b] = cluster.nodes;
    const { sid } = await eioOpen(a);
    process.kill(a.pid, "SIGSTOP");
    try {
      const started = Date.now();
      const res = await eioGet(b, sid, { timeoutMs: ms(10000) });
      const took = Date.now() - started;
      assert.equal(res.status, 400, res.text);
      assert.deepEqual(jsonBody(res), UNKNOWN_SID);
      assert.ok(took >= PING_TIMEOUT - 100 && took < PING_TIMEOUT + ms(1500), `answered after ${took} ms`);
    } finally {
      process.kill(a.pid, "SIGCONT");
    }
  });

  test("Redis down: Session ID unknown at once", bounded(15000), async () => {
    const [a, b] = cluster.nodes;
    const { sid } = await eioOpen(a);
    await cluster.redis.stop();
    const started = Date.now();
    const res = await eioGet(b, sid, { timeoutMs: ms(10000) });
    const took = Date.now() - started;
    assert.equal(res.status, 400, res.text);
    assert.deepEqual(jsonBody(res), UNKNOWN_SID);
    assert.ok(took < ms(500), `answered in ${took} ms`);
  });
});

describe("--no-cluster-engine", () => {
  const cluster = useCluster({ kinds: ["echo", "echo"], args: ["--no-cluster-engine"] });

  test("sids as Node's, and another node's sid is unknown (400)", bounded(10000), async () => {
    const [a, b] = cluster.nodes;
    const { sid } = await eioOpen(a);
    assert.match(sid, /^[A-Za-z0-9_-]{20}$/);
    const res = await eioGet(b, sid);
    assert.equal(res.status, 400);
    assert.deepEqual(jsonBody(res), UNKNOWN_SID);
    assert.equal((await forwardStats(b)).forwarded, 0);
  });
});
