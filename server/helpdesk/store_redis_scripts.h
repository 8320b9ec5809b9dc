/* store_redis_scripts.h: the Lua scripts of store_redis.c, one per store operation
 * (included by store_redis.c only).
 *
 * The one idea: a script is the whole operation, checks and writes and the hd:events
 * entry together, because Redis runs a script atomically; nothing is decided in C.
 *
 * Every script is a prelude plus its body, and takes no KEYS (keys are built from the
 * prefix: one Redis, not Redis Cluster). ARGV[1] is the key prefix, ARGV[2] now in ms
 * since the epoch, ARGV[3] now as hd_time_iso() writes it; an optional argument is '' for
 * NULL. A script (post aside, below) answers one JSON object, {"status":<code>, ...} with
 * the hd_result fields it sets (message, conversation, list, duplicate, created,
 * previous_agent), assembled as text: stored messages are spliced as they were stored,
 * never decoded and encoded again. The Lua holds no double quote and no backslash (DQ is
 * the quote), so it sits in C strings as it is.
 *
 * post, run for every message, is built for cost (Redis's Lua hashes every byte of every
 * string it creates, and formats every number given to redis.call with printf): it reads
 * only the fields it needs, builds the message as one string, passes numbers as strings,
 * starts from the short prelude (HD_LUA_BASE: every closure of a prelude is made again
 * on every call), and answers a short array, not JSON (see hd_lua_post).
 */
#ifndef HD_STORE_REDIS_SCRIPTS_H
#define HD_STORE_REDIS_SCRIPTS_H

/* The scripts are Lua, one C string per line: the formatter leaves them as written. */
/* clang-format off */

/* What every script needs, post included: its arguments, JSON assembly, keys. */
#define HD_LUA_BASE \
    "local P = ARGV[1]\n" \
    "local NOW = tonumber(ARGV[2])\n" \
    "local NOW_ISO = ARGV[3]\n" \
    "local DQ = string.char(34)\n" \
    /* An optional argument: the C side sends '' for NULL. */ \
    "local function arg(i)\n" \
    "  local v = ARGV[i]\n" \
    "  if v == nil or v == '' then return nil end\n" \
    "  return v\n" \
    "end\n" \
    "local function enc(v)\n" \
    "  if v == nil or v == false then return 'null' end\n" \
    "  return cjson.encode(v)\n" \
    "end\n" \
    /* Stored JSON, spliced as it is (never decoded: what was stored is what is returned). */ \
    "local function raw(v)\n" \
    "  if v == nil or v == false or v == '' then return 'null' end\n" \
    "  return v\n" \
    "end\n" \
    /* A JSON object from a flat list of key, encoded value. */ \
    "local function obj(kv)\n" \
    "  local parts = {}\n" \
    "  for i = 1, #kv, 2 do\n" \
    "    parts[#parts + 1] = DQ .. kv[i] .. DQ .. ':' .. kv[i + 1]\n" \
    "  end\n" \
    "  return '{' .. table.concat(parts, ',') .. '}'\n" \
    "end\n" \
    /* The word before the first colon says what a key holds, so no id (ids may hold colons) \
     * can make one kind of key into another. */ \
    "local function key(kind, id) return P .. kind .. ':' .. id end\n" \
    "local QUEUE, OPEN, ORDER = P .. 'queue', P .. 'open', P .. 'order'\n" \
    "local AGENTS, EVENTS = P .. 'agents', P .. 'events'\n" \
    "local function ckey(id) return key('conv', id) end\n" \
    /* The customer the conversation keeps; one stored before it had one: its session. */ \
    "local function customer_of(c)\n" \
    "  if c.customer then return c.customer end\n" \
    "  return obj({'session_id', enc(c.session_id), 'name', 'null', 'email', 'null',\n" \
    "    'fields', 'null'})\n" \
    "end\n" \
    "local function conv_json(id, c)\n" \
    "  local agent = 'null'\n" \
    "  if c.agent_id then agent = obj({'id', enc(c.agent_id), 'name', enc(c.agent_name)}) end\n" \
    "  return obj({'ticket_chat_id', enc(id), 'session_id', enc(c.session_id),\n" \
    "    'dept', enc(c.dept), 'status', enc(c.status), 'agent', agent,\n" \
    "    'created_at', enc(c.created_at), 'queued_at', enc(c.queued_at),\n" \
    "    'last_seq', c.last_seq, 'last_message', raw(c.last_message),\n" \
    "    'first_message', raw(c.first_message),\n" \
    "    'closed_by', enc(c.closed_by), 'reason', enc(c.reason), 'customer', customer_of(c),\n" \
    "    'unread', string.format('%d', tonumber(c.last_seq) - tonumber(c.agent_read or '0'))})\n" \
    "end\n" \
    /* Insertion order: the FIFO queue and newest-first lists, whatever the nodes' clocks say. */ \
    "local function next_order()\n" \
    "  return redis.call('INCR', ORDER)\n" \
    "end\n"

