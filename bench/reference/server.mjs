// server.mjs: the helpdesk relay as a competent Node.js team would write it instead of
// Switchboard, for side-by-side benchmarks: socket.io 4.8 on @socket.io/redis-adapter 8
// with the `redis` client. It speaks the part of the helpdesk contract
// (shared spec/helpdesk.md) that the benchmark workloads use, with the same shapes:
//
//   namespace /helpdesk, auth {token} (JWT HS256 signed with --jwt-secret, claims sub,
//   role customer|agent|supervisor, exp, name?, dept?, max_chats?), CONNECT_ERROR
//   "unauthorized" {code} otherwise;
//   rooms session:<sid>, agent:<id>, agents, dept:<d>, chat:<ticket_chat_id>;
//   `support` (customer: ticket_chat_id null = my open conversation or a new one; agent:
//   the assigned agent only) stored in Redis, each conversation's `seq` from INCR and the
//   message appended with XADD, in one Lua script; emitted as {status_code:200, data} to
//   chat:<id> and acked with the same body; errors {status_code, error:{code,message},
//   client_msg_id} to the sender; client_msg_id makes a send idempotent;
//   auto routing (atomic, one Lua script): a new conversation goes to the online agent
//   with the fewest open conversations under max_chats, ties to the one idle longest, else
//   waits in the queue; `assigned` {ticket_chat_id, agent:{id,name}} to the chat room and
//   the agent; every stored message and assignment is also appended to the stream hd:events.
//
//   node server.mjs --port P --redis redis://127.0.0.1:6379 --jwt-secret S [--host H]
//                   [--max-chats N] [--max-message-bytes N] [--redis-prefix socket.io]
//
// SIGTERM closes every client and exits 0.

import http from "node:http";
import { createHmac, randomFillSync, randomUUID, timingSafeEqual } from "node:crypto";
import { parseArgs } from "node:util";
import { Server } from "socket.io";
import { createClient, defineScript } from "redis";
import { createAdapter } from "@socket.io/redis-adapter";

const { values: opt } = parseArgs({
  options: {
    host: { type: "string", default: "127.0.0.1" },
    port: { type: "string", default: "3000" },
    redis: { type: "string", default: "redis://127.0.0.1:6379" },
    "redis-prefix": { type: "string", default: "socket.io" },
    "jwt-secret": { type: "string" },
    "max-chats": { type: "string", default: "5" },
    "max-message-bytes": { type: "string", default: "4096" },
    "clock-skew": { type: "string", default: "30" },
  },
});
if (!opt["jwt-secret"]) {
  console.error("server.mjs: --jwt-secret is required");
  process.exit(2);
}
const JWT_SECRET = opt["jwt-secret"];
const MAX_CHATS = Number(opt["max-chats"]);
const MAX_MESSAGE_BYTES = Number(opt["max-message-bytes"]);
const CLOCK_SKEW_S = Number(opt["clock-skew"]);
const ID_MAX = 128;

// ---- JWT HS256, by hand with node:crypto -------------------------------------------------

class AuthError extends Error {}

function verifyJwt(token) {
  if (typeof token !== "string") throw new AuthError("missing_token");
  const parts = token.split(".");
  if (parts.length !== 3) throw new AuthError("malformed");
  let header, claims;
  try {
    header = JSON.parse(Buffer.from(parts[0], "base64url").toString());
    claims = JSON.parse(Buffer.from(parts[1], "base64url").toString());
  } catch {
    throw new AuthError("malformed");
  }
  if (header.alg !== "HS256") throw new AuthError("bad_algorithm");
  const expected = createHmac("sha256", JWT_SECRET).update(`${parts[0]}.${parts[1]}`).digest();
  const given = Buffer.from(parts[2], "base64url");
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw new AuthError("bad_signature");
  if (typeof claims.exp !== "number") throw new AuthError("malformed");
  if (claims.exp + CLOCK_SKEW_S < Date.now() / 1000) throw new AuthError("expired");
  if (typeof claims.sub !== "string" || !claims.sub || claims.sub.length > ID_MAX) throw new AuthError("malformed");
  if (!["customer", "agent", "supervisor"].includes(claims.role)) throw new AuthError("malformed");
  return claims;
}

// ---- ids ------------------------------------------------------------------------------------

