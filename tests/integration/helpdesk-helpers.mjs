// What the helpdesk tests share: signed tokens, customer / agent clients on /helpdesk, and
// the REST endpoints. Tokens are signed here with node:crypto, independently of the C code.

import crypto from "node:crypto";
import assert from "node:assert/strict";
import { before, after, afterEach } from "node:test";
import { io, request, jsonBody, waitEvent, connected, startServer, ms, HOST, TEST_JWT_SECRET, TEST_API_KEY } from "./helpers.mjs";
import { startRedis, waitStatus } from "./cluster-helpers.mjs";

// The same files run in the embedded mode and, with SWITCHBOARD_HELPDESK_REDIS=1 (the
// ".redis" ctest entries), against a real redis-server: the Redis store must behave alike.
export const WITH_REDIS = !!process.env.SWITCHBOARD_HELPDESK_REDIS;

// One helpdesk server (and its redis-server, in the Redis variant) for the enclosing
// describe block, like useServer.
export function useHelpdesk({ args = [], ...opts } = {}) {
  let srv = null, redis = null;
  before(async () => {
    if (WITH_REDIS) redis = await startRedis();
    srv = await startServer({ kind: "server", args: redis ? [...args, "--redis", redis.url] : args, ...opts });
    if (redis) await waitStatus(srv, "/readyz", 200, { what: "the helpdesk node on Redis" });
  });
  afterEach(() => closeHdClients());
  after(async () => {
    closeHdClients();
    if (srv) await srv.stop();
    if (redis) await redis.dispose();
  });
  return new Proxy({}, {
    get(_, key) {
      if (!srv) throw new Error("the server is not started yet");
      const v = srv[key];
      return typeof v === "function" ? v.bind(srv) : v;
    },
  });
}

export const NSP = "/helpdesk";
export const API = "/api/v1/helpdesk";
export const MESSAGE_KEYS = ["attachment", "client_msg_id", "created_at", "id", "message", "sender", "seq", "session_id", "ticket_chat_id"];

const b64url = (o) => Buffer.from(typeof o === "string" ? o : JSON.stringify(o)).toString("base64url");

export function jwt(claims, { secret = TEST_JWT_SECRET, header = { alg: "HS256", typ: "JWT" }, expIn = 600 } = {}) {
  const body = { exp: Math.floor(Date.now() / 1000) + expIn, ...claims };
  const signing = `${b64url(header)}.${b64url(body)}`;
  const sig = crypto.createHmac("sha256", secret).update(signing).digest("base64url");
  return `${signing}.${sig}`;
}

const open = new Set();

export function hdClient(srv, token, { transports = ["websocket"], query, ...opts } = {}) {
  const s = io(`${srv.url}${NSP}`, {
    auth: token === undefined ? undefined : { token }, query, transports, reconnection: false, forceNew: true, ...opts,
  });
  open.add(s);
  return s;
}

export function closeHdClients() {
  for (const s of open) s.close();
  open.clear();
}

export async function online(socket, timeoutMs = ms(5000)) {
  try {
    return await connected(socket, timeoutMs);
  } catch (err) {
    throw new Error(`connect_error: ${err.message} ${JSON.stringify(err.data)}`);
  }
}

export const customer = (srv, sub, extra = {}, opts) => online(hdClient(srv, jwt({ sub, role: "customer", name: `Customer ${sub}`, ...extra }), opts));
export const agent = (srv, sub, extra = {}, opts) => online(hdClient(srv, jwt({ sub, role: "agent", name: `Agent ${sub}`, ...extra }), opts));
export const supervisor = (srv, sub, extra = {}) => online(hdClient(srv, jwt({ sub, role: "supervisor", name: `Sup ${sub}`, ...extra })));

// The connect_error a token gets (the socket is closed).
export async function refusal(srv, token, opts) {
  const s = hdClient(srv, token, opts);
  const [err] = await waitEvent(s, "connect_error", ms(5000));
  s.close();
  return err;
}

export const ack = (socket, event, payload, timeoutMs = ms(5000)) => socket.timeout(timeoutMs).emitWithAck(event, payload);

export function send(socket, message, { session_id, ticket_chat_id = null, client_msg_id, attachment = false } = {}) {
  return ack(socket, "support", { session_id, message, attachment, ticket_chat_id, client_msg_id });
}

export async function rest(srv, path, { method = "GET", token = TEST_API_KEY, body, headers = {} } = {}) {
  const h = { ...headers };
  if (token) h.authorization = `Bearer ${token}`;
  if (body !== undefined) h["content-type"] = "application/json";
  const res = await request(srv.port, { method, path: `${API}${path}`, headers: h, body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body) });
  return { status: res.status, body: jsonBody(res) };
}

export function assertMessage(m, { seq, message, senderType, chat }) {
  assert.deepEqual(Object.keys(m).sort(), MESSAGE_KEYS);
  assert.match(m.id, /^[0-9A-HJKMNP-TV-Z]{26}$/, "a ULID");
  assert.match(m.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  assert.deepEqual(Object.keys(m.sender).sort(), ["id", "name", "type"]);
  if (seq !== undefined) assert.equal(m.seq, seq);
  if (message !== undefined) assert.equal(m.message, message);
  if (senderType !== undefined) assert.equal(m.sender.type, senderType);
  if (chat !== undefined) assert.equal(m.ticket_chat_id, chat);
}

export { TEST_API_KEY, TEST_JWT_SECRET, HOST };