/* Every script but post: the base plus whole conversations, agents and routing. post
 * includes the body (HD_LUA_CONV) only where it routes a conversation it created. */
#define HD_LUA_PRELUDE HD_LUA_BASE HD_LUA_CONV
#define HD_LUA_CONV \
    /* An integer as JSON (string.format, not tostring: without the float formatting). */ \
    "local function int(n) return string.format('%d', n) end\n" \
    "local function arr(items)\n" \
    "  return '[' .. table.concat(items, ',') .. ']'\n" \
    "end\n" \
    "local function reply(status, kv)\n" \
    "  kv = kv or {}\n" \
    "  table.insert(kv, 1, tostring(status))\n" \
    "  table.insert(kv, 1, 'status')\n" \
    "  return obj(kv)\n" \
    "end\n" \
    "local function hash(key)\n" \
    "  local flat = redis.call('HGETALL', key)\n" \
    "  if #flat == 0 then return nil end\n" \
    "  local t = {}\n" \
    "  for i = 1, #flat, 2 do t[flat[i]] = flat[i + 1] end\n" \
    "  return t\n" \
    "end\n" \
    "local function akey(id) return key('agent', id) end\n" \
    "local function inquiry_json(id, c)\n" \
    "  return obj({'ticket_chat_id', enc(id), 'session_id', enc(c.session_id),\n" \
    "    'dept', enc(c.dept), 'first_message', raw(c.first_message),\n" \
    "    'queued_at', enc(c.queued_at), 'customer', customer_of(c)})\n" \
    "end\n" \
    /* A conversation event carries the conversation, plus what the change alone knows. */ \
    "local function with_previous(conv, prev)\n" \
    "  local field = DQ .. 'previous_agent' .. DQ .. ':' .. enc(prev)\n" \
    "  return string.sub(conv, 1, -2) .. ',' .. field .. '}'\n" \
    "end\n" \
    "local function event(kind, data)\n" \
    "  redis.call('XADD', EVENTS, '*', 'type', kind, 'data', data)\n" \
    "end\n" \
    /* Ids ordered as C's strcmp orders them: Lua's < follows the server's locale. */ \
    "local function before(x, y)\n" \
    "  for i = 1, math.min(#x, #y) do\n" \
    "    local a, b = string.byte(x, i), string.byte(y, i)\n" \
    "    if a ~= b then return a < b end\n" \
    "  end\n" \
    "  return #x < #y\n" \
    "end\n" \
    "local function forbidden(c, sess, agent)\n" \
    "  if sess ~= nil and c.session_id ~= sess then return true end\n" \
    "  return agent ~= nil and c.agent_id ~= agent\n" \
    "end\n" \
    /* An agent counts on a node only while that node refreshes its liveness key. Read only: \
     * a node that stalled past its ttl counts again once it refreshes, its agents' sockets \
     * may well still be there (presence.lua prunes instances that are gone). */ \
    "local function agent_alive(aid)\n" \
    "  local nodes = redis.call('HGETALL', key('agent-nodes', aid))\n" \
    "  for i = 1, #nodes, 2 do\n" \
    "    local live = redis.call('EXISTS', key('node', nodes[i])) == 1\n" \
    "    if live and tonumber(nodes[i + 1]) > 0 then return true end\n" \
    "  end\n" \
    "  return false\n" \
    "end\n" \
    "local function agent_available(aid, a)\n" \
    "  return a ~= nil and a.status == 'online' and agent_alive(aid)\n" \
    "end\n" \
    "local function agent_load(aid)\n" \
    "  return redis.call('SCARD', key('agent-open', aid))\n" \
    "end\n" \
    /* An agent without departments serves every one; a conversation without one, any agent. */ \
    "local function dept_match(depts, dept)\n" \
    "  if dept == nil or #depts == 0 then return true end\n" \
    "  for _, d in ipairs(depts) do\n" \
    "    if d == dept then return true end\n" \
    "  end\n" \
    "  return false\n" \
    "end\n" \
    /* The token is the authority on who the agent is: every op given one stores it. A new \
     * agent is online (away is something an agent says) and idle since now. */ \
    "local function agent_upsert(aid, name, depts, max)\n" \
    "  local k = akey(aid)\n" \
    "  if redis.call('EXISTS', k) == 0 then\n" \
    "    redis.call('HSET', k, 'status', 'online', 'idle_since', NOW)\n" \
    "  end\n" \
    "  redis.call('HSET', k, 'depts', depts, 'max_chats', max)\n" \
    "  if name then redis.call('HSET', k, 'name', name) else redis.call('HDEL', k, 'name') end\n" \
    "  redis.call('SADD', AGENTS, aid)\n" \
    "end\n" \
    /* Something happened in the conversation: the inactivity clock restarts. */ \
    "local function touch(id)\n" \
    "  redis.call('HSET', ckey(id), 'last_activity', NOW)\n" \
    "  redis.call('ZADD', OPEN, NOW, id)\n" \
    "end\n" \
    "local function assign(id, c, aid, aname)\n" \
    "  local k = ckey(id)\n" \
    "  redis.call('ZREM', QUEUE, id)\n" \
    "  redis.call('HSET', k, 'status', 'assigned', 'agent_id', aid, 'had_agent', '1')\n" \
    "  if aname then\n" \
    "    redis.call('HSET', k, 'agent_name', aname)\n" \
    "  else\n" \
    "    redis.call('HDEL', k, 'agent_name')\n" \
    "  end\n" \
    "  redis.call('SADD', key('agent-open', aid), id)\n" \
    "  redis.call('ZADD', key('agent-convs', aid), c.order, id)\n" \
    "  redis.call('HSET', akey(aid), 'idle_since', NOW, 'assigned_ever', '1')\n" \
    "  touch(id)\n" \
    "  c.status, c.agent_id, c.agent_name, c.had_agent = 'assigned', aid, aname, '1'\n" \
    "  return conv_json(id, c)\n" \
    "end\n" \
    "local function unassign(id, c)\n" \
    "  if c.agent_id then redis.call('SREM', key('agent-open', c.agent_id), id) end\n" \
    "end\n" \
    "local function enqueue(id, c)\n" \
    "  local k = ckey(id)\n" \
    "  redis.call('ZADD', QUEUE, next_order(), id)\n" \
    "  redis.call('HSET', k, 'status', 'queued', 'queued_at', NOW_ISO)\n" \
    "  redis.call('HDEL', k, 'agent_id', 'agent_name')\n" \
    "  touch(id)\n" \
    "  c.status, c.queued_at, c.agent_id, c.agent_name = 'queued', NOW_ISO, nil, nil\n" \
    "end\n" \
    "local function set_dept(id, c, dept)\n" \
    "  if dept then\n" \
    "    redis.call('HSET', ckey(id), 'dept', dept)\n" \
    "    c.dept = dept\n" \
    "  end\n" \
    "end\n" \
    /* A conversation that never had an agent closes unanswered, whatever the reason given \
     * (one stored before had_agent was: had one if it has one now). */ \
    "local function close_conv(id, c, by, reason)\n" \
    "  if not (c.had_agent or c.agent_id) then reason = 'unanswered' end\n" \
    "  redis.call('HSET', ckey(id), 'status', 'closed', 'closed_by', by)\n" \
    "  if reason then redis.call('HSET', ckey(id), 'reason', reason) end\n" \
    "  redis.call('ZREM', QUEUE, id)\n" \
    "  redis.call('ZREM', OPEN, id)\n" \
    "  unassign(id, c)\n" \
    "  local open_key = key('session-open', c.session_id)\n" \
    "  if redis.call('GET', open_key) == id then redis.call('DEL', open_key) end\n" \
    "  c.status, c.closed_by, c.reason = 'closed', by, reason\n" \
    "  local j = conv_json(id, c)\n" \
    "  event('closed', j)\n" \
    "  return j\n" \
    "end\n" \
    /* The conversation an op names, checked: nil and the error reply when it cannot go on. */ \
    "local function load_checked(id, sess, agent)\n" \
    "  local c = hash(ckey(id))\n" \
    "  if not c then return nil, reply(404) end\n" \
    "  if forbidden(c, sess, agent) then return nil, reply(403) end\n" \
    "  return c\n" \
    "end\n"