const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const ulidRandom = Buffer.alloc(10);
function ulid(ms) {
  let out = "";
  for (let i = 9; i >= 0; i--) out += CROCKFORD[Math.floor(ms / 32 ** i) % 32];
  randomFillSync(ulidRandom);
  for (let i = 0; i < 16; i++) {
    const bit = i * 5, byte = bit >> 3, shift = bit & 7;
    const word = (ulidRandom[byte] << 8) | (ulidRandom[byte + 1] ?? 0);
    out += CROCKFORD[(word >> (11 - shift)) & 31];
  }
  return out;
}

// ---- Redis: the store, one Lua script per atomic step --------------------------------------

// Chooses among online agents (zset hd:agents:load, score = open * 1e13 + last assignment
// ms: fewest open first, then idle longest) the first under its max_chats, and assigns.
const ROUTE_ONE_LUA = `
local function assign(id, now, iso)
  for _, a in ipairs(redis.call('ZRANGE', 'hd:agents:load', 0, -1)) do
    local ag = redis.call('HMGET', 'hd:agent:' .. a, 'max_chats', 'open', 'name')
    local open = tonumber(ag[2] or '0')
    if open < tonumber(ag[1]) then
      open = open + 1
      redis.call('HSET', 'hd:agent:' .. a, 'open', open)
      redis.call('ZADD', 'hd:agents:load', open * 1e13 + now, a)
      redis.call('SADD', 'hd:agent:' .. a .. ':chats', id)
      redis.call('HSET', 'hd:chat:' .. id, 'status', 'assigned', 'agent', a, 'agent_name', ag[3] or '')
      redis.call('XADD', 'hd:events', '*', 'type', 'assigned', 'data',
        cjson.encode({ticket_chat_id = id, agent = {id = a, name = ag[3] or ''}, at = iso}))
      return {a, ag[3] or ''}
    end
  end
  return nil
end
`;

const OPEN_LUA = ROUTE_ONE_LUA + `
local open = redis.call('GET', KEYS[1])
if open then return {open, 0} end
local id, now = ARGV[2], tonumber(ARGV[3])
redis.call('HSET', 'hd:chat:' .. id, 'session_id', ARGV[1], 'status', 'queued', 'created_at', ARGV[4])
redis.call('SET', KEYS[1], id)
local a = assign(id, now, ARGV[4])
if not a then
  redis.call('RPUSH', 'hd:queue', id)
  return {id, 1}
end
return {id, 1, a[1], a[2]}
`;

const ROUTE_QUEUE_LUA = ROUTE_ONE_LUA + `
local out = {}
while true do
  local id = redis.call('LINDEX', 'hd:queue', 0)
  if not id then break end
  local a = assign(id, tonumber(ARGV[1]), ARGV[2])
  if not a then break end
  redis.call('LPOP', 'hd:queue')
  table.insert(out, {id, a[1], a[2], redis.call('HGET', 'hd:chat:' .. id, 'session_id')})
end
return out
`;

// KEYS[1] hd:chat:<id>. ARGV: id, access session, access agent ('' = any), sender type, id,
// name, message, client_msg_id ('' = none), message id, created_at, attachment (JSON).
// Returns {status} or {200, seq, session_id} or {200, stored message JSON, 'dup'}.
const POST_LUA = `
local c = redis.call('HMGET', KEYS[1], 'session_id', 'status', 'agent')
if not c[1] then return {404} end
if ARGV[2] ~= '' and c[1] ~= ARGV[2] then return {403} end
if ARGV[3] ~= '' and c[3] ~= ARGV[3] then return {403} end
if c[2] == 'closed' then return {409} end
if ARGV[8] ~= '' then
  local prev = redis.call('HGET', KEYS[1] .. ':cmid', ARGV[8])
  if prev then return {200, prev, 'dup'} end
end
local seq = redis.call('INCR', KEYS[1] .. ':seq')
local msg = {id = ARGV[9], ticket_chat_id = ARGV[1], session_id = c[1], seq = seq,
  sender = {type = ARGV[4], id = ARGV[5], name = ARGV[6]}, message = ARGV[7],
  attachment = cjson.decode(ARGV[11]), client_msg_id = ARGV[8], created_at = ARGV[10]}
local json = cjson.encode(msg)
redis.call('XADD', KEYS[1] .. ':messages', '*', 'seq', seq, 'data', json)
if ARGV[8] ~= '' then redis.call('HSET', KEYS[1] .. ':cmid', ARGV[8], json) end
redis.call('HSET', KEYS[1], 'last_activity', ARGV[10])
redis.call('XADD', 'hd:events', '*', 'type', 'message', 'data', json)
return {200, seq, c[1]}
`;

