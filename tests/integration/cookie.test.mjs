// The sticky-session cookie (--cookie NAME): the polling handshake sets NAME=<sid> with
// the Node server's defaults (Path=/; HttpOnly; SameSite=Lax) so a load balancer can
// route the session's later requests; later requests do not set it again; off by default.

import { test, describe } from "node:test";
import assert from "node:assert/strict";
import {
  useServer, client, connected, echoRoundTrip, eioOpen, eioGet, eioPost, bounded,
} from "./helpers.mjs";

function parseSetCookie(res) {
  const raw = res.headers["set-cookie"];
  assert.ok(raw && raw.length === 1, `expected one Set-Cookie, got ${JSON.stringify(raw)}`);
  const [pair, ...attrs] = raw[0].split(/;\s*/);
  const eq = pair.indexOf("=");
  return {
    name: pair.slice(0, eq),
    value: pair.slice(eq + 1),
    attrs: attrs.map((a) => a.toLowerCase()),
  };
}

describe("--cookie io", () => {
  const srv = useServer({ args: ["--cookie", "io"] });

  test("the handshake sets io=<sid>; Path=/; HttpOnly; SameSite=Lax", bounded(10000), async () => {
    const { sid, res } = await eioOpen(srv);
    const c = parseSetCookie(res);
    assert.equal(c.name, "io");
    assert.equal(c.value, sid);
    assert.ok(c.attrs.includes("path=/"), `attributes: ${c.attrs}`);
    assert.ok(c.attrs.includes("httponly"), `attributes: ${c.attrs}`);
    assert.ok(c.attrs.includes("samesite=lax"), `attributes: ${c.attrs}`);
  });

  test("later polls and posts of the session do not set it again", bounded(10000), async () => {
    const { sid } = await eioOpen(srv);
    const post = await eioPost(srv, sid, "40");
    assert.equal(post.headers["set-cookie"], undefined);
    const poll = await eioGet(srv, sid);
    assert.equal(poll.status, 200);
    assert.equal(poll.headers["set-cookie"], undefined);
  });

  test("socket.io-client works with the cookie on", bounded(10000), async () => {
    const s = client(srv, "/", { transports: ["polling"] });
    await connected(s);
    await echoRoundTrip(s, "with cookie");
  });
});

describe("--cookie with another name", () => {
  const srv = useServer({ args: ["--cookie", "lb_sticky"] });

  test("the cookie carries the configured name", bounded(10000), async () => {
    const { sid, res } = await eioOpen(srv);
    const c = parseSetCookie(res);
    assert.equal(c.name, "lb_sticky");
    assert.equal(c.value, sid);
  });
});

describe("no --cookie", () => {
  const srv = useServer();

  test("no Set-Cookie by default", bounded(10000), async () => {
    const { res } = await eioOpen(srv);
    assert.equal(res.headers["set-cookie"], undefined);
  });
});