/* route_all(max): assigns queued conversations, oldest first, each to the free agent of
 * its department with the fewest open conversations (ties: idle the longest, then the
 * id), until none can be or max are made; answers the assignments as JSON texts. */
#define HD_LUA_ROUTE_ALL \
    "local function route_all(max)\n" \
    "  local PAGE = 64\n" \
    "  local out = {}\n" \
    "  if redis.call('ZCARD', QUEUE) == 0 then return out end\n" \
    "  local free = {}\n" \
    "  for _, aid in ipairs(redis.call('SMEMBERS', AGENTS)) do\n" \
    "    local a = hash(akey(aid))\n" \
    "    if agent_available(aid, a) then\n" \
    "      local open, amax = agent_load(aid), tonumber(a.max_chats)\n" \
    "      if open < amax then\n" \
    "        free[#free + 1] = {id = aid, name = a.name, depts = cjson.decode(a.depts or '[]'),\n" \
    "          open = open, max = amax, idle = tonumber(a.idle_since or '0')}\n" \
    "      end\n" \
    "    end\n" \
    "  end\n" \
    "  local function better(x, y)\n" \
    "    if x.open ~= y.open then return x.open < y.open end\n" \
    "    if x.idle ~= y.idle then return x.idle < y.idle end\n" \
    "    return x.id < y.id\n" \
    "  end\n" \
    "  local function pick(dept)\n" \
    "    local best\n" \
    "    for i, a in ipairs(free) do\n" \
    "      if dept_match(a.depts, dept) and (best == nil or better(a, free[best])) then\n" \
    "        best = i\n" \
    "      end\n" \
    "    end\n" \
    "    return best\n" \
    "  end\n" \
    "  local after = '-inf'\n" \
    "  while #free > 0 and #out < max do\n" \
    "    local page = redis.call('ZRANGEBYSCORE', QUEUE, after, '+inf', 'WITHSCORES',\n" \
    "      'LIMIT', 0, PAGE)\n" \
    "    if #page == 0 then break end\n" \
    "    for i = 1, #page, 2 do\n" \
    "      local id = page[i]\n" \
    "      after = '(' .. page[i + 1]\n" \
    "      local c = hash(ckey(id))\n" \
    "      local k = c and pick(c.dept)\n" \
    "      if not c then\n" \
    "        redis.call('ZREM', QUEUE, id)\n" \
    "      elseif k then\n" \
    "        local a = free[k]\n" \
    "        local j = assign(id, c, a.id, a.name)\n" \
    "        event('assigned', j)\n" \
    "        out[#out + 1] = j\n" \
    "        a.open, a.idle = a.open + 1, NOW\n" \
    "        if a.open >= a.max then table.remove(free, k) end\n" \
    "        if #free == 0 or #out >= max then break end\n" \
    "      end\n" \
    "    end\n" \
    "  end\n" \
    "  return out\n" \
    "end\n"