const scripts = {
  openConversation: defineScript({
    NUMBER_OF_KEYS: 1, SCRIPT: OPEN_LUA,
    transformArguments: (key, ...args) => [key, ...args.map(String)],
  }),
  routeQueue: defineScript({
    NUMBER_OF_KEYS: 0, SCRIPT: ROUTE_QUEUE_LUA,
    transformArguments: (...args) => args.map(String),
  }),
  postMessage: defineScript({
    NUMBER_OF_KEYS: 1, SCRIPT: POST_LUA,
    transformArguments: (key, ...args) => [key, ...args.map(String)],
  }),
};

const redis = createClient({ url: opt.redis, scripts });
const pubClient = createClient({ url: opt.redis });
const subClient = pubClient.duplicate();
for (const c of [redis, pubClient, subClient]) c.on("error", (e) => console.error("redis:", e.message));
await Promise.all([redis.connect(), pubClient.connect(), subClient.connect()]);

// ---- Socket.IO ------------------------------------------------------------------------------

const httpServer = http.createServer((req, res) => {
  if (req.url === "/healthz" || req.url === "/readyz") {
    res.writeHead(200, { "content-type": "application/json" });
    res.end(req.url === "/healthz" ? '{"status":"ok"}' : '{"status":"ready"}');
    return;
  }
  res.writeHead(404).end();
});
const io = new Server(httpServer, { serveClient: false });
io.adapter(createAdapter(pubClient, subClient, { key: opt["redis-prefix"] }));
const nsp = io.of("/helpdesk");

nsp.use((socket, next) => {
  const token = socket.handshake.auth?.token ?? socket.handshake.query?.token;
  try {
    socket.data.user = verifyJwt(token);
    next();
  } catch (e) {
    const err = new Error("unauthorized");
    err.data = { code: e instanceof AuthError ? e.message : "malformed" };
    next(err);
  }
});

function failure(status, code, message, clientMsgId) {
  return { status_code: status, error: { code, message }, client_msg_id: clientMsgId ?? null };
}

const ERRORS = {
  400: ["bad_request", "malformed request"],
  403: ["forbidden", "not allowed for this conversation"],
  404: ["not_found", "unknown conversation"],
  409: ["closed", "conversation closed"],
  413: ["too_large", "message too large"],
  503: ["unavailable", "store unavailable"],
};

function announceAssignment(chatId, sessionId, agentId, agentName) {
  nsp.in(`session:${sessionId}`).socketsJoin(`chat:${chatId}`);
  nsp.in(`agent:${agentId}`).socketsJoin(`chat:${chatId}`);
  nsp.to(`chat:${chatId}`).to(`agent:${agentId}`).emit("assigned", {
    ticket_chat_id: chatId, agent: { id: agentId, name: agentName || null },
  });
}

async function routeQueue() {
  const now = Date.now();
  const assigned = await redis.routeQueue(now, new Date(now).toISOString());
  for (const [chatId, agentId, agentName, sessionId] of assigned) {
    announceAssignment(chatId, sessionId, agentId, agentName);
  }
}

async function onConnection(socket) {
  const user = socket.data.user;
  if (user.role === "customer") {
    socket.join(`session:${user.sub}`);
    const open = await redis.get(`hd:session:${user.sub}:open`);
    if (open) socket.join(`chat:${open}`);
    return;
  }
  socket.join([`agent:${user.sub}`, "agents", ...(user.dept ?? []).map((d) => `dept:${d}`)]);
  if (user.role !== "agent") return;
  const maxChats = Number.isInteger(user.max_chats) && user.max_chats > 0 ? user.max_chats : MAX_CHATS;
  const [, , , chats] = await redis.multi()
    .hSet(`hd:agent:${user.sub}`, { max_chats: maxChats, name: user.name ?? "" })
    .hSetNX(`hd:agent:${user.sub}`, "open", "0")
    .zAdd("hd:agents:load", { score: 0, value: user.sub }, { NX: true })
    .sMembers(`hd:agent:${user.sub}:chats`)
    .exec();
  if (chats.length) socket.join(chats.map((id) => `chat:${id}`));
  await routeQueue();
}

