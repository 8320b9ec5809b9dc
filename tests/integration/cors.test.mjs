// CORS on the polling transport, as the Node server answers with `cors: { origin }`
// (engine.io runs the `cors` package as a middleware, before its own checks):
//  - origin "*": Access-Control-Allow-Origin: * on every response;
//  - a list: the request's Origin echoed back when it is listed, with Vary: Origin,
//    and no Access-Control-Allow-Origin at all when it is not;
//  - preflight OPTIONS: 204, Allow-Methods, Allow-Headers reflecting the request's
//    Access-Control-Request-Headers;
//  - no --cors-origin: no CORS headers.

import { test, describe } from "node:test";
import assert from "node:assert/strict";
import {
  useServer, request, eioQuery, eioOpen, eioPost, eioGet, bounded, SIO_PATH,
} from "./helpers.mjs";

const ORIGIN = "http://app.example";
const OTHER = "http://evil.example";

function preflight(srv, origin, requestHeaders = "content-type") {
  return request(srv.port, {
    method: "OPTIONS",
    path: eioQuery(SIO_PATH),
    headers: {
      origin,
      "access-control-request-method": "POST",
      "access-control-request-headers": requestHeaders,
    },
  });
}

function varyIncludes(res, name) {
  return String(res.headers.vary || "").toLowerCase().split(/\s*,\s*/).includes(name.toLowerCase());
}

function allowedMethods(res) {
  return String(res.headers["access-control-allow-methods"] || "").toUpperCase().split(/\s*,\s*/);
}

describe("--cors-origin '*'", () => {
  const srv = useServer({ args: ["--cors-origin", "*"] });

  test("handshake GET carries Access-Control-Allow-Origin: *", bounded(10000), async () => {
    const { res } = await eioOpen(srv, { headers: { origin: ORIGIN } });
    assert.equal(res.headers["access-control-allow-origin"], "*");
  });

  test("data POST and poll GET carry it too", bounded(10000), async () => {
    const { sid } = await eioOpen(srv, { headers: { origin: ORIGIN } });
    const post = await eioPost(srv, sid, "40", { headers: { origin: ORIGIN } });
    assert.equal(post.status, 200);
    assert.equal(post.headers["access-control-allow-origin"], "*");
    const poll = await eioGet(srv, sid, { headers: { origin: ORIGIN } });
    assert.equal(poll.status, 200);
    assert.equal(poll.headers["access-control-allow-origin"], "*");
  });

  test("preflight OPTIONS: 204 with methods and the requested headers", bounded(10000), async () => {
    const res = await preflight(srv, ORIGIN, "content-type,x-custom");
    assert.equal(res.status, 204);
    assert.equal(res.headers["access-control-allow-origin"], "*");
    for (const m of ["GET", "POST"]) assert.ok(allowedMethods(res).includes(m), `Allow-Methods: ${res.headers["access-control-allow-methods"]}`);
    assert.equal(String(res.headers["access-control-allow-headers"]).toLowerCase(), "content-type,x-custom");
    assert.equal(res.body.length, 0);
  });

  test("error responses carry it as well, so a browser can read them", bounded(10000), async () => {
    const res = await eioGet(srv, "unknown-sid", { headers: { origin: ORIGIN } });
    assert.equal(res.status, 400);
    assert.equal(res.headers["access-control-allow-origin"], "*");
  });

  test("a request without Origin is served normally", bounded(10000), async () => {
    const { res } = await eioOpen(srv);
    assert.equal(res.status, 200);
  });
});

describe("--cors-origin with a list", () => {
  const srv = useServer({ args: ["--cors-origin", `${ORIGIN},http://second.example`] });

  test("a listed origin is echoed back, with Vary: Origin", bounded(10000), async () => {
    for (const origin of [ORIGIN, "http://second.example"]) {
      const { res } = await eioOpen(srv, { headers: { origin } });
      assert.equal(res.headers["access-control-allow-origin"], origin);
      assert.ok(varyIncludes(res, "Origin"), `Vary: ${res.headers.vary}`);
    }
  });

  test("an unlisted origin gets no Access-Control-Allow-Origin", bounded(10000), async () => {
    const { res } = await eioOpen(srv, { headers: { origin: OTHER } });
    assert.equal(res.headers["access-control-allow-origin"], undefined);
  });

  test("preflight from a listed origin", bounded(10000), async () => {
    const res = await preflight(srv, ORIGIN);
    assert.equal(res.status, 204);
    assert.equal(res.headers["access-control-allow-origin"], ORIGIN);
    assert.ok(varyIncludes(res, "Origin"));
    assert.ok(allowedMethods(res).includes("POST"));
    assert.equal(String(res.headers["access-control-allow-headers"]).toLowerCase(), "content-type");
  });

  test("preflight from an unlisted origin gets no Access-Control-Allow-Origin", bounded(10000), async () => {
    const res = await preflight(srv, OTHER);
    assert.equal(res.headers["access-control-allow-origin"], undefined);
  });

  test("origins are matched exactly, not by prefix", bounded(10000), async () => {
    for (const origin of [`${ORIGIN}.evil.example`, "http://app.exampl", `${ORIGIN}:8080`]) {
      const { res } = await eioOpen(srv, { headers: { origin } });
      assert.equal(res.headers["access-control-allow-origin"], undefined, origin);
    }
  });
});

describe("no --cors-origin", () => {
  const srv = useServer();

  test("no CORS headers on a request with an Origin", bounded(10000), async () => {
    const { res } = await eioOpen(srv, { headers: { origin: ORIGIN } });
    assert.equal(res.headers["access-control-allow-origin"], undefined);
    assert.equal(res.headers["access-control-allow-credentials"], undefined);
  });

  test("no CORS headers on OPTIONS either", bounded(10000), async () => {
    const res = await preflight(srv, ORIGIN);
    assert.equal(res.headers["access-control-allow-origin"], undefined);
    assert.notEqual(res.status, 204);
  });
});