static const char hd_lua_post[] = HD_LUA_BASE
    /* post: 4 chat id, 5 session id, 6 dept, 7 access session, 8 access agent,
     * 9 client_msg_id, 10 id of a conversation created now, 11 the message as a JSON object
     * without ticket_chat_id, session_id and seq (known only here) and without its closing
     * brace: they are appended, so the message is made as one string; 12 '1': route a
     * conversation created now (auto routing), at most 13 assignments; 14 the deadline in
     * ms on Redis's clock ('' none): a post that starts later stores nothing and answers
     * 503, the answer its node has given up waiting for; 15 the customer object a
     * conversation created now keeps (JSON; '' none: its session and 16, the customer's
     * name, '' none), both sent only by a post that names no conversation; 17 the side
     * whose read seq the post advances, 'agent' or 'customer' ('' neither).
     * Answers {status}, or {200, seq, chat id, session id (false: none), duplicate (0|1),
     * created (0|1), the conversation JSON when created else false, the stored message,
     * the assignments made (a JSON array) or false}: the node built the message, it needs
     * only what it could not know, and the stored text to send on as it is. */
    "local DEADLINE = arg(14)\n"
    "if DEADLINE then\n"
    "  local t = redis.call('TIME')\n"
    "  if tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) > tonumber(DEADLINE) then\n"
    "    return {503}\n"
    "  end\n"
    "end\n"
    "local chat, sess, acc_s, acc_a, cmid = arg(4), arg(5), arg(7), arg(8), arg(9)\n"
    /* now as sent: numbers given to redis.call are formatted with printf. */
    "local NOW_MS = ARGV[2]\n"
    /* Only what a post reads (first_message and last_message are the big fields); a field
     * missing is false. */
    "local function load(id)\n"
    "  local f = redis.call('HMGET', ckey(id), 'status', 'session_id', 'agent_id', 'last_seq')\n"
    "  if not f[1] then return nil end\n"
    "  return {status = f[1], session_id = f[2], agent_id = f[3], last_seq = f[4]}\n"
    "end\n"
    /* A new queued conversation; the message stored next sets last_seq, first_message,
     * last_message, last_activity and its place in hd:open. */
    "local function create(id)\n"
    "  local order = next_order()\n"
    "  local cust = arg(15) or obj({'session_id', enc(sess), 'name', enc(arg(16)),\n"
    "    'email', 'null', 'fields', 'null'})\n"
    "  local c = {session_id = sess, dept = arg(6), status = 'queued', created_at = NOW_ISO,\n"
    "    queued_at = NOW_ISO, last_seq = '0', customer = cust}\n"
    "  redis.call('HSET', ckey(id), 'session_id', sess, 'status', 'queued',\n"
    "    'created_at', NOW_ISO, 'queued_at', NOW_ISO, 'order', order, 'customer', cust)\n"
    "  if c.dept then redis.call('HSET', ckey(id), 'dept', c.dept) end\n"
    "  redis.call('SET', key('session-open', sess), id)\n"
    "  redis.call('ZADD', key('session-convs', sess), order, id)\n"
    "  redis.call('ZADD', QUEUE, order, id)\n"
    "  return c\n"
    "end\n"
    /* Without an id: the session's open conversation, or a new one. Agents must name the
     * conversation (spec §3). */
    "local c, created = nil, 0\n"
    "if chat then\n"
    "  c = load(chat)\n"
    "  if not c then return {404} end\n"
    "else\n"
    "  if not sess or acc_a then return {400} end\n"
    "  if acc_s and acc_s ~= sess then return {403} end\n"
    "  chat = redis.call('GET', key('session-open', sess))\n"
    "  if chat then c = load(chat) end\n"
    "  if not c then\n"
    "    chat = ARGV[10]\n"
    "    if redis.call('EXISTS', ckey(chat)) == 1 then return {400} end\n"
    "    c, created = create(chat), 1\n"
    "  end\n"
    "end\n"
    "if (acc_s and c.session_id ~= acc_s) or (acc_a and c.agent_id ~= acc_a) then\n"
    "  return {403}\n"
    "end\n"
    /* A retry is answered before the closed check: its message was stored before the close. */
    "if cmid then\n"
    "  local seq = redis.call('HGET', key('conv-cmid', chat), cmid)\n"
    "  if seq then\n"
    "    local m = redis.call('LINDEX', key('conv-msgs', chat), tonumber(seq) - 1)\n"
    "    return {200, tonumber(seq), chat, c.session_id, 1, 0, false, m, false}\n"
    "  end\n"
    "end\n"
    "if c.status == 'closed' then return {409} end\n"
    /* string.format, not tostring: an integer, without the float formatting. */
    "local seq = tonumber(c.last_seq) + 1\n"
    "local seq_s = string.format('%d', seq)\n"
    "local msg = ARGV[11] .. ',' .. DQ .. 'ticket_chat_id' .. DQ .. ':' .. enc(chat) ..\n"
    "  ',' .. DQ .. 'session_id' .. DQ .. ':' .. enc(c.session_id) ..\n"
    "  ',' .. DQ .. 'seq' .. DQ .. ':' .. seq_s .. '}'\n"
    "local k = ckey(chat)\n"
    "redis.call('RPUSH', key('conv-msgs', chat), msg)\n"
    "if cmid then redis.call('HSET', key('conv-cmid', chat), cmid, seq_s) end\n"
    /* The poster has read up to its own message: its side's read seq, in the same HSET. */
    "local side = arg(17)\n"
    "if side then\n"
    "  redis.call('HSET', k, 'last_seq', seq_s, 'last_message', msg, 'last_activity', NOW_MS,\n"
    "    side .. '_read', seq_s)\n"
    "else\n"
    "  redis.call('HSET', k, 'last_seq', seq_s, 'last_message', msg, 'last_activity', NOW_MS)\n"
    "end\n"
    "if seq == 1 then redis.call('HSET', k, 'first_message', msg) end\n"
    "redis.call('ZADD', OPEN, NOW_MS, chat)\n"
    "redis.call('XADD', EVENTS, '*', 'type', 'message', 'data', msg)\n"
    "if created == 0 then return {200, seq, chat, c.session_id, 0, 0, false, msg, false} end\n"
    "c.last_seq, c.first_message, c.last_message = seq_s, msg, msg\n"
    "if side then c[side .. '_read'] = seq_s end\n"
    /* Routing's functions are made only here, on the rare post that creates: the first
     * message then reaches an agent who was free live, not from the queue later. A
     * conversation left in the queue is announced there (queued). */
    "do\n"
    HD_LUA_CONV HD_LUA_ROUTE_ALL
    "  local made = false\n"
    "  if ARGV[12] == '1' then\n"
    "    made = arr(route_all(tonumber(ARGV[13])))\n"
    "    c = hash(ckey(chat))\n"
    "  end\n"
    "  if c.status == 'queued' then event('queued', inquiry_json(chat, c)) end\n"
    "  return {200, seq, chat, c.session_id, 0, 1, conv_json(chat, c), msg, made}\n"
    "end\n";