let closing = false;

async function onDisconnect(socket) {
  const user = socket.data.user;
  if (closing || user.role !== "agent") return;
  const left = await nsp.in(`agent:${user.sub}`).fetchSockets();
  if (left.length === 0) await redis.zRem("hd:agents:load", user.sub);
}

function validSupport(p, user) {
  if (!p || typeof p !== "object") return false;
  if (typeof p.message !== "string" || typeof p.session_id !== "string") return false;
  if (p.client_msg_id != null && (typeof p.client_msg_id !== "string" || p.client_msg_id.length > ID_MAX)) return false;
  if (p.attachment !== false && (typeof p.attachment !== "object" || p.attachment === null)) return false;
  if (user.role === "customer") return p.ticket_chat_id == null || typeof p.ticket_chat_id === "string";
  return typeof p.ticket_chat_id === "string";
}

async function onSupport(socket, p, ack) {
  const user = socket.data.user;
  const reply = (body) => {
    if (ack) ack(body);
    else if (body.status_code !== 200) socket.emit("support", body);
  };
  if (!validSupport(p, user)) return reply(failure(400, ...ERRORS[400], p?.client_msg_id));
  if (Buffer.byteLength(p.message) > MAX_MESSAGE_BYTES) return reply(failure(413, ...ERRORS[413], p.client_msg_id));
  if (user.role === "customer" && p.session_id !== user.sub) return reply(failure(403, ...ERRORS[403], p.client_msg_id));
  const now = Date.now();
  const createdAt = new Date(now).toISOString();
  let chatId = p.ticket_chat_id;
  try {
    if (chatId == null) {
      const [id, created, agentId, agentName] = await redis.openConversation(
        `hd:session:${user.sub}:open`, user.sub, `c_${ulid(now)}`, now, createdAt);
      chatId = id;
      if (created) {
        socket.join(`chat:${chatId}`);
        if (agentId) announceAssignment(chatId, user.sub, agentId, agentName);
      }
    }
    const access = user.role === "customer" ? [user.sub, ""] : user.role === "agent" ? ["", user.sub] : ["", ""];
    const msgId = ulid(now);
    const r = await redis.postMessage(`hd:chat:${chatId}`, chatId, ...access, user.role, user.sub,
      user.name ?? "", p.message, p.client_msg_id ?? "", msgId, createdAt, JSON.stringify(p.attachment));
    if (r[0] !== 200) return reply(failure(r[0], ...ERRORS[r[0]], p.client_msg_id));
    if (r[2] === "dup") return reply({ status_code: 200, data: JSON.parse(r[1]) });
    const message = {
      id: msgId, ticket_chat_id: chatId, session_id: r[2], seq: r[1],
      sender: { type: user.role, id: user.sub, name: user.name ?? null },
      message: p.message, attachment: p.attachment, client_msg_id: p.client_msg_id ?? null, created_at: createdAt,
    };
    const body = { status_code: 200, data: message };
    nsp.to(`chat:${chatId}`).emit("support", body);
    if (ack) ack(body);
  } catch (e) {
    console.error("support:", e.message);
    reply(failure(503, ...ERRORS[503], p.client_msg_id));
  }
}

nsp.on("connection", (socket) => {
  socket.on("support", (p, ack) => onSupport(socket, p, typeof ack === "function" ? ack : null));
  socket.on("disconnect", () => onDisconnect(socket).catch((e) => console.error("disconnect:", e.message)));
  onConnection(socket).catch((e) => console.error("connection:", e.message));
});

httpServer.listen(Number(opt.port), opt.host, () => {
  console.error(`reference listening on ${opt.host}:${opt.port} (node ${process.version}, id ${randomUUID().slice(0, 8)})`);
});

process.on("SIGTERM", () => {
  closing = true;
  io.close();
  Promise.allSettled([redis.quit(), pubClient.quit(), subClient.quit()]).then(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
});
