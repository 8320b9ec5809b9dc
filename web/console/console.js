/* Switchboard agent console: a single page that speaks the helpdesk contract
 * (namespace /helpdesk) to the relay that serves it. No framework, no build step.
 * Every piece of data is put in the page with textContent, never as HTML. */
"use strict";

(() => {
  const ORIGIN = location.origin;
  const API = ORIGIN + "/api/v1/helpdesk";
  const TOKEN_KEY = "switchboard:console:token";
  const STATUS_KEY = "switchboard:console:status";
  const SELECTED_KEY = "switchboard:console:selected";
  const BASE_TITLE = "Console";
  const PAGE = 50;                 // history page size
  const ENDED_KEEP = 20;           // ended conversations kept in the sidebar
  const TYPING_SEND_EVERY = 2000;  // at most one typing:true per 2 s
  const TYPING_IDLE = 3000;        // typing:false after 3 s without a key
  const TYPING_SHOW = 6000;        // hide the customer's typing after 6 s without news
  const QUEUE_POLL = 30000;        // the queue again, a safety net (inquiry / inquiry_removed keep it)
  const TEAM_POLL = 5000;          // supervisors: the team and every open conversation
  const CHATS_POLL = 30000;        // agents: the list again, a safety net (moves are announced: transferred)
  const TARGETS_POLL = 5000;       // agents: the transfer targets, while a conversation is open
  const WATCH_POLL = 3000;         // supervisors: a conversation they are not in the room of

  const $ = (id) => document.getElementById(id);

  /* ---------------------------------------------------------------- state */

  const state = {
    token: null,
    me: null,               // { id, name, role, dept: [] }
    socket: null,
    convs: new Map(),       // ticket_chat_id -> conversation (see newConv)
    queue: new Map(),       // ticket_chat_id -> inquiry
    selected: null,         // ticket_chat_id shown in the center
    agents: [],             // GET /agents/ (may be refused)
    depts: [],              // GET /departments/
    chatAgent: new Map(),   // supervisors: ticket_chat_id -> agent {id, name}
    status: "online",
    alerts: 0,              // title flash counter
    audio: null,
    lastBeep: 0,
    timers: [],
    connectedOnce: false,
    typingOut: { chat: null, last: 0, idle: 0 },
    closing: new Set(),     // ticket_chat_ids this page is closing
    taking: new Set(),      // ticket_chat_ids this page is taking (no "new conversation" alert)
    syncing: false,
  };

  const receiptEl = document.createElement("div");
  receiptEl.className = "receipt";

  const isSupervisor = () => state.me && state.me.role === "supervisor";

  function newConv(id) {
    return {
      id,
      status: "assigned",
      customer: null,
      dept: null,
      agent: null,
      lastMessage: null,
      lastSeq: 0,
      unread: 0,
      updated: 0,
      mine: !isSupervisor(),
      ended: false,
      endedNote: "",
      stub: false,
      msgs: new Map(),        // id -> message
      pending: new Map(),     // client_msg_id -> { cmid, text, state, error, el, tries }
      loaded: false,          // the last page was read once
      loadingOlder: false,
      customerRead: 0,
      sentReads: new Set(),   // seqs this page sent as `read` (their echo is ours, not the customer's)
      readSent: 0,
      typing: false,
      typingTimer: 0,
    };
  }

  /* ---------------------------------------------------------------- utilities */

  function store(key, value) {
    try {
      if (value == null) sessionStorage.removeItem(key);
      else sessionStorage.setItem(key, value);
    } catch (_) { /* storage may be off */ }
  }

  function load(key) {
    try { return sessionStorage.getItem(key); } catch (_) { return null; }
  }

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    return e;
  }

  function decodeJwt(token) {
    const parts = String(token).split(".");
    if (parts.length !== 3) return null;
    try {
      let b64 = parts[1].replace(/-/g, "+").replace(/_/g, "/");
      while (b64.length % 4) b64 += "=";
      const bin = atob(b64);
      const bytes = Uint8Array.from(bin, (c) => c.charCodeAt(0));
      const claims = JSON.parse(new TextDecoder().decode(bytes));
      return claims && typeof claims === "object" ? claims : null;
    } catch (_) {
      return null;
    }
  }

  function uuid() {
    if (window.crypto && typeof crypto.randomUUID === "function") return crypto.randomUUID();
    const b = new Uint8Array(16);
    crypto.getRandomValues(b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }

  function hue(s) {
    let h = 0;
    for (const ch of String(s || "")) h = (h * 31 + ch.codePointAt(0)) % 360;
    return h;
  }

  function initials(name) {
    const words = String(name || "?").trim().split(/\s+/).filter(Boolean);
    const first = words[0] ? Array.from(words[0])[0] : "?";
    const last = words.length > 1 ? Array.from(words[words.length - 1])[0] : "";
    const second = /\p{L}/u.test(last) ? last : "";
    return (first + second).toUpperCase();
  }

  function paintAvatar(node, name, key) {
    node.textContent = initials(name);
    node.style.setProperty("--hue", String(hue(key || name)));
  }

  function customerName(customer, fallbackSession) {
    const c = customer || {};
    if (c.name) return String(c.name);
    if (c.email) return String(c.email);
    const sid = String(c.session_id || fallbackSession || "");
    if (!sid) return "Visitor";
    let h = 0;
    for (const ch of sid) h = (h * 33 + ch.codePointAt(0)) % 9000;
    return `Visitor ${1000 + h}`;
  }

  const timeFmt = new Intl.DateTimeFormat(undefined, { hour: "numeric", minute: "2-digit" });
  const dayFmt = new Intl.DateTimeFormat(undefined, { weekday: "short" });
  const dateFmt = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric" });
  const fullFmt = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

  function parseTime(iso) {
    const t = Date.parse(iso);
    return Number.isFinite(t) ? t : 0;
  }

  function shortTime(ms) {
    if (!ms) return "";
    const d = new Date(ms);
    const now = new Date();
    if (d.toDateString() === now.toDateString()) return timeFmt.format(d);
    if (now - d < 6 * 86400e3) return dayFmt.format(d);
    return dateFmt.format(d);
  }

  function waitText(ms) {
    const s = Math.max(0, Math.floor((Date.now() - ms) / 1000));
    if (s < 60) return { short: "now", long: "waiting less than a minute" };
    const m = Math.floor(s / 60);
    if (m < 60) return { short: `${m}m`, long: `waiting ${m} minute${m === 1 ? "" : "s"}` };
    const h = Math.floor(m / 60);
    return { short: `${h}h ${m % 60}m`, long: `waiting ${h} hour${h === 1 ? "" : "s"} ${m % 60} minutes` };
  }

  function preview(m) {
    if (!m) return "";
    let text = typeof m === "string" ? m : m.message || "";
    if (!text && m.attachment && typeof m.attachment === "object") text = `📎 ${m.attachment.name || "Attachment"}`;
    return String(text).replace(/\s+/g, " ").trim();
  }

  function safeUrl(u) {
    try {
      const url = new URL(String(u), ORIGIN);
      return url.protocol === "https:" || url.protocol === "http:" ? url.href : null;
    } catch (_) {
      return null;
    }
  }

  /* Said to screen readers only (the list and the title already show it). */
  function announce(text) {
    const a = $("announcer");
    a.textContent = "";
    setTimeout(() => { a.textContent = text; }, 50);
  }

  function toast(text, kind) {
    const box = $("toasts");
    const t = el("div", "toast" + (kind ? ` toast-${kind}` : ""), text);
    box.appendChild(t);
    setTimeout(() => t.classList.add("toast-out"), 3800);
    setTimeout(() => t.remove(), 4300);
  }

  function wide() {
    return window.matchMedia("(min-width: 768px)").matches;
  }

  /* ---------------------------------------------------------------- attention: title + beep */

  function unlockAudio() {
    try {
      if (!state.audio) {
        const AC = window.AudioContext || window.webkitAudioContext;
        if (AC) state.audio = new AC();
      } else if (state.audio.state === "suspended") {
        state.audio.resume().catch(() => {});
      }
    } catch (_) {
      state.audio = null;
    }
  }

  function beep() {
    try {
      const ctx = state.audio;
      const now = Date.now();
      if (!ctx || ctx.state !== "running" || now - state.lastBeep < 1500) return;
      state.lastBeep = now;
      const osc = ctx.createOscillator();
      const gain = ctx.createGain();
      osc.type = "sine";
      osc.frequency.value = 880;
      const t = ctx.currentTime;
      gain.gain.setValueAtTime(0.0001, t);
      gain.gain.exponentialRampToValueAtTime(0.08, t + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, t + 0.22);
      osc.connect(gain).connect(ctx.destination);
      osc.start(t);
      osc.stop(t + 0.25);
    } catch (_) { /* never throws */ }
  }

  function alertUser() {
    state.alerts += 1;
    document.title = `(${state.alerts}) New message – ${BASE_TITLE}`;
    beep();
  }

  function clearAlerts() {
    if (!state.alerts) return;
    state.alerts = 0;
    document.title = BASE_TITLE;
  }

  /* ---------------------------------------------------------------- REST */

  async function api(path) {
    let res;
    try {
      res = await fetch(API + path, {
        headers: { Authorization: `Bearer ${state.token}`, Accept: "application/json" },
        cache: "no-store",
      });
    } catch (_) {
      return { ok: false, status: 0, data: null };
    }
    let body = null;
    try { body = await res.json(); } catch (_) { body = null; }
    if (res.status === 401) expired("Your session has expired. Sign in again.");
    return { ok: res.ok, status: res.status, data: body && "data" in body ? body.data : body, body };
  }

  function emitAck(event, payload, ms = 10000) {
    return new Promise((resolve) => {
      const s = state.socket;
      if (!s || !s.connected) {
        resolve({ status_code: 0, error: { code: "offline", message: "Not connected" } });
        return;
      }
      s.timeout(ms).emit(event, payload, (err, res) => {
        if (err) {
          resolve({ status_code: 0, error: { code: "timeout", message: "No answer from the server" } });
          return;
        }
        if (res && res.status_code === 401) expired("Your session has expired. Sign in again.");
        resolve(res && typeof res === "object" ? res : { status_code: 0, error: { message: "Bad answer" } });
      });
    });
  }

  function errText(res, fallback) {
    const e = res && res.error;
    return (e && (e.message || e.code)) || fallback;
  }

  /* ---------------------------------------------------------------- sign in / out */

  function showSignin(notice, error) {
    $("app").hidden = true;
    $("signin").hidden = false;
    const n = $("signin-notice");
    n.textContent = notice || "";
    n.hidden = !notice;
    $("signin-error").textContent = error || "";
    $("token-input").setAttribute("aria-invalid", error ? "true" : "false");
    document.title = BASE_TITLE;
    setTimeout(() => $("token-input").focus(), 0);
  }

  function meFromToken(token) {
    const c = decodeJwt(token);
    if (!c || typeof c.sub !== "string" || !c.sub) return null;
    const role = c.role === "supervisor" ? "supervisor" : c.role === "agent" ? "agent" : c.role;
    return {
      id: c.sub,
      name: typeof c.name === "string" && c.name ? c.name : c.sub,
      role,
      dept: Array.isArray(c.dept) ? c.dept.map(String) : [],
      exp: typeof c.exp === "number" ? c.exp : 0,
    };
  }

  function signIn(token) {
    const me = meFromToken(token);
    if (!me) {
      showSignin(null, "That does not look like a token (three base64url parts).");
      return false;
    }
    if (me.role !== "agent" && me.role !== "supervisor") {
      showSignin(null, "This token is not an agent's or a supervisor's.");
      return false;
    }
    if (me.exp && me.exp * 1000 < Date.now()) {
      store(TOKEN_KEY, null);
      showSignin(null, "This token has expired.");
      return false;
    }
    state.token = token;
    state.me = me;
    store(TOKEN_KEY, token);
    start();
    return true;
  }

  async function demoSignIn(params) {
    const body = { id: params.get("demo"), role: params.get("role") || "agent" };
    body.name = params.get("name") || body.id;
    const dept = params.get("dept");
    if (dept) body.dept = dept.split(",").map((d) => d.trim()).filter(Boolean);
    let res;
    try {
      res = await fetch(ORIGIN + "/demo/token", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body),
      });
    } catch (_) {
      showSignin("Could not reach the server for a demo token.");
      return;
    }
    if (res.status === 404) {
      showSignin("Demo mode is off on this server: paste a token to sign in.");
      return;
    }
    let data = null;
    try { data = await res.json(); } catch (_) { data = null; }
    const token = data && (data.token || (data.data && data.data.token));
    if (!res.ok || !token) {
      showSignin(`The demo sign-in failed (${res.status}): paste a token instead.`);
      return;
    }
    history.replaceState(null, "", location.pathname + location.search);
    signIn(token);
  }

  function stop() {
    for (const t of state.timers) clearInterval(t);
    state.timers = [];
    if (state.socket) {
      state.socket.removeAllListeners();
      state.socket.io.removeAllListeners();
      state.socket.disconnect();
      state.socket = null;
    }
    state.convs.clear();
    state.queue.clear();
    state.chatAgent.clear();
    state.agents = [];
    state.depts = [];
    state.selected = null;
    state.connectedOnce = false;
    state.reopened = false;
    $("queue").textContent = "";
    $("chats").textContent = "";
    $("ended").textContent = "";
    $("team").textContent = "";
    $("message-list").textContent = "";
  }

  function signOut() {
    stop();
    store(TOKEN_KEY, null);
    store(STATUS_KEY, null);
    store(SELECTED_KEY, null);
    state.token = null;
    state.me = null;
    $("token-input").value = "";
    showSignin("You are signed out.");
  }

  let expiring = false;
  function expired(message) {
    if (expiring || !state.token) return;
    expiring = true;
    stop();
    store(TOKEN_KEY, null);
    state.token = null;
    state.me = null;
    showSignin(null, message);
    expiring = false;
  }

  /* ---------------------------------------------------------------- start */

  function start() {
    const me = state.me;
    $("signin").hidden = true;
    $("app").hidden = false;
    document.body.dataset.view = "list";
    document.body.classList.toggle("is-supervisor", isSupervisor());
    $("me-name").textContent = me.name;
    $("me-role").textContent = isSupervisor() ? "Supervisor" : me.dept.length ? `Agent · ${me.dept.join(", ")}` : "Agent";
    paintAvatar($("me-avatar"), me.name, me.id);
    $("chats-title").textContent = isSupervisor() ? "All conversations" : "My conversations";
    $("team-section").hidden = !isSupervisor();
    $("status-wrap").hidden = isSupervisor();
    state.status = load(STATUS_KEY) === "away" ? "away" : "online";
    renderStatus();
    renderQueue();
    renderChats();
    showPlaceholder();
    connect();
    state.timers.push(setInterval(refreshQueue, QUEUE_POLL));
    state.timers.push(setInterval(tickWaits, 15000));
    if (isSupervisor()) {
      state.timers.push(setInterval(supervisorTick, TEAM_POLL));
      state.timers.push(setInterval(watchSelected, WATCH_POLL));
    } else {
      state.timers.push(setInterval(() => {
        if (state.socket && state.socket.connected) refreshChats();
      }, CHATS_POLL));
      // The transfer list while a conversation is open (agents come and go).
      state.timers.push(setInterval(() => {
        const conv = selectedConv();
        if (conv && canWrite(conv) && document.visibilityState === "visible") refreshTargets();
      }, TARGETS_POLL));
    }
  }

  /* ---------------------------------------------------------------- socket */

  function resumeMap() {
    const out = {};
    let n = 0;
    for (const c of state.convs.values()) {
      if (c.ended || !c.mine || !c.lastSeq || n >= 32) continue;
      out[c.id] = maxSeq(c) || c.lastSeq;
      n += 1;
    }
    return out;
  }

  function setConnection(kind) {
    const node = $("connection");
    node.dataset.state = kind;
    node.textContent = kind === "connected" ? "Connected" : kind === "reconnecting" ? "Reconnecting…" : "Connecting…";
    document.body.classList.toggle("is-offline", kind !== "connected");
  }

  function connect() {
    if (typeof window.io !== "function") {
      setConnection("reconnecting");
      toast("The socket.io client did not load: reload the page.", "error");
      return;
    }
    setConnection("connecting");
    const socket = window.io(ORIGIN + "/helpdesk", {
      auth: (cb) => cb({ token: state.token, resume: resumeMap() }),
    });
    state.socket = socket;

    socket.on("connect", () => {
      setConnection("connected");
      state.connectedOnce = true;
      sync();
    });
    socket.on("disconnect", (reason) => {
      setConnection("reconnecting");
      if (reason === "io server disconnect") setTimeout(() => socket.connect(), 1000);
    });
    socket.on("connect_error", (err) => {
      const code = err && err.data && err.data.code;
      if (code) {
        const why = code === "token_expired" ? "Your session has expired. Sign in again."
          : `The relay refused this token (${code}).`;
        expired(why);
        return;
      }
      setConnection("reconnecting");
    });

    socket.on("support", onSupport);
    socket.on("typing", onTyping);
    socket.on("read", onRead);
    socket.on("inquiry", onInquiry);
    socket.on("assigned", onAssigned);
    socket.on("closed", onClosed);
    socket.on("transferred", onTransferred);
    socket.on("inquiry_removed", onInquiryRemoved);
  }

  /* Everything the page shows, read again: on every (re)connect. */
  async function sync() {
    if (state.syncing) {
      state.syncAgain = true;
      return;
    }
    state.syncing = true;
    state.syncAgain = false;
    try {
      if (!isSupervisor() && state.status === "away") {
        await emitAck("status", { status: "away" });
      }
      await Promise.all([refreshChats(), refreshQueue(), isSupervisor() ? supervisorTick() : refreshTargets()]);
      for (const conv of state.convs.values()) {
        if (conv.ended) continue;
        for (const p of conv.pending.values()) {
          if (p.state !== "failed" && p.state !== "sending") sendPending(conv, p);
        }
      }
      const conv = selectedConv();
      if (conv && !conv.ended) {
        if (!conv.loaded) await loadLatest(conv);
        else await catchUp(conv);
        markRead(conv);
      }
    } finally {
      state.syncing = false;
    }
    if (state.syncAgain && state.socket && state.socket.connected) sync();
  }

  async function refreshChats() {
    const res = await emitAck("chats", {});
    if (res.status_code !== 200 || !Array.isArray(res.data)) return;
    const seen = new Set();
    for (const entry of res.data) {
      if (!entry || !entry.ticket_chat_id) continue;
      seen.add(entry.ticket_chat_id);
      const conv = ensureConv(entry.ticket_chat_id);
      conv.status = entry.status || conv.status;
      if (entry.customer) conv.customer = entry.customer;
      conv.ended = false;
      conv.stub = false;
      if (!isSupervisor()) {
        conv.mine = true;
        conv.agent = { id: state.me.id, name: state.me.name };
      }
      if (typeof entry.last_seq === "number") {
        conv.lastSeq = Math.max(conv.lastSeq, entry.last_seq);
      }
      if (entry.last_message && (!conv.lastMessage || entry.last_message.seq >= conv.lastMessage.seq)) {
        conv.lastMessage = entry.last_message;
        conv.updated = parseTime(entry.last_message.created_at) || conv.updated;
      }
      if (typeof entry.unread === "number") {
        const visible = isVisible(conv);
        conv.unread = visible ? 0 : Math.max(0, entry.unread);
      }
      const agent = state.chatAgent.get(conv.id);
      if (agent) conv.agent = agent;
    }
    // Open here but not in the answer: transferred away (by a supervisor or the backend,
    // which the previous agent is not told about) or gone with a restarted relay.
    for (const conv of Array.from(state.convs.values())) {
      if (conv.ended || seen.has(conv.id) || conv.stub) continue;
      if (isSupervisor() && conv.status === "queued" && state.queue.has(conv.id)) continue;
      if (conv.id === state.selected) leaveConv(conv, "This conversation is no longer assigned to you.");
      else state.convs.delete(conv.id);
    }
    renderChats();
    if (state.selected) renderHeader();
    // After a reload: the conversation that was open (where the list stays in view).
    const again = load(SELECTED_KEY);
    if (!state.selected && again && state.convs.has(again) && !state.reopened && wide()) openConv(again);
    state.reopened = true;
  }

  /* ---------------------------------------------------------------- conversations */

  function ensureConv(id) {
    let conv = state.convs.get(id);
    if (!conv) {
      conv = newConv(id);
      state.convs.set(id, conv);
    }
    return conv;
  }

  function selectedConv() {
    return state.selected ? state.convs.get(state.selected) || null : null;
  }

  function isVisible(conv) {
    return (
      conv.id === state.selected &&
      document.visibilityState === "visible" &&
      (wide() || document.body.dataset.view !== "list")
    );
  }

  function maxSeq(conv) {
    let m = 0;
    for (const msg of conv.msgs.values()) if (msg.seq > m) m = msg.seq;
    return m;
  }

  function minSeq(conv) {
    let m = 0;
    for (const msg of conv.msgs.values()) if (!m || msg.seq < m) m = msg.seq;
    return m;
  }

  function canWrite(conv) {
    return conv && !conv.ended && conv.status !== "closed" && (conv.mine || isSupervisor());
  }

  /* A message from the relay (live, backlog, resume, history, or the ack of our own). */
  function addMessage(conv, m, live) {
    if (!m || !m.id || typeof m.seq !== "number") return false;
    if (m.client_msg_id && conv.pending.has(m.client_msg_id)) {
      const p = conv.pending.get(m.client_msg_id);
      conv.pending.delete(m.client_msg_id);
      if (p.el) p.el.remove();
    }
    if (conv.msgs.has(m.id)) return false;
    const before = maxSeq(conv);
    conv.msgs.set(m.id, m);
    const fresh = m.seq > conv.lastSeq;
    if (m.seq >= conv.lastSeq || !conv.lastMessage || m.seq >= (conv.lastMessage.seq || 0)) {
      conv.lastMessage = m;
      conv.updated = parseTime(m.created_at) || Date.now();
    }
    if (fresh) conv.lastSeq = m.seq;
    const sender = m.sender || {};
    if (sender.type === "customer") {
      if (conv.typing) setTyping(conv, false);
      if (fresh && live) {
        if (isVisible(conv)) {
          markRead(conv);
        } else if (!conv.stub) {
          conv.unread += 1;
          if (conv.mine) alertUser();
        } else {
          conv.unread += 1;
        }
      }
    } else if (sender.type === "agent" && state.me && sender.id === state.me.id && fresh) {
      conv.unread = 0;
    }
    if (conv.id === state.selected && (conv.loaded || live)) {
      const box = $("messages");
      const nearBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 120;
      insertMessage(conv, m);
      const mineNow = sender.type === "agent" && state.me && sender.id === state.me.id;
      if (live && (nearBottom || mineNow)) scrollToBottom();
      else if (live && m.seq > before) $("jump").hidden = false;
      updateReceipt(conv);
      updateOlder(conv);
    }
    if (live && conv.loaded && before && m.seq > before + 1) catchUp(conv, before);
    return true;
  }

  function onSupport(body) {
    if (!body || typeof body !== "object") return;
    if (body.status_code !== 200) {
      const cmid = body.client_msg_id;
      if (!cmid) return;
      for (const conv of state.convs.values()) {
        const p = conv.pending.get(cmid);
        if (p) {
          p.state = "failed";
          p.error = errText(body, "Not sent");
          renderPending(conv, p);
        }
      }
      return;
    }
    const m = body.data;
    if (!m || !m.ticket_chat_id) return;
    let conv = state.convs.get(m.ticket_chat_id);
    if (!conv) {
      conv = ensureConv(m.ticket_chat_id);
      conv.stub = true;
      scheduleChats();
    }
    addMessage(conv, m, true);
    renderChats();
  }

  let chatsTimer = 0;
  function scheduleChats() {
    clearTimeout(chatsTimer);
    chatsTimer = setTimeout(refreshChats, 400);
  }

  function onTyping(body) {
    if (!body || !body.ticket_chat_id) return;
    const conv = state.convs.get(body.ticket_chat_id);
    if (!conv || conv.ended) return;
    setTyping(conv, !!body.typing);
  }

  function setTyping(conv, on) {
    clearTimeout(conv.typingTimer);
    conv.typing = on;
    if (on) conv.typingTimer = setTimeout(() => setTyping(conv, false), TYPING_SHOW);
    if (conv.id === state.selected) renderTyping(conv);
    updateChatItem(conv);
  }

  function onRead(body) {
    if (!body || !body.ticket_chat_id || typeof body.seq !== "number") return;
    const conv = state.convs.get(body.ticket_chat_id);
    if (!conv) return;
    const by = body.by && typeof body.by === "object" ? body.by : null;
    if (by) {
      // The relay says who read: only the customer's reads make "Seen".
      conv.sentReads.delete(body.seq);
      if (by.type !== "customer") return;
    } else if (conv.sentReads.has(body.seq)) {
      conv.sentReads.delete(body.seq);  // our own read, echoed by the chat room (older relays)
      return;
    }
    if (body.seq > conv.customerRead) {
      conv.customerRead = body.seq;
      if (conv.id === state.selected) updateReceipt(conv);
    }
  }

  function onInquiry(q) {
    if (!q || !q.ticket_chat_id) return;
    const conv = state.convs.get(q.ticket_chat_id);
    if (conv && !conv.ended && conv.mine && !isSupervisor()) {
      // Announced again: it went back to the queue (transferred to a department).
      leaveConv(conv, `${customerName(conv.customer)} went back to the queue.`);
    }
    if (!servesDept(q.dept)) return;
    const isNew = !state.queue.has(q.ticket_chat_id);
    state.queue.set(q.ticket_chat_id, q);
    renderQueue();
    // Auto routing announces a conversation it assigns at once, and inquiry_removed follows
    // right behind: only one still waiting is worth a sound.
    if (isNew) setTimeout(() => { if (state.queue.has(q.ticket_chat_id)) beep(); }, 500);
    if (isSupervisor()) scheduleTeam();
  }

  function servesDept(dept) {
    if (isSupervisor() || !dept || !state.me.dept.length) return true;
    return state.me.dept.includes(dept);
  }

  function onAssigned(a) {
    if (!a || !a.ticket_chat_id) return;
    const id = a.ticket_chat_id;
    const agent = a.agent || null;
    if (state.queue.delete(id)) renderQueue();
    const meId = state.me.id;
    if (agent && agent.id === meId) {
      const had = state.convs.get(id);
      const isNew = !had || had.ended || had.stub || !had.mine;
      const conv = ensureConv(id);
      conv.mine = true;
      conv.ended = false;
      conv.stub = false;
      conv.status = "assigned";
      conv.agent = agent;
      if (a.customer) conv.customer = a.customer;
      if (typeof a.last_seq === "number") {
        conv.lastSeq = Math.max(conv.lastSeq, a.last_seq);
        if (isNew) conv.unread = Math.max(conv.unread, a.last_seq - conv.readSent);
      }
      if (!conv.updated) conv.updated = Date.now();
      if (isNew && !state.taking.has(id)) {
        if (isVisible(conv)) conv.unread = 0;
        else alertUser();
        announce(`New conversation with ${customerName(conv.customer)}`);
        conv.fresh = true;
        if (!conv.lastMessage) scheduleChats();
      }
      renderChats();
      if (conv.id === state.selected) {
        renderHeader();
        renderInfo();
      }
    } else {
      const conv = state.convs.get(id);
      if (!conv) return;
      conv.agent = agent;
      conv.status = "assigned";
      if (isSupervisor()) {
        if (agent) state.chatAgent.set(id, agent);
        renderChats();
        if (conv.id === state.selected) { renderHeader(); renderInfo(); }
        return;
      }
      if (conv.mine) leaveConv(conv, `${agent && agent.name ? agent.name : "Another agent"} now handles this conversation.`);
    }
    if (isSupervisor()) scheduleTeam();
  }

  /* A queued conversation left the queue (assigned to someone, or closed while waiting). */
  function onInquiryRemoved(i) {
    if (i && i.ticket_chat_id && state.queue.delete(i.ticket_chat_id)) renderQueue();
  }

  /* A conversation moved away from an agent, whoever moved it (a supervisor, the backend, a
   * transfer to a department): {ticket_chat_id, from, agent, dept}. */
  function onTransferred(t) {
    if (!t || !t.ticket_chat_id) return;
    const conv = state.convs.get(t.ticket_chat_id);
    if (isSupervisor()) {
      if (conv) {
        conv.agent = t.agent || null;
        conv.status = t.agent ? "assigned" : "queued";
        if (t.agent) state.chatAgent.set(conv.id, t.agent);
        else state.chatAgent.delete(conv.id);
        renderChats();
        if (conv.id === state.selected) { renderHeader(); renderInfo(); }
      }
      scheduleTeam();
      return;
    }
    if (!conv || !conv.mine || t.from !== state.me.id || (t.agent && t.agent.id === state.me.id)) return;
    const to = t.agent ? (t.agent.name || t.agent.id) : t.dept ? `the ${t.dept} queue` : "the queue";
    leaveConv(conv, `Transferred to ${to}.`);
  }

  function onClosed(c) {
    if (!c || !c.ticket_chat_id) return;
    if (state.queue.delete(c.ticket_chat_id)) renderQueue();
    const conv = state.convs.get(c.ticket_chat_id);
    const mine = c.by === "agent" && state.closing.has(c.ticket_chat_id);
    if (conv && !conv.ended) endConv(conv, mine ? "You resolved this conversation." : closedText(c));
    if (isSupervisor()) scheduleTeam();
  }

  function closedText(c) {
    if (c.reason === "unanswered") return "Closed before anyone answered.";
    switch (c.by) {
      case "customer": return "The customer ended the conversation.";
      case "agent": return "Resolved by an agent.";
      case "backend": return "Closed by the helpdesk.";
      case "system": return "Closed after a period of inactivity.";
      default: return "This conversation has ended.";
    }
  }

  /* The conversation ended: it moves to "Ended", read-only. */
  function endConv(conv, note) {
    conv.ended = true;
    conv.status = "closed";
    conv.endedNote = note;
    conv.unread = 0;
    conv.endedAt = Date.now();
    setTyping(conv, false);
    for (const p of conv.pending.values()) {
      if (p.state !== "failed") { p.state = "failed"; p.error = "Conversation ended"; renderPending(conv, p); }
    }
    const ended = Array.from(state.convs.values()).filter((c) => c.ended).sort((x, y) => y.endedAt - x.endedAt);
    for (const old of ended.slice(ENDED_KEEP)) if (old.id !== state.selected) state.convs.delete(old.id);
    renderChats();
    if (conv.id === state.selected) {
      renderHeader();
      renderComposer();
      renderInfo();
    }
  }

  /* The conversation is no longer ours (transferred away). */
  function leaveConv(conv, note) {
    state.convs.delete(conv.id);
    renderChats();
    if (conv.id === state.selected) {
      state.selected = null;
      store(SELECTED_KEY, null);
      showPlaceholder(note);
      document.body.dataset.view = "list";
    }
    toast(note);
  }

  /* ---------------------------------------------------------------- history */

  async function readHistory(conv, after, limit) {
    const res = await emitAck("history", { ticket_chat_id: conv.id, after_seq: after, limit });
    if (res.status_code !== 200 || !Array.isArray(res.data)) return null;
    return res.data;
  }

  function loadLatest(conv) {
    if (!conv.latest) conv.latest = readLatest(conv).finally(() => { conv.latest = null; });
    return conv.latest;
  }

  async function readLatest(conv) {
    const after = Math.max(0, (conv.lastSeq || 0) - PAGE);
    const list = await readHistory(conv, after, PAGE);
    if (!list) {
      if (conv.id === state.selected) $("older-note").textContent = "Could not load the messages.";
      return;
    }
    conv.loaded = true;
    if (conv.id === state.selected) bulkInsert(conv, list, true);
    else for (const m of list) addMessage(conv, m, false);
  }

  /* What came after `from` (default: the newest we have), read from the store: after a
   * reconnect, a gap in the seqs, or (supervisors) a conversation they watch. */
  async function catchUp(conv, from) {
    if (conv.catching) {
      conv.catchFrom = Math.min(conv.catchFrom || Infinity, from == null ? maxSeq(conv) : from);
      return;
    }
    conv.catching = true;
    try {
      let after = from == null ? maxSeq(conv) : from;
      for (let round = 0; round < 10; round++) {
        const list = await readHistory(conv, after, 200);
        if (!list || !list.length) break;
        for (const m of list) addMessage(conv, m, true);
        after = list[list.length - 1].seq;
        if (list.length < 200) break;
      }
      renderChats();
    } finally {
      conv.catching = false;
    }
    if (conv.catchFrom != null) {
      const again = conv.catchFrom;
      conv.catchFrom = null;
      await catchUp(conv, again);
    }
  }

  async function loadOlder() {
    const conv = selectedConv();
    if (!conv || conv.loadingOlder || !conv.loaded) return;
    const first = minSeq(conv);
    if (!first || first <= 1) return;
    const after = Math.max(0, first - 1 - PAGE);
    const limit = first - 1 - after;
    conv.loadingOlder = true;
    $("older").classList.add("loading");
    try {
      const list = await readHistory(conv, after, limit);
      if (!list || conv.id !== state.selected) return;
      const box = $("messages");
      const h = box.scrollHeight;
      const top = box.scrollTop;
      bulkInsert(conv, list, false);
      box.scrollTop = top + (box.scrollHeight - h);
    } finally {
      conv.loadingOlder = false;
      $("older").classList.remove("loading");
    }
  }

  /* Many messages at once (a page of history): the log is not announced for them. */
  function bulkInsert(conv, list, toBottom) {
    const log = $("messages");
    log.setAttribute("aria-live", "off");
    for (const m of list) addMessage(conv, m, false);
    if (conv.id === state.selected) {
      for (const m of list) {
        if (conv.msgs.get(m.id) && !document.querySelector(`#message-list [data-id="${CSS.escape(m.id)}"]`)) {
          insertMessage(conv, conv.msgs.get(m.id));
        }
      }
      updateReceipt(conv);
      updateOlder(conv);
      if (toBottom) scrollToBottom();
    }
    requestAnimationFrame(() => log.setAttribute("aria-live", "polite"));
    renderChats();
  }

  /* ---------------------------------------------------------------- reading */

  function markRead(conv) {
    if (!conv || conv.ended || !conv.mine || !isVisible(conv)) return;
    let seq = 0;
    for (const m of conv.msgs.values()) {
      if (m.sender && m.sender.type === "customer" && m.seq > seq) seq = m.seq;
    }
    if (conv.unread) {
      conv.unread = 0;
      updateChatItem(conv);
    }
    if (!seq || seq <= conv.readSent || !state.socket || !state.socket.connected) return;
    conv.readSent = seq;
    conv.sentReads.add(seq);
    state.socket.emit("read", { ticket_chat_id: conv.id, seq }, () => {});
  }

  /* ---------------------------------------------------------------- queue */

  async function refreshQueue() {
    if (!state.token) return;
    const res = await api("/inquiries/");
    if (!res.ok || !Array.isArray(res.data)) return;
    const next = new Map();
    for (const q of res.data) {
      if (!q || !q.ticket_chat_id || !servesDept(q.dept)) continue;
      const conv = state.convs.get(q.ticket_chat_id);
      if (conv && conv.mine && !conv.ended && !isSupervisor()) continue;
      next.set(q.ticket_chat_id, q);
    }
    let changed = next.size !== state.queue.size;
    if (!changed) for (const id of next.keys()) if (!state.queue.has(id)) { changed = true; break; }
    state.queue = next;
    if (changed) renderQueue();
  }

  async function take(id, button) {
    button.disabled = true;
    button.textContent = "Taking…";
    state.taking.add(id);
    const res = await emitAck("take", { ticket_chat_id: id });
    setTimeout(() => state.taking.delete(id), 2000);
    if (res.status_code === 200) {
      state.queue.delete(id);
      const data = res.data || {};
      const conv = ensureConv(id);
      conv.mine = true;
      conv.ended = false;
      conv.stub = false;
      conv.status = "assigned";
      if (data.customer) conv.customer = data.customer;
      if (data.dept) conv.dept = data.dept;
      if (data.agent) conv.agent = data.agent;
      if (typeof data.last_seq === "number") conv.lastSeq = Math.max(conv.lastSeq, data.last_seq);
      if (data.last_message && !conv.lastMessage) conv.lastMessage = data.last_message;
      if (!conv.updated) conv.updated = parseTime(data.last_message && data.last_message.created_at) || Date.now();
      renderQueue();
      renderChats();
      openConv(id);
      return;
    }
    if (res.status_code === 409) {
      state.queue.delete(id);
      renderQueue();
      toast("Another agent took it.");
      return;
    }
    button.disabled = false;
    button.textContent = "Take";
    toast(`Could not take it: ${errText(res, "try again")}`, "error");
  }

  function tickWaits() {
    for (const node of document.querySelectorAll("#queue .wait")) {
      const w = waitText(Number(node.dataset.since));
      node.textContent = w.short;
      node.setAttribute("aria-label", w.long);
    }
  }

  /* ---------------------------------------------------------------- team (supervisors), targets */

  let teamTimer = 0;
  function scheduleTeam() {
    clearTimeout(teamTimer);
    teamTimer = setTimeout(supervisorTick, 800);
  }

  async function supervisorTick() {
    if (!isSupervisor() || !state.token) return;
    await refreshTargets();
    const busy = state.agents.filter((a) => a.open_chats > 0).slice(0, 25);
    const lists = await Promise.all(busy.map((a) => api(`/agents/${encodeURIComponent(a.id)}/conversations/`)));
    const map = new Map();
    lists.forEach((res, i) => {
      if (!res.ok || !Array.isArray(res.data)) return;
      for (const c of res.data) if (c && c.ticket_chat_id) map.set(c.ticket_chat_id, c.agent || { id: busy[i].id, name: busy[i].name });
    });
    state.chatAgent = map;
    if (state.socket && state.socket.connected) await refreshChats();
    for (const conv of state.convs.values()) {
      if (!conv.ended && map.has(conv.id)) conv.agent = map.get(conv.id);
      conv.mine = !!(conv.agent && conv.agent.id === state.me.id);
    }
    renderChats();
    if (state.selected) { renderHeader(); renderInfo(); }
  }

  async function refreshTargets() {
    if (!state.token) return;
    const [agents, depts] = await Promise.all([api("/agents/"), api("/departments/")]);
    if (agents.ok && Array.isArray(agents.data)) state.agents = agents.data;
    if (depts.ok && Array.isArray(depts.data)) state.depts = depts.data;
    if (!isSupervisor() && agents.ok) {
      const self = state.agents.find((a) => a.id === state.me.id);
      if (self && self.status && load(STATUS_KEY) == null && self.status !== state.status) {
        state.status = self.status === "away" ? "away" : "online";
        renderStatus();
      }
    }
    renderTeam();
    renderTargets();
  }

  function agentState(a) {
    if (!a.online) return "offline";
    return a.status === "away" ? "away" : "online";
  }

  function renderTeam() {
    if (!isSupervisor()) return;
    const list = $("team");
    list.textContent = "";
    $("team-count").textContent = String(state.agents.length);
    for (const a of state.agents) {
      const st = agentState(a);
      const li = el("li", "team-agent");
      li.dataset.testid = "team-agent";
      li.dataset.agent = a.id;
      li.dataset.state = st;
      const av = el("span", "avatar avatar-sm");
      av.setAttribute("aria-hidden", "true");
      paintAvatar(av, a.name || a.id, a.id);
      const dot = el("span", `presence presence-${st}`);
      dot.setAttribute("aria-hidden", "true");
      av.appendChild(dot);
      const body = el("span", "team-body");
      const name = el("span", "team-name", a.name || a.id);
      const sub = el("span", "team-sub", st === "online" ? "Online" : st === "away" ? "Away" : "Offline");
      if (Array.isArray(a.dept) && a.dept.length) sub.textContent += ` · ${a.dept.join(", ")}`;
      body.append(name, sub);
      const load = el("span", "team-load");
      const max = Number(a.max_chats) || 0;
      const open = Number(a.open_chats) || 0;
      const lt = el("span", "team-load-text", `${open}/${max}`);
      const bar = el("span", "team-bar");
      const fill = el("span", "team-bar-fill");
      fill.style.setProperty("--fill", String(max ? Math.min(1, open / max) : 0));
      bar.appendChild(fill);
      bar.setAttribute("aria-hidden", "true");
      lt.setAttribute("aria-hidden", "true");
      load.append(lt, bar, el("span", "visually-hidden", `${open} of ${max} conversations`));
      li.append(av, body, load);
      list.appendChild(li);
    }
  }

  /* The transfer targets, updated in place (options are added, renamed or removed, never
   * rebuilt), so a list the user has open does not jump under the pointer. */
  function renderTargets() {
    const sel = $("transfer-select");
    const conv = selectedConv();
    const current = conv && conv.agent ? conv.agent.id : null;
    const agents = state.agents
      .filter((a) => a && a.id && a.id !== state.me.id && a.id !== current)
      .map((a) => {
        const st = agentState(a);
        return { value: `agent:${a.id}`, text: `${a.name || a.id} — ${st}`, state: st };
      });
    const depts = state.depts
      .filter((d) => d && d.dept)
      .map((d) => ({ value: `dept:${d.dept}`, text: `${d.dept} — ${Number(d.agents_online) || 0} online` }));
    if (!sel.options.length || sel.options[0].value !== "") sel.prepend(new Option("Transfer to…", ""));
    syncGroup(sel, "Agents", agents);
    syncGroup(sel, "Departments", depts);
    $("transfer-go").disabled = !sel.value;
  }

  function syncGroup(sel, label, items) {
    let g = Array.from(sel.querySelectorAll("optgroup")).find((x) => x.label === label);
    if (!items.length) {
      if (g) g.remove();
      return;
    }
    if (!g) {
      g = document.createElement("optgroup");
      g.label = label;
      if (label === "Agents") sel.insertBefore(g, sel.querySelector("optgroup"));
      else sel.appendChild(g);
    }
    const want = new Map(items.map((i) => [i.value, i]));
    for (const o of Array.from(g.children)) if (!want.has(o.value)) o.remove();
    const have = new Map(Array.from(g.children).map((o) => [o.value, o]));
    for (const item of items) {
      let o = have.get(item.value);
      if (!o) {
        o = new Option(item.text, item.value);
        g.appendChild(o);
      } else if (o.textContent !== item.text) {
        o.textContent = item.text;
      }
      if (item.state) o.dataset.state = item.state;
    }
  }

  async function transfer() {
    const conv = selectedConv();
    const sel = $("transfer-select");
    const value = sel.value;
    if (!conv || !value) return;
    const payload = { ticket_chat_id: conv.id };
    const label = sel.selectedOptions[0] ? sel.selectedOptions[0].textContent.split(" — ")[0] : value;
    if (value.startsWith("agent:")) payload.agent_id = value.slice(6);
    else if (value.startsWith("dept:")) payload.dept = value.slice(5);
    else return;
    const go = $("transfer-go");
    go.disabled = true;
    const res = await emitAck("transfer", payload);
    sel.value = "";
    if (res.status_code !== 200) {
      go.disabled = false;
      toast(`Transfer failed: ${errText(res, "try again")}`, "error");
      return;
    }
    const data = res.data || {};
    const agent = data.agent || null;
    if (isSupervisor()) {
      conv.agent = agent;
      if (data.status) conv.status = data.status;
      if (agent) state.chatAgent.set(conv.id, agent);
      else state.chatAgent.delete(conv.id);
      toast(`Transferred to ${agent && agent.name ? agent.name : label}.`);
      renderChats();
      renderHeader();
      renderInfo();
      scheduleTeam();
      return;
    }
    if (agent && agent.id === state.me.id) {
      toast("The department sent it back to you.");
      return;
    }
    leaveConv(conv, `Transferred to ${agent && agent.name ? agent.name : label}.`);
  }

  async function closeConv() {
    const conv = selectedConv();
    if (!conv || conv.ended) return;
    const btn = $("close-conv");
    btn.disabled = true;
    state.closing.add(conv.id);
    const res = await emitAck("close", { ticket_chat_id: conv.id });
    state.closing.delete(conv.id);
    btn.disabled = false;
    if (res.status_code === 200 || res.status_code === 409) {
      if (!conv.ended) endConv(conv, "You resolved this conversation.");
      else conv.endedNote = conv.endedNote || "You resolved this conversation.";
      if (conv.id === state.selected) renderComposer();
      return;
    }
    toast(`Could not close it: ${errText(res, "try again")}`, "error");
  }

  async function setStatus(value) {
    const prev = state.status;
    state.status = value;
    renderStatus();
    const res = await emitAck("status", { status: value });
    if (res.status_code !== 200) {
      state.status = prev;
      renderStatus();
      toast(`Could not change your status: ${errText(res, "try again")}`, "error");
      return;
    }
    store(STATUS_KEY, value);
    toast(value === "away" ? "You are away: no new conversations." : "You are online.");
  }

  function renderStatus() {
    const sel = $("status-select");
    sel.value = state.status;
    $("status-wrap").dataset.state = state.status;
  }

  /* ---------------------------------------------------------------- watching (supervisors) */

  async function watchSelected() {
    const conv = selectedConv();
    if (!conv || conv.ended || !conv.loaded || (conv.mine && !isSupervisor())) return;
    if (!state.socket || !state.socket.connected) return;
    await catchUp(conv);
  }

  /* ---------------------------------------------------------------- rendering: lists */

  function renderQueue() {
    const list = $("queue");
    const focusedChat = document.activeElement && document.activeElement.closest
      ? (document.activeElement.closest("[data-chat]") || {}).dataset : null;
    list.textContent = "";
    const items = Array.from(state.queue.values()).sort(
      (a, b) => parseTime(a.queued_at) - parseTime(b.queued_at),
    );
    for (const q of items) {
      const li = el("li", "queue-item");
      li.dataset.testid = "queue-item";
      li.dataset.chat = q.ticket_chat_id;
      const name = customerName(q.customer, q.session_id);
      const top = el("div", "item-top");
      const av = el("span", "avatar avatar-sm");
      av.setAttribute("aria-hidden", "true");
      paintAvatar(av, name, q.session_id);
      const nm = el("span", "item-name", name);
      const since = parseTime(q.queued_at) || Date.now();
      const w = waitText(since);
      const wait = el("span", "wait", w.short);
      wait.dataset.since = String(since);
      wait.setAttribute("aria-label", w.long);
      top.append(av, nm, wait);
      const msg = el("p", "queue-msg", preview(q.first_message) || "(no message)");
      const actions = el("div", "queue-actions");
      if (q.dept) actions.appendChild(el("span", "tag", q.dept));
      actions.appendChild(el("span", "spacer"));
      if (isSupervisor()) {
        const view = el("button", "btn btn-secondary btn-sm", "View");
        view.type = "button";
        view.setAttribute("aria-label", `View the conversation with ${name}`);
        view.addEventListener("click", () => {
          const conv = ensureConv(q.ticket_chat_id);
          conv.status = "queued";
          conv.mine = false;
          if (q.customer) conv.customer = q.customer;
          if (q.dept) conv.dept = q.dept;
          const fm = q.first_message;
          if (fm && typeof fm === "object" && typeof fm.seq === "number") conv.lastSeq = Math.max(conv.lastSeq, fm.seq);
          openConv(q.ticket_chat_id);
        });
        actions.appendChild(view);
      } else {
        const btn = el("button", "btn btn-primary btn-sm", "Take");
        btn.type = "button";
        btn.dataset.testid = "queue-take";
        btn.setAttribute("aria-label", `Take the conversation with ${name}`);
        btn.addEventListener("click", () => take(q.ticket_chat_id, btn));
        actions.appendChild(btn);
      }
      li.append(top, msg, actions);
      list.appendChild(li);
    }
    $("queue-count").textContent = String(items.length);
    $("queue-count").setAttribute("aria-label", `${items.length} waiting`);
    $("queue-count").dataset.zero = items.length ? "false" : "true";
    $("queue-empty").hidden = items.length > 0;
    if (focusedChat && focusedChat.chat) {
      const again = list.querySelector(`[data-chat="${CSS.escape(focusedChat.chat)}"] button`);
      if (again) again.focus();
    }
  }

  function chatOrder() {
    return Array.from(state.convs.values())
      .filter((c) => !c.ended)
      .sort((a, b) => b.updated - a.updated || (b.lastSeq - a.lastSeq));
  }

  function renderChats() {
    const list = $("chats");
    const active = document.activeElement;
    const open = chatOrder();
    const wanted = open.map((c) => chatItem(c));
    const current = Array.from(list.children);
    const same = current.length === wanted.length && current.every((li, i) => li === wanted[i]);
    if (!same) {
      list.textContent = "";
      for (const li of wanted) list.appendChild(li);
    }
    for (const c of open) updateChatItem(c);
    $("chats-count").textContent = String(open.length);
    $("chats-empty").hidden = open.length > 0;

    const ended = Array.from(state.convs.values()).filter((c) => c.ended).sort((a, b) => b.endedAt - a.endedAt);
    const elist = $("ended");
    elist.textContent = "";
    for (const c of ended) {
      const li = chatItem(c);
      elist.appendChild(li);
      updateChatItem(c);
    }
    $("ended-section").hidden = ended.length === 0;
    if (active && active !== document.activeElement && active.isConnected) active.focus();
    renderAttention();
  }

  const itemCache = new WeakMap();
  function chatItem(conv) {
    let li = itemCache.get(conv);
    if (li) return li;
    li = el("li", "chat-li");
    const b = el("button", "chat-item");
    b.type = "button";
    b.dataset.chat = conv.id;
    const av = el("span", "avatar");
    av.setAttribute("aria-hidden", "true");
    const body = el("span", "item-body");
    const top = el("span", "item-top");
    const name = el("span", "item-name");
    const who = el("span", "item-agent");
    const time = el("span", "item-time");
    top.append(name, who, time);
    const bottom = el("span", "item-bottom");
    const pv = el("span", "item-preview");
    const badge = el("span", "badge");
    badge.dataset.testid = "chat-unread";
    const sr = el("span", "visually-hidden");
    bottom.append(pv, badge, sr);
    body.append(top, bottom);
    b.append(av, body);
    b.addEventListener("click", () => openConv(conv.id));
    li.appendChild(b);
    li.parts = { b, av, name, who, time, pv, badge, sr };
    itemCache.set(conv, li);
    return li;
  }

  function updateChatItem(conv) {
    const li = itemCache.get(conv);
    if (!li) return;
    const p = li.parts;
    p.b.dataset.testid = conv.ended ? "ended-item" : "chat-item";
    const name = customerName(conv.customer);
    paintAvatar(p.av, name, conv.customer && conv.customer.session_id);
    p.name.textContent = name;
    p.time.textContent = shortTime(conv.updated);
    let text;
    if (conv.typing && !conv.ended) text = "typing…";
    else {
      text = preview(conv.lastMessage);
      const s = conv.lastMessage && conv.lastMessage.sender;
      if (text && s && s.type !== "customer") {
        text = (s.id === state.me.id ? "You: " : `${s.name || s.type}: `) + text;
      }
    }
    let who = "";
    if (isSupervisor() && !conv.ended) {
      who = conv.status === "queued" ? "Waiting" : conv.agent ? (conv.mine ? "You" : conv.agent.name || conv.agent.id) : "";
    }
    p.who.textContent = who.split(/\s+/)[0];
    p.who.title = who;
    p.who.hidden = !who;
    p.pv.textContent = text || (conv.ended ? conv.endedNote : "");
    p.pv.classList.toggle("is-typing", !!conv.typing && !conv.ended);
    const n = conv.ended ? 0 : conv.unread;
    p.badge.textContent = n > 0 ? (n > 99 ? "99+" : String(n)) : "";
    p.badge.hidden = !(n > 0);
    p.sr.textContent = n > 0 ? ` unread messages` : "";
    p.b.classList.toggle("has-unread", n > 0);
    if (conv.fresh) {
      conv.fresh = false;
      p.b.classList.remove("is-new");
      void p.b.offsetWidth; // restart the highlight
      p.b.classList.add("is-new");
    }
    const sel = conv.id === state.selected;
    p.b.classList.toggle("is-selected", sel);
    if (sel) p.b.setAttribute("aria-current", "true");
    else p.b.removeAttribute("aria-current");
  }

  function renderAttention() {
    let total = 0;
    for (const c of state.convs.values()) if (!c.ended) total += c.unread;
    document.body.classList.toggle("has-unread", total > 0);
  }

  /* ---------------------------------------------------------------- rendering: the conversation */

  function showPlaceholder(text) {
    $("conversation").hidden = true;
    $("conversation").removeAttribute("data-chat");
    $("placeholder").hidden = false;
    $("placeholder-text").textContent = text || "Pick a conversation on the left, or take one from the queue.";
    $("info-body").textContent = "";
    $("info-body").appendChild(el("p", "empty-note", "Details of the selected conversation’s customer appear here."));
    for (const c of state.convs.values()) updateChatItem(c);
  }

  async function openConv(id) {
    const conv = state.convs.get(id);
    if (!conv) return;
    const prev = state.selected;
    if (prev && prev !== id) stopTypingOut();
    state.selected = id;
    store(SELECTED_KEY, id);
    const section = $("conversation");
    section.hidden = false;
    section.dataset.chat = id;
    $("placeholder").hidden = true;
    document.body.dataset.view = "chat";
    document.body.classList.remove("info-open");
    $("info-toggle").setAttribute("aria-expanded", "false");
    $("jump").hidden = true;
    renderHeader();
    renderInfo();
    renderComposer();
    renderTyping(conv);
    renderTargets();
    if (canWrite(conv)) refreshTargets();
    for (const c of state.convs.values()) updateChatItem(c);

    const log = $("messages");
    const list = $("message-list");
    log.setAttribute("aria-live", "off");
    receiptEl.hidden = true;
    log.appendChild(receiptEl);
    list.textContent = "";
    const msgs = Array.from(conv.msgs.values()).sort((a, b) => a.seq - b.seq);
    for (const m of msgs) insertMessage(conv, m);
    for (const p of conv.pending.values()) renderPending(conv, p);
    updateReceipt(conv);
    updateOlder(conv);
    scrollToBottom();
    requestAnimationFrame(() => log.setAttribute("aria-live", "polite"));

    if (wide() && canWrite(conv)) $("composer-input").focus({ preventScroll: true });
    else $("conv-name").focus({ preventScroll: true });

    if (!conv.loaded) await loadLatest(conv);
    else if (!conv.ended && (!conv.mine || isSupervisor())) await catchUp(conv);
    if (state.selected === id) {
      markRead(conv);
      renderChats();
    }
  }

  function renderHeader() {
    const conv = selectedConv();
    if (!conv) return;
    const name = customerName(conv.customer);
    paintAvatar($("conv-avatar"), name, conv.customer && conv.customer.session_id);
    $("conv-name").textContent = name;
    let sub;
    if (conv.ended) sub = "Ended";
    else if (conv.status === "queued") sub = "Waiting in the queue";
    else if (isSupervisor()) sub = conv.agent ? `Assigned to ${conv.mine ? "you" : conv.agent.name || conv.agent.id}` : "Open";
    else sub = conv.customer && conv.customer.email ? conv.customer.email : "Open";
    $("conv-sub").textContent = sub;
    const writable = canWrite(conv);
    $("transfer").hidden = !writable;
    $("close-conv").hidden = conv.ended;
    renderTargets();
  }

  function renderComposer() {
    const conv = selectedConv();
    if (!conv) return;
    const ended = conv.ended;
    $("composer").hidden = ended || !canWrite(conv);
    const banner = $("ended-banner");
    banner.hidden = !ended;
    banner.textContent = ended ? `${conv.endedNote || "This conversation has ended."} It is read-only.` : "";
    $("close-conv").hidden = ended;
    $("transfer").hidden = ended || !canWrite(conv);
    if (ended) $("typing").hidden = true;
  }

  function renderTyping(conv) {
    const t = $("typing");
    const on = conv && conv.typing && !conv.ended;
    t.hidden = !on;
    t.textContent = on ? `${customerName(conv.customer)} is typing…` : "";
  }

  function renderInfo() {
    const conv = selectedConv();
    const box = $("info-body");
    box.textContent = "";
    if (!conv) return;
    const c = conv.customer || {};
    const name = customerName(c);
    const card = el("div", "info-card");
    const av = el("span", "avatar avatar-lg");
    av.setAttribute("aria-hidden", "true");
    paintAvatar(av, name, c.session_id);
    const h = el("h3", "info-name", name);
    card.append(av, h);
    if (c.email) card.appendChild(el("p", "info-email", String(c.email)));
    box.appendChild(card);

    const dl = el("dl", "info-list");
    const row = (label, value, opts = {}) => {
      if (value == null || value === "") return;
      const dt = el("dt", null, label);
      const dd = el("dd");
      if (opts.href) {
        const a = el("a", null, String(value));
        a.href = opts.href;
        dd.appendChild(a);
      } else if (opts.code) {
        dd.appendChild(el("code", null, String(value)));
      } else {
        dd.textContent = String(value);
      }
      dl.append(dt, dd);
    };
    if (c.email) row("Email", c.email, { href: `mailto:${encodeURIComponent(String(c.email)).replace(/%40/g, "@")}` });
    row("Session", c.session_id, { code: true });
    row("Conversation", conv.id, { code: true });
    const dept = conv.dept || (state.queue.get(conv.id) || {}).dept;
    row("Department", dept);
    let status;
    if (conv.ended) status = "Ended";
    else if (conv.status === "queued") status = "Waiting";
    else status = conv.agent ? `Assigned to ${conv.agent.id === state.me.id ? "you" : conv.agent.name || conv.agent.id}` : "Assigned";
    row("Status", status);
    box.appendChild(dl);

    const fields = c.fields && typeof c.fields === "object" ? Object.entries(c.fields) : [];
    const fh = el("h4", "info-sub", "Custom fields");
    box.appendChild(fh);
    if (fields.length) {
      const fl = el("dl", "info-list");
      for (const [k, v] of fields) {
        fl.append(el("dt", null, k), el("dd", null, typeof v === "boolean" ? (v ? "yes" : "no") : String(v)));
      }
      box.appendChild(fl);
    } else {
      box.appendChild(el("p", "empty-note", "None"));
    }
  }

  function senderKey(m) {
    const s = m.sender || {};
    return `${s.type}:${s.id || ""}`;
  }

  function messageNode(conv, m) {
    const s = m.sender || {};
    const type = ["customer", "agent", "bot", "system"].includes(s.type) ? s.type : "system";
    const node = el("div", `msg msg-${type}`);
    node.dataset.testid = "message";
    node.dataset.id = m.id;
    node.dataset.seq = String(m.seq);
    node.dataset.sender = type;
    node.dataset.key = senderKey(m);
    node.dataset.time = String(parseTime(m.created_at));
    if (type === "agent" && state.me && s.id === state.me.id) node.classList.add("msg-own");
    const bubble = el("div", "bubble");
    const text = m.message ? String(m.message) : "";
    if (text) bubble.appendChild(el("span", "text", text));
    const att = m.attachment;
    if (att && typeof att === "object") {
      const url = safeUrl(att.url);
      const label = `📎 ${att.name || "Attachment"}`;
      if (url) {
        const a = el("a", "attachment", label);
        a.href = url;
        a.target = "_blank";
        a.rel = "noopener noreferrer";
        bubble.appendChild(a);
      } else {
        bubble.appendChild(el("span", "attachment", label));
      }
    }
    const meta = el("div", "meta");
    const who = type === "customer" ? customerName(conv.customer) : type === "agent" && state.me && s.id === state.me.id ? "You" : s.name || (type === "bot" ? "Bot" : type === "system" ? "" : "Agent");
    if (who) meta.appendChild(el("span", "who", who));
    const t = parseTime(m.created_at);
    if (t) {
      const time = el("time", "when", timeFmt.format(new Date(t)));
      time.dateTime = new Date(t).toISOString();
      time.title = fullFmt.format(new Date(t));
      meta.appendChild(time);
    }
    node.append(bubble, meta);
    return node;
  }

  function insertMessage(conv, m) {
    const list = $("message-list");
    if (list.querySelector(`[data-id="${CSS.escape(m.id)}"]`)) return;
    const node = messageNode(conv, m);
    let after = null;
    for (let c = list.lastElementChild; c; c = c.previousElementSibling) {
      if (c.dataset.pending === "true") continue;
      if (Number(c.dataset.seq) < m.seq) { after = c; break; }
    }
    if (after) after.after(node);
    else list.prepend(node);
    group(node);
    if (node.nextElementSibling) group(node.nextElementSibling);
  }

  function group(node) {
    const prev = node.previousElementSibling;
    const same = prev && prev.dataset.key === node.dataset.key && node.dataset.sender !== "system" &&
      Math.abs(Number(node.dataset.time) - Number(prev.dataset.time)) < 5 * 60e3;
    node.classList.toggle("grouped", !!same);
  }

  function renderPending(conv, p) {
    if (conv.id !== state.selected) return;
    const list = $("message-list");
    if (!p.el) {
      const node = el("div", "msg msg-agent msg-own pending");
      node.dataset.testid = "message";
      node.dataset.pending = "true";
      node.dataset.sender = "agent";
      node.dataset.key = `agent:${state.me.id}`;
      node.dataset.time = String(Date.now());
      node.appendChild(el("div", "bubble")).appendChild(el("span", "text", p.text));
      node.appendChild(el("div", "meta"));
      p.el = node;
    }
    if (!p.el.isConnected) {
      list.appendChild(p.el);
      group(p.el);
    }
    const meta = p.el.querySelector(".meta");
    meta.textContent = "";
    p.el.classList.toggle("failed", p.state === "failed");
    if (p.state === "failed") {
      meta.appendChild(el("span", "fail", `Not sent${p.error ? `: ${p.error}` : ""}`));
      if (canWrite(conv)) {
        const retry = el("button", "btn btn-link btn-xs", "Retry");
        retry.type = "button";
        retry.addEventListener("click", () => sendPending(conv, p));
        meta.appendChild(retry);
      }
    } else {
      meta.appendChild(el("span", "when", p.state === "waiting" ? "Waiting for the connection…" : "Sending…"));
    }
  }

  function updateReceipt(conv) {
    const r = receiptEl;
    const list = $("message-list");
    let last = null;
    for (let c = list.lastElementChild; c; c = c.previousElementSibling) {
      if (c.dataset.sender === "agent" && c.dataset.seq) { last = c; break; }
    }
    if (last && conv.customerRead >= Number(last.dataset.seq)) {
      if (r.parentNode !== last) last.appendChild(r);
      r.hidden = false;
      r.textContent = "Seen";
    } else {
      r.hidden = true;
      r.textContent = "";
      if (r.parentNode !== $("messages")) $("messages").appendChild(r);
    }
  }

  function updateOlder(conv) {
    const first = minSeq(conv);
    const more = conv.loaded && first > 1;
    $("load-older").hidden = !more;
    const note = $("older-note");
    note.hidden = more || !conv.loaded || !first;
    note.textContent = "Beginning of the conversation";
  }

  function scrollToBottom() {
    const box = $("messages");
    box.scrollTop = box.scrollHeight;
    $("jump").hidden = true;
  }

  /* ---------------------------------------------------------------- sending */

  function send() {
    const conv = selectedConv();
    const input = $("composer-input");
    const text = input.value.trim();
    if (!conv || !text || !canWrite(conv)) return;
    const p = { cmid: uuid(), text, state: "sending", error: "", el: null, tries: 0 };
    conv.pending.set(p.cmid, p);
    input.value = "";
    autosize();
    stopTypingOut();
    renderPending(conv, p);
    scrollToBottom();
    sendPending(conv, p);
  }

  function sendPending(conv, p) {
    const s = state.socket;
    if (!s || !s.connected) {
      p.state = "waiting";
      renderPending(conv, p);
      return;
    }
    p.state = "sending";
    p.tries += 1;
    renderPending(conv, p);
    const payload = {
      session_id: (conv.customer && conv.customer.session_id) || null,
      message: p.text,
      attachment: false,
      ticket_chat_id: conv.id,
      client_msg_id: p.cmid,
    };
    s.timeout(15000).emit("support", payload, (err, res) => {
      if (!conv.pending.has(p.cmid)) return; // already confirmed by the room's copy
      if (err) {
        p.state = "waiting";
        renderPending(conv, p);
        if (s.connected && p.tries < 2) sendPending(conv, p);
        return;
      }
      if (res && res.status_code === 200 && res.data) {
        addMessage(conv, res.data, true);
        renderChats();
        return;
      }
      p.state = "failed";
      p.error = errText(res, "");
      renderPending(conv, p);
      if (res && res.status_code === 409 && !conv.ended) endConv(conv, "This conversation has ended.");
    });
  }

  /* Our typing, throttled: true at most every 2 s while keys come, false after 3 s idle. */
  function typingOut() {
    const conv = selectedConv();
    if (!conv || !conv.mine || conv.ended || !state.socket || !state.socket.connected) return;
    const t = state.typingOut;
    const now = Date.now();
    const empty = !$("composer-input").value.trim();
    if (empty) {
      stopTypingOut();
      return;
    }
    if (t.chat !== conv.id || now - t.last > TYPING_SEND_EVERY) {
      if (t.chat && t.chat !== conv.id) stopTypingOut();
      t.chat = conv.id;
      t.last = now;
      state.socket.volatile.emit("typing", { ticket_chat_id: conv.id, typing: true });
    }
    clearTimeout(t.idle);
    t.idle = setTimeout(stopTypingOut, TYPING_IDLE);
  }

  function stopTypingOut() {
    const t = state.typingOut;
    clearTimeout(t.idle);
    if (t.chat && state.socket && state.socket.connected) {
      state.socket.volatile.emit("typing", { ticket_chat_id: t.chat, typing: false });
    }
    t.chat = null;
    t.last = 0;
  }

  function autosize() {
    const input = $("composer-input");
    input.style.height = "auto";
    input.style.height = `${Math.min(input.scrollHeight, 160)}px`;
  }

  /* ---------------------------------------------------------------- wiring */

  function wire() {
    // Elements the script adds once.
    receiptEl.dataset.testid = "read-receipt";
    receiptEl.hidden = true;
    $("messages").appendChild(receiptEl);
    const jump = el("button", "btn jump", "New messages ↓");
    jump.id = "jump";
    jump.type = "button";
    jump.hidden = true;
    jump.addEventListener("click", scrollToBottom);
    $("messages").parentNode.appendChild(jump);

    $("signin-form").addEventListener("submit", (e) => {
      e.preventDefault();
      const token = $("token-input").value.trim();
      if (!token) {
        $("signin-error").textContent = "Paste a token first.";
        $("token-input").setAttribute("aria-invalid", "true");
        return;
      }
      signIn(token);
    });
    $("signout").addEventListener("click", signOut);
    $("status-select").addEventListener("change", (e) => setStatus(e.target.value === "away" ? "away" : "online"));
    $("composer").addEventListener("submit", (e) => {
      e.preventDefault();
      send();
    });
    const input = $("composer-input");
    input.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        send();
      }
    });
    input.addEventListener("input", () => {
      autosize();
      typingOut();
    });
    input.addEventListener("blur", () => {
      if (!input.value.trim()) stopTypingOut();
    });
    $("transfer-select").addEventListener("change", (e) => {
      $("transfer-go").disabled = !e.target.value;
    });
    $("transfer-select").addEventListener("focus", refreshTargets);
    $("transfer-go").addEventListener("click", transfer);
    $("close-conv").addEventListener("click", closeConv);
    $("load-older").addEventListener("click", loadOlder);
    $("messages").addEventListener("scroll", () => {
      const box = $("messages");
      if (box.scrollTop < 80) loadOlder();
      if (box.scrollHeight - box.scrollTop - box.clientHeight < 40) $("jump").hidden = true;
    }, { passive: true });
    $("back-to-list").addEventListener("click", () => {
      stopTypingOut();
      const id = state.selected;
      document.body.dataset.view = "list";
      state.selected = null;
      store(SELECTED_KEY, null);
      showPlaceholder();
      const again = id && document.querySelector(`#chats [data-chat="${CSS.escape(id)}"]`);
      if (again) again.focus();
    });
    $("info-toggle").addEventListener("click", () => {
      if (!wide()) {
        document.body.dataset.view = "info";
        $("info-back").focus();
        return;
      }
      const open = !document.body.classList.contains("info-open");
      document.body.classList.toggle("info-open", open);
      $("info-toggle").setAttribute("aria-expanded", String(open));
      if (open) $("info").focus();
    });
    $("info-back").addEventListener("click", closeInfo);
    document.addEventListener("keydown", (e) => {
      if (e.key === "Escape") {
        if (document.body.dataset.view === "info" || document.body.classList.contains("info-open")) closeInfo();
      }
    });

    // Attention: the title flash ends and sound is allowed after the user acts.
    const acted = () => {
      unlockAudio();
      clearAlerts();
    };
    window.addEventListener("pointerdown", acted, { capture: true, passive: true });
    window.addEventListener("keydown", acted, { capture: true, passive: true });
    window.addEventListener("focus", clearAlerts);
    document.addEventListener("visibilitychange", () => {
      const conv = selectedConv();
      if (document.visibilityState === "visible" && conv) markRead(conv);
    });
    window.addEventListener("hashchange", () => {
      const params = new URLSearchParams(location.hash.slice(1));
      if (params.get("demo")) {
        stop();
        demoSignIn(params);
      }
    });
  }

  function closeInfo() {
    if (document.body.dataset.view === "info") {
      document.body.dataset.view = "chat";
      $("info-toggle").focus();
      return;
    }
    document.body.classList.remove("info-open");
    $("info-toggle").setAttribute("aria-expanded", "false");
    $("info-toggle").focus();
  }

  function boot() {
    wire();
    const params = new URLSearchParams(location.hash.slice(1));
    if (params.get("demo")) {
      demoSignIn(params);
      return;
    }
    const saved = load(TOKEN_KEY);
    if (saved && signIn(saved)) return;
    if (!saved) showSignin();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", boot);
  else boot();
})();