static const char hd_lua_route[] = HD_LUA_PRELUDE HD_LUA_ROUTE_ALL
    /* route: 4 most assignments to make. */
    "return reply(200, {'list', arr(route_all(tonumber(ARGV[4])))})\n";

static const char hd_lua_take[] = HD_LUA_PRELUDE
    /* take: 4 chat id, 5 agent id, 6 agent name, 7 agent departments (JSON array), 8 max_chats.
     * Manual taking ignores away and offline: the agent asked for this conversation itself. */
    "local id, aid, aname, depts, max = ARGV[4], ARGV[5], arg(6), ARGV[7], tonumber(ARGV[8])\n"
    "local c = hash(ckey(id))\n"
    "if not c then return reply(404) end\n"
    "if c.status ~= 'queued' then return reply(409, {'conversation', conv_json(id, c)}) end\n"
    "agent_upsert(aid, aname, depts, max)\n"
    "if not dept_match(cjson.decode(depts), c.dept) or agent_load(aid) >= max then\n"
    "  return reply(403)\n"
    "end\n"
    "local j = assign(id, c, aid, aname)\n"
    "event('assigned', j)\n"
    "return reply(200, {'conversation', j})\n";

static const char hd_lua_transfer[] = HD_LUA_PRELUDE
    /* transfer: 4 chat id, 5 access session, 6 access agent, 7 target agent, 8 dept.
     * A queued conversation moves too (to an agent, or to the back of the queue). An agent
     * transferring to itself keeps its slot, so only another agent's room is checked. */
    "local id, to, dept = ARGV[4], arg(7), arg(8)\n"
    "local c, err = load_checked(id, arg(5), arg(6))\n"
    "if not c then return err end\n"
    "if c.status == 'closed' then return reply(409) end\n"
    "local prev = c.agent_id\n"
    "local a = to and hash(akey(to))\n"
    "if to and not agent_available(to, a) then return reply(403) end\n"
    "if to and to ~= prev and agent_load(to) >= tonumber(a.max_chats) then return reply(403) end\n"
    "unassign(id, c)\n"
    "set_dept(id, c, dept)\n"
    "if to then assign(id, c, to, a.name) else enqueue(id, c) end\n"
    "local j = conv_json(id, c)\n"
    "event('transferred', with_previous(j, prev))\n"
    "if not to then event('queued', inquiry_json(id, c)) end\n"
    "return reply(200, {'conversation', j, 'previous_agent', enc(prev)})\n";

static const char hd_lua_close[] = HD_LUA_PRELUDE
    /* close: 4 chat id, 5 access session, 6 access agent, 7 by, 8 reason. */
    "local id = ARGV[4]\n"
    "local c, err = load_checked(id, arg(5), arg(6))\n"
    "if not c then return err end\n"
    "if c.status == 'closed' then return reply(409) end\n"
    "local prev = c.agent_id\n"
    "local j = close_conv(id, c, ARGV[7], arg(8))\n"
    "return reply(200, {'conversation', j, 'previous_agent', enc(prev)})\n";

static const char hd_lua_history[] = HD_LUA_PRELUDE
    /* history: 4 chat id, 5 access session, 6 access agent, 7 after_seq, 8 limit. */
    "local id = ARGV[4]\n"
    "local c, err = load_checked(id, arg(5), arg(6))\n"
    "if not c then return err end\n"
    "local last = tonumber(c.last_seq)\n"
    "local after = math.max(0, math.min(tonumber(ARGV[7]), last))\n"
    "local limit = math.min(tonumber(ARGV[8]), last - after)\n"
    "local list = {}\n"
    "if limit > 0 then\n"
    "  list = redis.call('LRANGE', key('conv-msgs', id), after, after + limit - 1)\n"
    "end\n"
    "return reply(200, {'list', arr(list), 'conversation', conv_json(id, c)})\n";

static const char hd_lua_conversations[] = HD_LUA_PRELUDE
    /* conversations: 4 session id, 5 agent id, 6 open_only ('1' or '0'). */
    "local sess, aid, open_only = arg(4), arg(5), ARGV[6] == '1'\n"
    "local ids\n"
    "if sess then\n"
    "  ids = redis.call('ZREVRANGE', key('session-convs', sess), 0, -1)\n"
    "elseif aid then\n"
    "  ids = redis.call('ZREVRANGE', key('agent-convs', aid), 0, -1)\n"
    "elseif open_only then\n"
    /* Neither: every open conversation, newest first as the others (by creation order). */
    "  local open = {}\n"
    "  for _, id in ipairs(redis.call('ZRANGE', OPEN, 0, -1)) do\n"
    "    local c = hash(ckey(id))\n"
    "    if c and c.status ~= 'closed' then\n"
    "      open[#open + 1] = {order = tonumber(c.order or '0'), json = conv_json(id, c)}\n"
    "    end\n"
    "  end\n"
    "  table.sort(open, function(x, y) return x.order > y.order end)\n"
    "  local out = {}\n"
    "  for i, e in ipairs(open) do out[i] = e.json end\n"
    "  return reply(200, {'list', arr(out)})\n"
    "else\n"
    "  return reply(400)\n"
    "end\n"
    "local out = {}\n"
    "for _, id in ipairs(ids) do\n"
    "  local c = hash(ckey(id))\n"
    "  local wanted = not (open_only and c and c.status == 'closed')\n"
    "  if c and wanted and (aid == nil or c.agent_id == aid) then\n"
    "    out[#out + 1] = conv_json(id, c)\n"
    "  end\n"
    "end\n"
    "return reply(200, {'list', arr(out)})\n";

static const char hd_lua_inquiries[] = HD_LUA_PRELUDE
    /* inquiries: no arguments. */
    "local out = {}\n"
    "for _, id in ipairs(redis.call('ZRANGE', QUEUE, 0, -1)) do\n"
    "  local c = hash(ckey(id))\n"
    "  if c then out[#out + 1] = inquiry_json(id, c) end\n"
    "end\n"
    "return reply(200, {'list', arr(out)})\n";

static const char hd_lua_presence[] = HD_LUA_PRELUDE
    /* presence: 4 agent id, 5 name, 6 departments (JSON array), 7 max_chats, 8 delta,
     * 9 online (1, 0 or -1: unchanged), 10 this node's presence key, 11 its ttl (ms).
     * Idle time counts from becoming available until the agent's first assignment. */
    "local aid, delta, online, node = ARGV[4], tonumber(ARGV[8]), tonumber(ARGV[9]), ARGV[10]\n"
    "local k = akey(aid)\n"
    /* The counts of instances gone silent (a node killed, or restarted: a new instance) go
     * when the agent's presence changes, so that they do not pile up. */
    "local function prune_nodes()\n"
    "  local nodes = redis.call('HKEYS', key('agent-nodes', aid))\n"
    "  for _, n in ipairs(nodes) do\n"
    "    if redis.call('EXISTS', key('node', n)) == 0 then\n"
    "      redis.call('HDEL', key('agent-nodes', aid), n)\n"
    "    end\n"
    "  end\n"
    "end\n"
    "redis.call('SET', key('node', node), '1', 'PX', ARGV[11])\n"
    "local was = agent_available(aid, hash(k))\n"
    "agent_upsert(aid, arg(5), ARGV[6], ARGV[7])\n"
    "if online == 1 then redis.call('HSET', k, 'status', 'online') end\n"
    "if online == 0 then redis.call('HSET', k, 'status', 'away') end\n"
    "prune_nodes()\n"
    "if redis.call('HINCRBY', key('agent-nodes', aid), node, delta) <= 0 then\n"
    "  redis.call('HDEL', key('agent-nodes', aid), node)\n"
    "end\n"
    "local a = hash(k)\n"
    "if not was and not a.assigned_ever and agent_available(aid, a) then\n"
    "  redis.call('HSET', k, 'idle_since', NOW)\n"
    "end\n"
    "return reply(200)\n";

static const char hd_lua_sweep[] = HD_LUA_PRELUDE
    /* sweep: 4 inactivity timeout (ms), 5 most conversations to close. */
    "local cutoff = string.format('%d', NOW - tonumber(ARGV[4]))\n"
    "local ids = redis.call('ZRANGEBYSCORE', OPEN, '-inf', '(' .. cutoff,\n"
    "  'LIMIT', 0, tonumber(ARGV[5]))\n"
    "local out = {}\n"
    "for _, id in ipairs(ids) do\n"
    "  local c = hash(ckey(id))\n"
    "  if c and c.status ~= 'closed' then\n"
    "    out[#out + 1] = close_conv(id, c, 'system', 'inactive')\n"
    "  else\n"
    "    redis.call('ZREM', OPEN, id)\n"
    "  end\n"
    "end\n"
    "return reply(200, {'list', arr(out)})\n";

static const char hd_lua_read[] = HD_LUA_PRELUDE
    /* read: 4 chat id, 5 access session, 6 access agent, 7 reader ('agent' or 'customer'),
     * 8 seq. The read seq only grows, and never past last_seq. */
    "local id, sess, aid, reader = ARGV[4], arg(5), arg(6), ARGV[7]\n"
    "local c, err = load_checked(id, sess, aid)\n"
    "if not c then return err end\n"
    "if (reader == 'agent' and sess) or (reader == 'customer' and aid) then return reply(403) end\n"
    "local f = reader .. '_read'\n"
    "local upto = math.min(tonumber(ARGV[8]), tonumber(c.last_seq))\n"
    "if upto > tonumber(c[f] or '0') then\n"
    "  c[f] = int(upto)\n"
    "  redis.call('HSET', ckey(id), f, c[f])\n"
    "end\n"
    "return reply(200, {'conversation', conv_json(id, c)})\n";

static const char hd_lua_agents[] = HD_LUA_PRELUDE
    /* agents: no arguments. */
    "local ids = redis.call('SMEMBERS', AGENTS)\n"
    "table.sort(ids, before)\n"
    "local out = {}\n"
    "for _, aid in ipairs(ids) do\n"
    "  local a = hash(akey(aid))\n"
    "  if a then\n"
    "    out[#out + 1] = obj({'id', enc(aid), 'name', enc(a.name), 'dept', a.depts or '[]',\n"
    "      'status', enc(a.status), 'online', tostring(agent_alive(aid)),\n"
    "      'open_chats', int(agent_load(aid)), 'max_chats', int(tonumber(a.max_chats))})\n"
    "  end\n"
    "end\n"
    "return reply(200, {'list', arr(out)})\n";

/* The agents available (online and connected) as {depts (a table), ...}. */
#define HD_LUA_AVAILABLE \
    "local function available_agents()\n" \
    "  local out = {}\n" \
    "  for _, aid in ipairs(redis.call('SMEMBERS', AGENTS)) do\n" \
    "    local a = hash(akey(aid))\n" \
    "    if a then\n" \
    "      out[#out + 1] = {depts = cjson.decode(a.depts or '[]'),\n" \
    "        available = agent_available(aid, a)}\n" \
    "    end\n" \
    "  end\n" \
    "  return out\n" \
    "end\n"

static const char hd_lua_departments[] = HD_LUA_PRELUDE HD_LUA_AVAILABLE
    /* departments: no arguments. An agent without departments counts in each. */
    "local counts, names, everywhere = {}, {}, 0\n"
    "local function dept(name)\n"
    "  local e = counts[name]\n"
    "  if not e then\n"
    "    e = {online = 0, queued = 0}\n"
    "    counts[name] = e\n"
    "    names[#names + 1] = name\n"
    "  end\n"
    "  return e\n"
    "end\n"
    "for _, a in ipairs(available_agents()) do\n"
    "  for _, name in ipairs(a.depts) do\n"
    "    local e = dept(name)\n"
    "    if a.available then e.online = e.online + 1 end\n"
    "  end\n"
    "  if a.available and #a.depts == 0 then everywhere = everywhere + 1 end\n"
    "end\n"
    "for _, id in ipairs(redis.call('ZRANGE', QUEUE, 0, -1)) do\n"
    "  local name = redis.call('HGET', ckey(id), 'dept')\n"
    "  if name then\n"
    "    local e = dept(name)\n"
    "    e.queued = e.queued + 1\n"
    "  end\n"
    "end\n"
    "table.sort(names, before)\n"
    "local out = {}\n"
    "for i, name in ipairs(names) do\n"
    "  local e = counts[name]\n"
    "  out[i] = obj({'dept', enc(name), 'agents_online', int(e.online + everywhere),\n"
    "    'queue_length', int(e.queued)})\n"
    "end\n"
    "return reply(200, {'list', arr(out)})\n";

static const char hd_lua_queue_status[] = HD_LUA_PRELUDE HD_LUA_AVAILABLE
    /* queue_status: 4 dept ('' every one). */
    "local want = arg(4)\n"
    "local online, queued = 0, 0\n"
    "for _, a in ipairs(available_agents()) do\n"
    "  if a.available and dept_match(a.depts, want) then online = online + 1 end\n"
    "end\n"
    "if want then\n"
    "  for _, id in ipairs(redis.call('ZRANGE', QUEUE, 0, -1)) do\n"
    "    if redis.call('HGET', ckey(id), 'dept') == want then queued = queued + 1 end\n"
    "  end\n"
    "else\n"
    "  queued = redis.call('ZCARD', QUEUE)\n"
    "end\n"
    "return reply(200, {'conversation', obj({'agents_online', int(online),\n"
    "  'queue_length', int(queued)})})\n";

static const char hd_lua_visitor[] = HD_LUA_PRELUDE
    /* visitor: 4 session id, 5 the record (JSON, as the node normalized it), 6 ttl (ms). */
    "redis.call('SET', key('visitor', ARGV[4]), ARGV[5], 'PX', ARGV[6])\n"
    "event('visitor', ARGV[5])\n"
    "return reply(200, {'conversation', ARGV[5]})\n";

typedef enum hd_script_id {
    HD_SCRIPT_POST,
    HD_SCRIPT_ROUTE,
    HD_SCRIPT_TAKE,
    HD_SCRIPT_TRANSFER,
    HD_SCRIPT_CLOSE,
    HD_SCRIPT_HISTORY,
    HD_SCRIPT_CONVERSATIONS,
    HD_SCRIPT_INQUIRIES,
    HD_SCRIPT_PRESENCE,
    HD_SCRIPT_SWEEP,
    HD_SCRIPT_READ,
    HD_SCRIPT_AGENTS,
    HD_SCRIPT_DEPARTMENTS,
    HD_SCRIPT_QUEUE_STATUS,
    HD_SCRIPT_VISITOR,
    HD_SCRIPT_COUNT
} hd_script_id;

typedef struct hd_script {
    const char *name; /* for logs */
    const char *body;
} hd_script;

static const hd_script hd_scripts[HD_SCRIPT_COUNT] = {
    [HD_SCRIPT_POST] = {"post", hd_lua_post},
    [HD_SCRIPT_ROUTE] = {"route", hd_lua_route},
    [HD_SCRIPT_TAKE] = {"take", hd_lua_take},
    [HD_SCRIPT_TRANSFER] = {"transfer", hd_lua_transfer},
    [HD_SCRIPT_CLOSE] = {"close", hd_lua_close},
    [HD_SCRIPT_HISTORY] = {"history", hd_lua_history},
    [HD_SCRIPT_CONVERSATIONS] = {"conversations", hd_lua_conversations},
    [HD_SCRIPT_INQUIRIES] = {"inquiries", hd_lua_inquiries},
    [HD_SCRIPT_PRESENCE] = {"presence", hd_lua_presence},
    [HD_SCRIPT_SWEEP] = {"sweep", hd_lua_sweep},
    [HD_SCRIPT_READ] = {"read", hd_lua_read},
    [HD_SCRIPT_AGENTS] = {"agents", hd_lua_agents},
    [HD_SCRIPT_DEPARTMENTS] = {"departments", hd_lua_departments},
    [HD_SCRIPT_QUEUE_STATUS] = {"queue_status", hd_lua_queue_status},
    [HD_SCRIPT_VISITOR] = {"visitor", hd_lua_visitor},
};

/* clang-format on */

#endif
