/*
 * switchboard website chat widget.
 *
 * Host page:
 *   <script src="https://relay.example/widget.js" data-widget-key="…" async></script>
 *
 * One file, no dependencies but the socket.io-client browser bundle, which it loads from its own
 * origin (/vendor/socket.io.min.js) unless the page already has window.io. Everything it draws
 * lives in an open shadow root under <div id="switchboard-widget">, styled from a constructed
 * stylesheet (so a strict style-src CSP needs no 'unsafe-inline'); no inline handlers, all text
 * through textContent.
 *
 * Attributes (data-*): widget-key, token (a customer JWT from the host's backend: no registration),
 * user-id + user-hash (identity verification), name, email, title (default "Chat with us"),
 * transports ("polling" forces polling), dept (for the status check), open ("true": open at load),
 * relay (the relay's URL when this file is served from elsewhere, e.g. a CDN), color (accent color).
 *
 * window.SwitchboardWidget = { open(), close(), sessionId, chatId, transport }.
 */
(() => {
  "use strict";

  if (window.SwitchboardWidget) return; // included twice: the first one wins

  const script =
    document.currentScript ||
    document.querySelector('script[src*="widget.js"][data-widget-key], script[src*="widget.js"][data-token]');
  if (!script || !script.src) return;

  /* ---------------------------------------------------------------- configuration */

  const attr = (name) => {
    const v = script.getAttribute("data-" + name);
    return v === null || v.trim() === "" ? null : v.trim();
  };
  const scriptUrl = new URL(script.src, location.href);
  const relay = (() => {
    const r = attr("relay");
    if (r) {
      try {
        return new URL(r, location.href).origin;
      } catch (_) {
        /* fall through to the script's origin */
      }
    }
    return scriptUrl.origin;
  })();
  const api = relay + "/api/v1/helpdesk";
  const cfg = {
    widgetKey: attr("widget-key"),
    token: attr("token"),
    userId: attr("user-id"),
    userHash: attr("user-hash"),
    name: attr("name"),
    email: attr("email"),
    title: attr("title") || "Chat with us",
    dept: attr("dept"),
    openAtLoad: attr("open") === "true",
    color: attr("color"),
    transports: (() => {
      const t = attr("transports");
      if (!t) return undefined;
      const list = t
        .split(/[\s,]+/)
        .map((x) => x.toLowerCase())
        .filter((x) => x === "polling" || x === "websocket" || x === "webtransport");
      return list.length ? list : undefined;
    })(),
  };
  if (!cfg.widgetKey && !cfg.token) return; // nothing to authenticate with

  /* The subject of a host-provided token (base64url JSON payload), for its session id. */
  const tokenSub = (() => {
    if (!cfg.token) return null;
    try {
      const part = cfg.token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      const json = decodeURIComponent(
        Array.from(atob(part), (c) => "%" + c.charCodeAt(0).toString(16).padStart(2, "0")).join("")
      );
      const claims = JSON.parse(json);
      return typeof claims.sub === "string" ? claims.sub : null;
    } catch (_) {
      return null;
    }
  })();

  /* ---------------------------------------------------------------- storage */

  const storeKey = "switchboard:" + (cfg.widgetKey || "token:" + (tokenSub || ""));
  const loadStored = () => {
    try {
      const v = JSON.parse(localStorage.getItem(storeKey) || "null");
      return v && typeof v === "object" ? v : {};
    } catch (_) {
      return {};
    }
  };
  let stored = loadStored();
  const save = () => {
    try {
      localStorage.setItem(storeKey, JSON.stringify(stored));
    } catch (_) {
      /* storage disabled (private mode, sandbox): the widget still works for this page view */
    }
  };

  /* ---------------------------------------------------------------- state */

  const DAY = 86400e3;
  let session = null; // { token, session_id, expires_at? }
  let sessionPromise = null;
  let socket = null;
  let connecting = null;
  let everConnected = false;
  let loadedConversation = false;
  let chatId = null;
  let chatState = null; // queued | assigned | closed | null
  let lastSeq = 0; // highest seq of the current conversation shown
  let readSeq = 0; // highest seq the visitor has seen (panel open and visible)
  let readSent = 0;
  let theirSeq = 0; // highest seq of an agent, bot or system message
  let agent = null; // { id, name }
  let ended = false;
  let isOpen = false;
  let unread = 0;
  let baseStatus = null; // { text, kind } of the conversation
  let connStatus = null; // "Reconnecting…" while disconnected
  let agentsOnline = null;
  let authRetries = 0;
  const messages = new Map(); // id -> { msg, el }
  const pendings = new Map(); // client_msg_id -> { cid, text, el, attempts, failed }
  let outbox = []; // pendings not yet acknowledged, in order
  let inFlight = null;
  let loadingOlder = false;

  /* ---------------------------------------------------------------- styles */

  const STYLE = `
:host { all: initial; }
*, *::before, *::after { box-sizing: border-box; }
[hidden] { display: none !important; }
.root {
  --sb-accent: #4f46e5;
  --sb-accent-strong: #4338ca;
  --sb-on-accent: #ffffff;
  --sb-text: #1c1f2b;
  --sb-muted: #667085;
  --sb-bg: #ffffff;
  --sb-surface: #f3f4f8;
  --sb-border: #e4e7ec;
  --sb-radius: 18px;
  --sb-shadow: 0 12px 48px rgba(16, 24, 40, 0.18), 0 2px 8px rgba(16, 24, 40, 0.08);
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", "Noto Sans", Arial, sans-serif;
  font-size: 15px;
  line-height: 1.45;
  color: var(--sb-text);
  -webkit-font-smoothing: antialiased;
  -webkit-text-size-adjust: 100%;
}
.sr {
  position: absolute !important; width: 1px; height: 1px; padding: 0; margin: -1px;
  overflow: hidden; clip: rect(0 0 0 0); clip-path: inset(50%); white-space: nowrap; border: 0;
}
button { font: inherit; color: inherit; }
:focus { outline: none; }
:focus-visible { outline: 2px solid var(--sb-accent); outline-offset: 2px; }

/* launcher */
.launcher {
  position: fixed; right: 20px; bottom: 20px; z-index: 2147483000;
  width: 60px; height: 60px; border-radius: 50%; border: 0; padding: 0; cursor: pointer;
  display: grid; place-items: center;
  background: var(--sb-accent); color: var(--sb-on-accent);
  box-shadow: 0 6px 20px rgba(16, 24, 40, 0.24);
  transition: transform 160ms ease, background-color 160ms ease, box-shadow 160ms ease;
}
.launcher:hover { background: var(--sb-accent-strong); transform: translateY(-1px); box-shadow: 0 8px 26px rgba(16, 24, 40, 0.28); }
.launcher:active { transform: scale(0.96); }
.launcher:focus-visible { outline: 3px solid var(--sb-accent); outline-offset: 3px; }
.launcher svg { width: 28px; height: 28px; transition: transform 200ms ease, opacity 160ms ease; }
.launcher .i-close { position: absolute; opacity: 0; transform: rotate(-45deg) scale(0.6); }
.root.open .launcher .i-chat { opacity: 0; transform: rotate(45deg) scale(0.6); }
.root.open .launcher .i-close { opacity: 1; transform: none; }
.badge {
  position: absolute; top: -3px; right: -3px; min-width: 22px; height: 22px; padding: 0 6px;
  border-radius: 11px; background: #e11d48; color: #fff; border: 2px solid #fff;
  font-size: 12px; font-weight: 700; line-height: 18px; text-align: center;
  animation: sb-pop 220ms ease-out;
}

/* panel */
.panel {
  position: fixed; right: 20px; bottom: 92px; z-index: 2147483000;
  width: 380px; height: min(640px, calc(100vh - 120px)); max-height: calc(100vh - 120px);
  display: flex; flex-direction: column; overflow: hidden;
  background: var(--sb-bg); border-radius: 20px; box-shadow: var(--sb-shadow);
  border: 1px solid rgba(16, 24, 40, 0.06);
  opacity: 0; visibility: hidden; transform: translateY(16px) scale(0.98); transform-origin: bottom right;
  transition: opacity 180ms ease, transform 200ms cubic-bezier(0.2, 0.8, 0.2, 1), visibility 0s linear 200ms;
}
.root.open .panel {
  opacity: 1; visibility: visible; transform: none;
  transition: opacity 180ms ease, transform 200ms cubic-bezier(0.2, 0.8, 0.2, 1), visibility 0s;
}

.head {
  display: flex; align-items: center; gap: 12px; padding: 16px 14px 16px 18px;
  background: var(--sb-accent);
  background: linear-gradient(135deg, var(--sb-accent), color-mix(in srgb, var(--sb-accent) 72%, #000));
  color: var(--sb-on-accent); flex: none;
}
.avatar {
  flex: none; width: 40px; height: 40px; border-radius: 50%; display: grid; place-items: center;
  background: rgba(255, 255, 255, 0.2); color: #fff; font-weight: 650; font-size: 16px; position: relative;
}
.avatar svg { width: 22px; height: 22px; }
.avatar.online::after {
  content: ""; position: absolute; right: -1px; bottom: -1px; width: 12px; height: 12px; border-radius: 50%;
  background: #22c55e; border: 2px solid #fff;
}
.titles { flex: 1; min-width: 0; }
.title { margin: 0; font-size: 16px; font-weight: 650; line-height: 1.25; letter-spacing: -0.01em;
  white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.sub { margin: 2px 0 0; font-size: 13px; opacity: 0.88; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.sub .agent { font-weight: 600; }
.icon-btn {
  flex: none; width: 36px; height: 36px; border-radius: 10px; border: 0; background: transparent;
  color: inherit; display: grid; place-items: center; cursor: pointer; transition: background-color 140ms ease;
}
.icon-btn:hover { background: rgba(255, 255, 255, 0.16); }
.head :focus-visible { outline-color: #fff; }
.icon-btn svg { width: 20px; height: 20px; }

.status {
  flex: none; padding: 9px 16px; font-size: 13px; line-height: 1.4; text-align: center;
  background: color-mix(in srgb, var(--sb-accent) 8%, #fff); color: color-mix(in srgb, var(--sb-accent) 70%, #000);
  border-bottom: 1px solid var(--sb-border);
}
.status[data-kind="ok"] { background: #ecfdf3; color: #05603a; }
.status[data-kind="ended"] { background: var(--sb-surface); color: var(--sb-muted); }
.status[data-kind="warn"] { background: #fffaeb; color: #93370d; }
.status[data-kind="error"] { background: #fef3f2; color: #b42318; }

.log {
  flex: 1; min-height: 0; overflow-y: auto; overscroll-behavior: contain;
  padding: 16px 14px 8px; display: flex; flex-direction: column; gap: 2px;
  background: var(--sb-bg);
}
.log:focus-visible { outline-offset: -3px; }
.older { align-self: center; font-size: 12px; color: var(--sb-muted); padding: 4px 0 10px; }

.intro {
  margin: 4px 2px 14px; padding: 16px 16px 14px; border-radius: 16px; background: var(--sb-surface);
  animation: sb-in 220ms ease-out;
}
.intro h3 { margin: 0 0 4px; font-size: 16px; font-weight: 650; letter-spacing: -0.01em; }
.intro p { margin: 0; color: var(--sb-muted); font-size: 14px; }

.msg { display: flex; flex-direction: column; align-items: flex-start; max-width: 100%; margin-top: 10px; animation: sb-in 180ms ease-out; }
.msg.cont { margin-top: 2px; }
.msg.settled { animation: none; }
.msg.customer { align-items: flex-end; }
.msg::before {
  content: attr(data-name); font-size: 12px; color: var(--sb-muted); margin: 0 0 3px 12px; font-weight: 550;
}
.msg.customer::before, .msg.system::before, .msg.cont::before { content: none; }
.bubble {
  max-width: 82%; padding: 9px 13px; border-radius: var(--sb-radius);
  background: var(--sb-surface); color: var(--sb-text); border: 1px solid transparent;
  white-space: pre-wrap; overflow-wrap: anywhere; word-break: break-word;
  transition: opacity 160ms ease;
}
.msg.agent .bubble, .msg.bot .bubble { border-bottom-left-radius: 6px; }
.msg.agent.cont .bubble, .msg.bot.cont .bubble { border-top-left-radius: 6px; }
.msg.customer .bubble { background: var(--sb-accent); color: var(--sb-on-accent); border-bottom-right-radius: 6px; }
.msg.customer.cont .bubble { border-top-right-radius: 6px; }
.msg.customer .bubble a { color: inherit; }
.bubble a { color: var(--sb-accent-strong); text-decoration: underline; text-underline-offset: 2px; }
.msg.pending .bubble { opacity: 0.7; }
.msg.failed .bubble { background: #fef3f2; color: #7a271a; border-color: #fecdca; }
.msg.system { align-items: center; margin: 12px 0 4px; }
.msg.system .bubble { background: transparent; color: var(--sb-muted); font-size: 13px; text-align: center; padding: 2px 8px; max-width: 92%; }
.msg::after { content: attr(data-time); font-size: 11px; color: var(--sb-muted); margin: 3px 10px 0; }
.msg.grouped::after { content: none; }
.msg.pending::after { content: "Sending…"; }
.msg.failed::after { content: none; }
.error { font-size: 12px; color: #b42318; margin: 4px 6px 0; display: flex; gap: 8px; align-items: baseline; flex-wrap: wrap; justify-content: flex-end; }
.linkish {
  border: 0; background: none; padding: 0; cursor: pointer; color: var(--sb-accent-strong);
  font-size: 12px; font-weight: 600; text-decoration: underline; text-underline-offset: 2px;
}

.typing { flex: none; display: flex; align-items: center; gap: 8px; padding: 2px 18px 8px; font-size: 12px; color: var(--sb-muted); }
.dots { display: inline-flex; gap: 3px; padding: 7px 10px; border-radius: 12px; background: var(--sb-surface); }
.dots i { width: 6px; height: 6px; border-radius: 50%; background: #98a2b3; animation: sb-blink 1.2s infinite ease-in-out; }
.dots i:nth-child(2) { animation-delay: 0.15s; }
.dots i:nth-child(3) { animation-delay: 0.3s; }

.ended-bar { flex: none; padding: 10px 14px 0; display: flex; justify-content: center; }
.new-btn {
  border: 1px solid var(--sb-accent); background: #fff; color: var(--sb-accent-strong); cursor: pointer;
  border-radius: 999px; padding: 8px 16px; font-size: 14px; font-weight: 600;
  transition: background-color 140ms ease, color 140ms ease;
}
.new-btn:hover { background: var(--sb-accent); color: var(--sb-on-accent); }

.composer { flex: none; display: flex; align-items: flex-end; gap: 8px; padding: 10px 12px max(12px, env(safe-area-inset-bottom)); border-top: 1px solid var(--sb-border); background: #fff; }
.field {
  flex: 1; min-width: 0; display: flex; border: 1px solid var(--sb-border); border-radius: 14px; background: #fff;
  transition: border-color 140ms ease, box-shadow 140ms ease;
}
.field:focus-within { border-color: var(--sb-accent); box-shadow: 0 0 0 3px color-mix(in srgb, var(--sb-accent) 18%, transparent); }
textarea {
  flex: 1; min-width: 0; resize: none; border: 0; background: transparent; outline: none;
  font: inherit; color: var(--sb-text); padding: 10px 12px; max-height: 132px; min-height: 42px; line-height: 1.4;
}
textarea::placeholder { color: #98a2b3; }
textarea:focus-visible { outline: none; }
.send {
  flex: none; width: 42px; height: 42px; border-radius: 12px; border: 0; cursor: pointer;
  display: grid; place-items: center; background: var(--sb-accent); color: var(--sb-on-accent);
  transition: background-color 140ms ease, opacity 140ms ease, transform 120ms ease;
}
.send:hover { background: var(--sb-accent-strong); }
.send:active { transform: scale(0.95); }
.send[aria-disabled="true"] { opacity: 0.45; cursor: default; }
.send svg { width: 20px; height: 20px; }

@keyframes sb-in { from { opacity: 0.3; transform: translateY(6px); } to { opacity: 1; transform: none; } }
@keyframes sb-pop { from { transform: scale(0.5); } to { transform: scale(1); } }
@keyframes sb-blink { 0%, 80%, 100% { opacity: 0.35; transform: translateY(0); } 40% { opacity: 1; transform: translateY(-2px); } }

@media (max-width: 480px) {
  .panel {
    right: 0; bottom: 0; left: 0; top: 0; width: 100%; height: 100%; max-height: none;
    border-radius: 0; border: 0; transform: translateY(24px);
  }
  .root.open .launcher { opacity: 0; visibility: hidden; pointer-events: none; }
  .launcher { right: 16px; bottom: 16px; }
  textarea { font-size: 16px; } /* no zoom on focus in iOS Safari */
  .bubble { max-width: 86%; }
}
@media (prefers-reduced-motion: reduce) {
  *, *::before, *::after { animation: none !important; transition: none !important; }
}
@media (forced-colors: active) {
  .launcher, .send, .new-btn, .panel, .bubble, .badge { border: 1px solid CanvasText; }
}
`;

  /* ---------------------------------------------------------------- DOM */

  const el = (tag, props, ...kids) => {
    const e = document.createElement(tag);
    if (props) {
      for (const [k, v] of Object.entries(props)) {
        if (v === null || v === undefined || v === false) continue;
        if (k === "class") e.className = v;
        else if (k === "text") e.textContent = v;
        else e.setAttribute(k, v === true ? "" : String(v));
      }
    }
    for (const kid of kids) if (kid) e.append(kid);
    return e;
  };
  const SVGNS = "http://www.w3.org/2000/svg";
  const icon = (paths, cls) => {
    const s = document.createElementNS(SVGNS, "svg");
    s.setAttribute("viewBox", "0 0 24 24");
    s.setAttribute("fill", "none");
    s.setAttribute("stroke", "currentColor");
    s.setAttribute("stroke-width", "2");
    s.setAttribute("stroke-linecap", "round");
    s.setAttribute("stroke-linejoin", "round");
    s.setAttribute("aria-hidden", "true");
    s.setAttribute("focusable", "false");
    if (cls) s.setAttribute("class", cls);
    for (const d of paths) {
      const p = document.createElementNS(SVGNS, "path");
      p.setAttribute("d", d);
      s.append(p);
    }
    return s;
  };
  const I_CHAT = ["M21 11.5a8.4 8.4 0 0 1-9 8.4 9 9 0 0 1-3.8-.8L3 21l1.9-5.2A8.4 8.4 0 0 1 12 3a8.5 8.5 0 0 1 9 8.5z"];
  const I_CLOSE = ["M18 6 6 18", "M6 6l12 12"];
  const I_MIN = ["M6 9l6 6 6-6"];
  const I_SEND = ["M22 2 11 13", "M22 2 15 22l-4-9-9-4 20-7z"];

  const host = document.createElement("div");
  host.id = "switchboard-widget";
  const shadow = host.attachShadow({ mode: "open" });
  try {
    const sheet = new CSSStyleSheet();
    sheet.replaceSync(STYLE);
    shadow.adoptedStyleSheets = [sheet];
  } catch (_) {
    shadow.append(el("style", { text: STYLE }));
  }

  const root = el("div", { class: "root" });
  if (cfg.color && colorOk(cfg.color)) {
    root.style.setProperty("--sb-accent", cfg.color);
    root.style.setProperty("--sb-accent-strong", `color-mix(in srgb, ${cfg.color} 82%, #000)`);
  }
  function colorOk(c) {
    try {
      return window.CSS.supports("color", c);
    } catch (_) {
      return false;
    }
  }

  const badge = el("span", { class: "badge", "data-testid": "sb-unread", "aria-hidden": "true", hidden: true });
  const launcher = el(
    "button",
    {
      type: "button",
      class: "launcher",
      "data-testid": "sb-launcher",
      "aria-label": "Open chat",
      "aria-expanded": "false",
      "aria-controls": "sb-panel",
    },
    icon(I_CHAT, "i-chat"),
    icon(I_CLOSE, "i-close"),
    badge
  );

  const titleEl = el("h2", { class: "title", id: "sb-title", text: cfg.title });
  const agentEl = el("span", { class: "agent", "data-testid": "sb-agent", hidden: true });
  const taglineEl = el("span", { class: "tagline", text: "We typically reply in a few minutes" });
  const subEl = el("p", { class: "sub" }, agentEl, taglineEl);
  const avatar = el("div", { class: "avatar", "aria-hidden": "true" }, icon(I_CHAT));
  const minBtn = el("button", { type: "button", class: "icon-btn", "aria-label": "Close chat" }, icon(I_MIN));
  const head = el("div", { class: "head" }, avatar, el("div", { class: "titles" }, titleEl, subEl), minBtn);

  const statusEl = el("div", { class: "status", role: "status", "data-testid": "sb-status", hidden: true });

  const introTitle = el("h3", { text: "Hi there!" });
  const introText = el("p", { text: "Ask us anything: we are happy to help." });
  const intro = el("div", { class: "intro" }, introTitle, introText);
  const olderEl = el("div", { class: "older", text: "Loading earlier messages…", hidden: true });
  const log = el(
    "div",
    {
      class: "log",
      role: "log",
      "aria-live": "polite",
      "aria-label": "Messages",
      "aria-relevant": "additions",
      tabindex: "0",
      "data-testid": "sb-messages",
    },
    olderEl,
    intro
  );

  const typingText = el("span", { text: "" });
  const typingEl = el(
    "div",
    { class: "typing", "data-testid": "sb-typing", "aria-live": "polite", hidden: true },
    el("span", { class: "dots", "aria-hidden": "true" }, el("i"), el("i"), el("i")),
    typingText
  );

  const newBtn = el("button", { type: "button", class: "new-btn", "data-testid": "sb-new", text: "Start a new conversation" });
  const endedBar = el("div", { class: "ended-bar", hidden: true }, newBtn);

  const input = el("textarea", {
    id: "sb-input",
    "data-testid": "sb-input",
    rows: "1",
    placeholder: "Write a message…",
    enterkeyhint: "send",
    autocomplete: "off",
  });
  const inputLabel = el("label", { class: "sr", for: "sb-input", text: "Message" });
  const sendBtn = el(
    "button",
    { type: "submit", class: "send", "data-testid": "sb-send", "aria-label": "Send message", "aria-disabled": "true" },
    icon(I_SEND)
  );
  const form = el("form", { class: "composer", novalidate: true }, inputLabel, el("div", { class: "field" }, input), sendBtn);

  const panel = el(
    "div",
    { class: "panel", id: "sb-panel", role: "dialog", "aria-label": cfg.title, "data-testid": "sb-panel" },
    head,
    statusEl,
    log,
    typingEl,
    endedBar,
    form
  );
  root.append(panel, launcher);
  shadow.append(root);

  const mount = () => document.body.append(host);
  if (document.body) mount();
  else document.addEventListener("DOMContentLoaded", mount, { once: true });

  /* ---------------------------------------------------------------- rendering helpers */

  const timeFmt = (() => {
    try {
      return new Intl.DateTimeFormat(undefined, { hour: "numeric", minute: "2-digit" });
    } catch (_) {
      return null;
    }
  })();
  const fmtTime = (iso) => {
    const d = iso ? new Date(iso) : new Date();
    if (isNaN(d.getTime()) || !timeFmt) return "";
    return timeFmt.format(d);
  };

  /* Text with http(s) links made clickable; everything else as text nodes. */
  const fillText = (node, text) => {
    node.textContent = "";
    const re = /\bhttps?:\/\/[^\s<>"']+/gi;
    let last = 0;
    let m;
    while ((m = re.exec(text))) {
      let url = m[0];
      const trail = url.match(/[.,;:!?)\]]+$/);
      if (trail) url = url.slice(0, -trail[0].length);
      if (m.index > last) node.append(text.slice(last, m.index));
      const a = el("a", { href: url, target: "_blank", rel: "noopener noreferrer nofollow", text: url });
      node.append(a);
      last = m.index + url.length;
      re.lastIndex = last;
    }
    if (last < text.length) node.append(text.slice(last));
  };

  const nearBottom = () => log.scrollHeight - log.scrollTop - log.clientHeight < 80;
  const scrollToBottom = () => {
    log.scrollTop = log.scrollHeight;
  };

  const setStatus = (text, kind) => {
    baseStatus = text ? { text, kind: kind || "info" } : null;
    renderStatus();
  };
  const renderStatus = () => {
    const s = connStatus || baseStatus;
    if (!s) {
      statusEl.hidden = true;
      statusEl.textContent = "";
      statusEl.removeAttribute("data-kind");
      return;
    }
    statusEl.hidden = false;
    if (statusEl.textContent !== s.text) statusEl.textContent = s.text;
    statusEl.setAttribute("data-kind", s.kind);
  };

  const initials = (name) =>
    String(name || "")
      .trim()
      .split(/\s+/)
      .slice(0, 2)
      .map((w) => w[0] || "")
      .join("")
      .toUpperCase();

  const renderAgent = () => {
    if (agent && agent.name) {
      agentEl.textContent = agent.name;
      agentEl.hidden = false;
      taglineEl.textContent = ended ? " · the chat has ended" : " is here to help";
      taglineEl.hidden = false;
      avatar.textContent = initials(agent.name) || "";
      if (!avatar.textContent) avatar.append(icon(I_CHAT));
      avatar.classList.toggle("online", !ended);
    } else {
      agentEl.textContent = "";
      agentEl.hidden = true;
      taglineEl.textContent =
        agentsOnline === 0 ? "We are away right now" : "We typically reply in a few minutes";
      avatar.textContent = "";
      avatar.append(icon(I_CHAT));
      avatar.classList.toggle("online", !!agentsOnline);
    }
  };

  const renderBadge = () => {
    const show = unread > 0 && !isOpen;
    badge.hidden = !show;
    badge.textContent = show ? (unread > 99 ? "99+" : String(unread)) : "";
    launcher.setAttribute(
      "aria-label",
      isOpen
        ? "Close chat"
        : show
          ? `Open chat, ${unread} unread message${unread === 1 ? "" : "s"}`
          : "Open chat"
    );
  };

  const renderIntro = () => {
    intro.hidden = messages.size > 0 || pendings.size > 0;
  };

  /* Group consecutive messages of one sender: names on the first, times on the last. */
  const regroup = () => {
    const items = Array.from(log.querySelectorAll(".msg"));
    for (let i = 0; i < items.length; i++) {
      const a = items[i];
      const prev = items[i - 1];
      const next = items[i + 1];
      const key = (x) => x && x.dataset.who;
      a.classList.toggle("cont", !!prev && key(prev) === key(a) && a.dataset.sender !== "system");
      a.classList.toggle(
        "grouped",
        !!next && key(next) === key(a) && a.dataset.sender !== "system" && !next.classList.contains("pending")
      );
    }
  };

  const senderType = (m) => {
    const t = m && m.sender && m.sender.type;
    return t === "customer" || t === "agent" || t === "bot" || t === "system" ? t : "system";
  };

  const makeMsgEl = (type) => el("div", { class: "msg " + type, "data-testid": "sb-message", "data-sender": type });

  const fillMsgEl = (node, m) => {
    const type = senderType(m);
    node.className = "msg " + type + (node.classList.contains("settled") ? " settled" : "");
    node.dataset.sender = type;
    node.dataset.id = m.id;
    node.dataset.seq = String(m.seq);
    node.removeAttribute("data-pending");
    node.dataset.who = type + ":" + ((m.sender && m.sender.id) || "");
    const name = (m.sender && m.sender.name) || (type === "bot" ? "Assistant" : type === "agent" ? "Support" : "");
    if (type === "agent" || type === "bot") node.dataset.name = name;
    else node.removeAttribute("data-name");
    node.dataset.time = fmtTime(m.created_at);
    node.textContent = "";
    const bubble = el("div", { class: "bubble" });
    fillText(bubble, String(m.message == null ? "" : m.message));
    node.append(bubble);
  };

  /* Where a confirmed message with this seq goes: before the first later one, else before the pendings. */
  const insertConfirmed = (node, seq) => {
    const items = log.querySelectorAll(".msg");
    let before = null;
    for (const it of items) {
      if (it.dataset.pending === "true" || Number(it.dataset.seq) > seq) {
        before = it;
        break;
      }
    }
    if (before) log.insertBefore(node, before);
    else log.append(node);
  };

  /* ---------------------------------------------------------------- messages */

  const addMessage = (m, fromHistory) => {
    if (!m || typeof m.id !== "string" || typeof m.seq !== "number") return;
    if (messages.has(m.id)) return;
    const stick = nearBottom();
    const type = senderType(m);
    let node = null;
    const p = m.client_msg_id ? pendings.get(m.client_msg_id) : null;
    if (p && type === "customer") {
      node = p.el;
      pendings.delete(p.cid);
      outbox = outbox.filter((x) => x !== p);
      node.remove();
      node.classList.add("settled"); // shown already: no entry animation again
    } else {
      node = makeMsgEl(type);
    }
    fillMsgEl(node, m);
    insertConfirmed(node, m.seq);
    messages.set(m.id, { msg: m, el: node });
    if (m.seq > lastSeq) {
      lastSeq = m.seq;
      stored.last_seq = lastSeq;
      save();
    }
    if (type === "agent" || type === "bot") {
      hideTyping();
      if (type === "agent" && (!agent || !agent.name) && m.sender && m.sender.name) {
        agent = { id: m.sender.id, name: m.sender.name };
        renderAgent();
      }
    }
    if (type !== "customer" && m.seq > theirSeq) theirSeq = m.seq;
    if (type !== "customer" && m.seq > readSeq && !(isOpen && pageVisible())) unread++;
    regroup();
    renderIntro();
    renderBadge();
    if (stick || (type === "customer" && !fromHistory)) scrollToBottom();
    markRead();
  };

  const pageVisible = () => document.visibilityState !== "hidden";

  const markRead = () => {
    if (!isOpen || !pageVisible()) return;
    if (lastSeq > readSeq) {
      readSeq = lastSeq;
      stored.read_seq = readSeq;
      save();
    }
    unread = 0;
    renderBadge();
    if (!readQueued) {
      readQueued = true;
      queueMicrotask(sendRead); // once for a batch (a history page), at once for a live message
    }
  };
  let readQueued = false;
  const sendRead = () => {
    readQueued = false;
    if (!isOpen || !pageVisible() || ended) return;
    // only when the other side said something new: reading one's own messages tells nobody anything
    if (chatId && socket && socket.connected && theirSeq > readSent) {
      readSent = readSeq;
      socket.emit("read", { ticket_chat_id: chatId, seq: readSeq });
    }
  };

  /* Forget the conversation shown: for a new one, or when the relay no longer knows it (keepPending:
   * the messages not yet acknowledged stay, and go to the next conversation). */
  const resetConversation = (keepPending) => {
    for (const { el: n } of messages.values()) n.remove();
    messages.clear();
    if (!keepPending) {
      for (const p of pendings.values()) p.el.remove();
      pendings.clear();
      outbox = [];
      inFlight = null;
    }
    chatId = null;
    chatState = null;
    lastSeq = 0;
    readSeq = 0;
    readSent = 0;
    theirSeq = 0;
    agent = null;
    ended = false;
    unread = 0;
    stored.ticket_chat_id = null;
    stored.last_seq = 0;
    stored.read_seq = 0;
    save();
    if (socket) socket.auth.resume = {};
    hideTyping();
    endedBar.hidden = true;
    renderAgent();
    renderIntro();
    renderBadge();
    setStatus(null);
  };
  const clearConversation = () => resetConversation(false);

  const queuedSeen = new Map(); // ticket_chat_id -> the last queued event, for a chat adopted later
  const adoptChat = (id) => {
    if (!id || chatId === id) return;
    chatId = id;
    stored.ticket_chat_id = id;
    save();
    if (socket) socket.auth.resume = resumeMap();
    const q = queuedSeen.get(id);
    if (q) applyQueued(q);
  };

  /* ---------------------------------------------------------------- typing */

  let typingTimer = null;
  const showTyping = () => {
    const who = (agent && agent.name) || "Someone";
    typingText.textContent = `${who} is typing…`;
    const stick = nearBottom();
    typingEl.hidden = false;
    if (stick) scrollToBottom();
    clearTimeout(typingTimer);
    typingTimer = setTimeout(hideTyping, 5000);
  };
  function hideTyping() {
    clearTimeout(typingTimer);
    typingTimer = null;
    typingEl.hidden = true;
    typingText.textContent = "";
  }

  let myTyping = false;
  let myTypingSentAt = 0;
  let myTypingIdle = null;
  const sendTyping = (on) => {
    if (!chatId || ended || !socket || !socket.connected) return;
    socket.emit("typing", { ticket_chat_id: chatId, typing: on });
  };
  const onInputActivity = () => {
    const now = Date.now();
    if (!input.value.trim()) {
      stopTyping();
      return;
    }
    if (!myTyping || now - myTypingSentAt >= 2000) {
      myTyping = true;
      myTypingSentAt = now;
      sendTyping(true);
    }
    clearTimeout(myTypingIdle);
    myTypingIdle = setTimeout(stopTyping, 3000);
  };
  function stopTyping() {
    clearTimeout(myTypingIdle);
    myTypingIdle = null;
    if (myTyping) {
      myTyping = false;
      sendTyping(false);
    }
  }

  /* ---------------------------------------------------------------- status texts */

  const queueText = (position, online) =>
    online === 0
      ? "Nobody is online right now: leave a message and we will get back to you"
      : `You are number ${position} in the queue`;

  function applyQueued(q) {
    if (q.ticket_chat_id !== chatId || ended || chatState === "assigned") return;
    chatState = "queued";
    if (typeof q.agents_online === "number") {
      agentsOnline = q.agents_online;
      renderAgent();
    }
    setStatus(queueText(q.position, q.agents_online), "info");
  }

  const showEnded = () => {
    const stick = nearBottom();
    ended = true;
    chatState = "closed";
    hideTyping();
    stopTyping();
    setStatus("This conversation has ended", "ended");
    endedBar.hidden = false;
    renderAgent();
    if (stick) scrollToBottom();
    // the next message starts a new conversation
    stored.ticket_chat_id = null;
    save();
    if (socket) socket.auth.resume = {};
  };

  /* ---------------------------------------------------------------- network */

  const jsonFetch = async (url, opts) => {
    const res = await fetch(url, Object.assign({ mode: "cors", credentials: "omit" }, opts));
    let body = null;
    try {
      body = await res.json();
    } catch (_) {
      body = null;
    }
    return { status: res.status, ok: res.ok, body, res };
  };

  const register = async () => {
    const body = { widget_key: cfg.widgetKey };
    if (cfg.name) body.name = cfg.name;
    if (cfg.email) body.email = cfg.email;
    if (cfg.userId && cfg.userHash) {
      body.user_id = cfg.userId;
      body.user_hash = cfg.userHash;
    }
    const r = await jsonFetch(api + "/visitors", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    if (!r.ok || !r.body || !r.body.data || !r.body.data.visitor_token) {
      const err = new Error("registration failed");
      err.status = r.status;
      throw err;
    }
    return r.body.data;
  };

  const refresh = async (token) => {
    const r = await jsonFetch(api + "/visitors/refresh", {
      method: "POST",
      headers: { Authorization: "Bearer " + token },
    });
    if (r.ok && r.body && r.body.data && r.body.data.visitor_token) return r.body.data;
    const err = new Error("refresh failed");
    err.status = r.status;
    throw err;
  };

  const adoptVisitor = (data) => {
    const sameSession = stored.session_id === data.session_id;
    stored.visitor_token = data.visitor_token;
    stored.session_id = data.session_id;
    stored.expires_at = data.expires_at;
    stored.user_id = cfg.userId && cfg.userHash ? cfg.userId : null;
    save();
    if (!sameSession && (chatId || messages.size || stored.ticket_chat_id)) clearConversation();
    session = { token: data.visitor_token, session_id: data.session_id, expires_at: data.expires_at };
    scheduleRefresh();
    return session;
  };

  let refreshTimer = null;
  const scheduleRefresh = () => {
    clearTimeout(refreshTimer);
    if (!session || !session.expires_at) return;
    const at = Date.parse(session.expires_at) - DAY;
    const wait = Math.min(Math.max(at - Date.now(), 60e3), 2 ** 31 - 1);
    refreshTimer = setTimeout(() => {
      renewSession()
        .then(() => {
          if (socket && socket.connected) {
            // the socket was authenticated with the old token: reconnect with the new one
            socket.disconnect();
            socket.auth.token = session.token;
            socket.auth.resume = resumeMap();
            socket.connect();
          }
        })
        .catch(() => {});
    }, wait);
  };

  /* A fresh token: refresh the stored one, or register again when that is refused. */
  const renewSession = async () => {
    if (cfg.token) throw new Error("host token");
    if (stored.visitor_token && Date.parse(stored.expires_at) > Date.now()) {
      try {
        return adoptVisitor(await refresh(stored.visitor_token));
      } catch (e) {
        if (e.status !== 401 && e.status !== 403) throw e;
      }
    }
    return adoptVisitor(await register());
  };

  const ensureSession = () => {
    if (session) return Promise.resolve(session);
    if (sessionPromise) return sessionPromise;
    sessionPromise = (async () => {
      if (cfg.token) {
        if (!tokenSub) throw Object.assign(new Error("bad token"), { status: 401 });
        session = { token: cfg.token, session_id: tokenSub };
        return session;
      }
      const wantUser = cfg.userId && cfg.userHash ? cfg.userId : null;
      const sameUser = (stored.user_id || null) === wantUser;
      const exp = Date.parse(stored.expires_at || "");
      if (stored.visitor_token && stored.session_id && sameUser && exp > Date.now()) {
        session = { token: stored.visitor_token, session_id: stored.session_id, expires_at: stored.expires_at };
        if (exp - Date.now() < DAY) {
          try {
            return adoptVisitor(await refresh(stored.visitor_token));
          } catch (e) {
            if (e.status === 401 || e.status === 403) return adoptVisitor(await register());
            return session; // a network hiccup: the old token is still valid
          }
        }
        scheduleRefresh();
        return session;
      }
      if (!sameUser) {
        stored = {};
        save();
      }
      return adoptVisitor(await register());
    })();
    sessionPromise.catch((e) => {
      sessionPromise = null;
      session = null;
      const s = e && e.status;
      setStatus(
        s === 429
          ? "Too many attempts: please try again in a minute"
          : s === 403
            ? "Chat is not available on this site"
            : "Chat is unavailable right now: please try again later",
        "error"
      );
    });
    return sessionPromise;
  };

  let ioPromise = null;
  const loadIo = () => {
    if (typeof window.io === "function") return Promise.resolve(window.io);
    if (ioPromise) return ioPromise;
    ioPromise = new Promise((resolve, reject) => {
      const s = document.createElement("script");
      s.src = new URL("/vendor/socket.io.min.js", scriptUrl).href;
      s.async = true;
      s.addEventListener("load", () =>
        typeof window.io === "function" ? resolve(window.io) : reject(new Error("socket.io missing"))
      );
      s.addEventListener("error", () => reject(new Error("socket.io failed to load")));
      (document.head || document.documentElement).append(s);
    });
    ioPromise.catch(() => {
      ioPromise = null;
    });
    return ioPromise;
  };

  const resumeMap = () => (chatId && !ended ? { [chatId]: lastSeq } : {});

  const authHeaders = () => (session ? { Authorization: "Bearer " + session.token } : {});

  /* The greeting before the first message: who is there to answer. */
  let statusChecked = 0; // when the last check started (again on an open after 30 s)
  const checkStatus = async () => {
    if (Date.now() - statusChecked < 30e3) return;
    statusChecked = Date.now();
    try {
      const q = new URLSearchParams();
      if (cfg.dept) q.set("dept", cfg.dept);
      let headers = {};
      if (cfg.token) headers = { Authorization: "Bearer " + cfg.token };
      else q.set("widget_key", cfg.widgetKey);
      const r = await jsonFetch(api + "/status?" + q.toString(), { headers });
      const d = r.body && (r.body.data || r.body);
      if (!r.ok || !d || typeof d.agents_online !== "number") return;
      agentsOnline = d.agents_online;
      renderAgent();
      if (messages.size || pendings.size || chatId) return;
      introTitle.textContent = "Hi there!";
      if (agentsOnline === 0) {
        introText.textContent = "Tell us what you need: your message reaches the team as soon as someone is back.";
        setStatus(queueText(0, 0), "info");
      } else {
        introText.textContent = "Ask us anything: someone from our team will answer in a few minutes.";
        if (baseStatus && baseStatus.kind === "info") setStatus(null);
      }
    } catch (_) {
      statusChecked = 0;
    }
  };

  /* After the first connect: the conversation to show (the stored one, or the open one). */
  /* On every connect: which conversation to show and in what state (the stored one, or the open one),
   * from the REST list; the first time with its history. A reconnect learns here what it missed while
   * away that resume does not replay: a close, a transfer, a conversation the relay lost. */
  const syncConversation = async () => {
    const first = !loadedConversation;
    loadedConversation = true;
    const before = chatId;
    let list = null;
    try {
      const r = await jsonFetch(api + "/customer/" + encodeURIComponent(session.session_id) + "/conversations/", {
        headers: authHeaders(),
      });
      const data = r.ok && r.body ? (Array.isArray(r.body) ? r.body : r.body.data) : null;
      if (Array.isArray(data)) list = data.filter((c) => c && typeof c.ticket_chat_id === "string");
    } catch (_) {
      list = null;
    }
    if (chatId !== before) return; // this page view started or changed one meanwhile: it knows better
    if (!list) {
      if (first && chatId && !ended) await fetchHistory(Math.max(0, lastSeq - 50), 50, false);
      return;
    }
    if (ended) return;
    let conv = chatId ? list.find((c) => c.ticket_chat_id === chatId) : null;
    if (chatId && !conv) {
      resetConversation(true); // gone (e.g. the relay's memory store restarted): start afresh
    }
    if (!conv && !pendings.size) {
      conv = list.find((c) => c.status !== "closed") || null; // another tab's, or the last visit's
      if (conv) adoptChat(conv.ticket_chat_id);
    }
    if (!conv) {
      if (isOpen) checkStatus();
      return;
    }
    const fresh = first || conv.ticket_chat_id !== before;
    if (conv.agent && conv.agent.name && (!agent || agent.id !== conv.agent.id)) {
      agent = { id: conv.agent.id, name: conv.agent.name };
      renderAgent();
    }
    if (fresh) {
      const last = typeof conv.last_seq === "number" ? conv.last_seq : lastSeq;
      await fetchHistory(Math.max(0, last - 50), 50, false);
      if (chatId !== conv.ticket_chat_id) return;
    }
    if (conv.status === "closed") showEnded();
    else if (conv.status === "assigned" && agent) {
      chatState = "assigned";
      if (!baseStatus || baseStatus.kind !== "ok" || baseStatus.text.indexOf(agent.name) !== 0)
        setStatus(`${agent.name} joined the chat`, "ok");
    } else if (conv.status === "queued" && !queuedSeen.has(conv.ticket_chat_id) && baseStatus && baseStatus.kind === "info") {
      setStatus(null); // the greeting's offline text; the queued event says more
    }
    if (fresh) scrollToBottom();
  };

  const fetchHistory = (afterSeq, limit, older) =>
    new Promise((resolve) => {
      if (!socket || !chatId) return resolve();
      const id = chatId;
      socket.timeout(10000).emit("history", { ticket_chat_id: id, after_seq: afterSeq, limit }, (err, ack) => {
        if (!err && ack && ack.status_code === 200 && Array.isArray(ack.data) && chatId === id) {
          const before = log.scrollHeight - log.scrollTop;
          for (const m of ack.data) addMessage(m, true);
          if (older) log.scrollTop = log.scrollHeight - before;
        }
        resolve();
      });
    });

  const firstSeq = () => {
    let min = Infinity;
    for (const { msg } of messages.values()) if (msg.seq < min) min = msg.seq;
    return min;
  };
  const maybeLoadOlder = async () => {
    if (loadingOlder || !chatId || log.scrollTop > 40) return;
    const first = firstSeq();
    if (!isFinite(first) || first <= 1) return;
    loadingOlder = true;
    olderEl.hidden = false;
    const after = Math.max(0, first - 1 - 50);
    await fetchHistory(after, first - 1 - after, true);
    olderEl.hidden = true;
    loadingOlder = false;
  };

  const connect = () => {
    if (connecting) return connecting;
    connecting = (async () => {
      const s = await ensureSession();
      const io = await loadIo();
      const opts = { auth: { token: s.token, resume: resumeMap() } };
      if (cfg.transports) opts.transports = cfg.transports;
      socket = io(relay + "/helpdesk", opts);
      wireSocket(socket);
      return socket;
    })();
    connecting.catch(() => {
      connecting = null;
      if (!baseStatus) setStatus("Chat is unavailable right now: please try again later", "error");
    });
    return connecting;
  };

  const wireSocket = (sk) => {
    sk.on("connect", () => {
      everConnected = true;
      authRetries = 0;
      connStatus = null;
      renderStatus();
      syncConversation();
      markRead();
      inFlight = null;
      pump();
    });
    sk.on("disconnect", (reason) => {
      inFlight = null;
      sk.auth.resume = resumeMap();
      sk.auth.token = session ? session.token : sk.auth.token;
      hideTyping();
      if (reason === "io client disconnect") return;
      connStatus = { text: "Reconnecting…", kind: "warn" };
      renderStatus();
      if (reason === "io server disconnect") {
        // socket.io does not come back by itself from this one: do, a little later (a refused
        // token then shows as connect_error, handled below)
        setTimeout(() => {
          if (!sk.connected) sk.connect();
        }, 1000 + Math.random() * 2000);
      }
    });
    sk.io.on("reconnect_attempt", () => {
      sk.auth.resume = resumeMap();
      if (session) sk.auth.token = session.token;
    });
    sk.on("connect_error", () => {
      if (sk.active) {
        // a transport error: socket.io retries on its own
        if (everConnected || !connStatus) {
          connStatus = { text: "Reconnecting…", kind: "warn" };
          renderStatus();
        }
        return;
      }
      // refused by the relay (CONNECT_ERROR): a token problem; renew once or twice
      if (cfg.token || authRetries >= 2) {
        connStatus = { text: "Chat is unavailable right now: please try again later", kind: "error" };
        renderStatus();
        return;
      }
      authRetries++;
      session = null;
      sessionPromise = null;
      renewSession()
        .then((s) => {
          sk.auth.token = s.token;
          sk.auth.resume = resumeMap();
          sk.connect();
        })
        .catch(() => {
          connStatus = { text: "Chat is unavailable right now: please try again later", kind: "error" };
          renderStatus();
        });
    });

    sk.on("support", (body) => {
      if (!body || body.status_code !== 200 || !body.data) return; // failures come with the ack too
      const m = body.data;
      if (!chatId || ended) {
        if (ended && m.ticket_chat_id === chatId) return addMessage(m, false);
        if (ended) clearConversation();
        adoptChat(m.ticket_chat_id);
      }
      if (m.ticket_chat_id !== chatId) return;
      addMessage(m, false);
    });

    sk.on("assigned", (a) => {
      if (!a || !a.agent) return;
      if (!chatId && (pendings.size || messages.size)) adoptChat(a.ticket_chat_id);
      if (a.ticket_chat_id !== chatId || ended) return;
      agent = { id: a.agent.id, name: a.agent.name || "An agent" };
      chatState = "assigned";
      queuedSeen.delete(a.ticket_chat_id);
      renderAgent();
      setStatus(`${agent.name} joined the chat`, "ok");
    });

    sk.on("typing", (t) => {
      if (!t || t.ticket_chat_id !== chatId || ended) return;
      if (t.typing) showTyping();
      else hideTyping();
    });

    sk.on("queued", (q) => {
      if (!q || typeof q.ticket_chat_id !== "string") return;
      queuedSeen.set(q.ticket_chat_id, q);
      if (!chatId && (pendings.size || messages.size)) adoptChat(q.ticket_chat_id);
      else applyQueued(q);
    });

    sk.on("closed", (c) => {
      if (!c || c.ticket_chat_id !== chatId || ended) return;
      showEnded();
    });
  };

  /* ---------------------------------------------------------------- sending */

  const newId = () => {
    try {
      return crypto.randomUUID();
    } catch (_) {
      return "c" + Date.now().toString(36) + Math.random().toString(36).slice(2, 12);
    }
  };

  const markFailed = (p, text, retryable) => {
    p.failed = true;
    outbox = outbox.filter((x) => x !== p);
    p.el.classList.remove("pending");
    p.el.classList.add("failed");
    p.el.removeAttribute("data-pending");
    p.el.dataset.failed = "true";
    const errBox = el("div", { class: "error", role: "alert" }, el("span", { text: text }));
    if (retryable) {
      const retry = el("button", { type: "button", class: "linkish", text: "Retry" });
      retry.addEventListener("click", () => {
        errBox.remove();
        p.failed = false;
        p.attempts = 0;
        p.el.classList.remove("failed");
        p.el.classList.add("pending");
        p.el.dataset.pending = "true";
        delete p.el.dataset.failed;
        outbox.push(p);
        start().then(pump, () => {});
      });
      errBox.append(retry);
    }
    const old = p.el.querySelector(".error");
    if (old) old.remove();
    p.el.append(errBox);
    regroup();
  };

  const handleAck = (p, ack) => {
    if (ack && ack.status_code === 200 && ack.data) {
      if (!chatId || ended) adoptChat(ack.data.ticket_chat_id);
      if (ack.data.ticket_chat_id === chatId) addMessage(ack.data, false);
      return;
    }
    const code = ack && ack.status_code;
    const msg = (ack && ack.error && ack.error.message) || "The message could not be sent";
    if (code === 404 && p.sentTo) {
      // the relay no longer knows the conversation: send it again as the start of a new one
      resetConversation(true);
      p.attempts = 0;
      if (!outbox.includes(p)) outbox.unshift(p);
      return;
    }
    if (code === 409) {
      // the conversation ended meanwhile: offer it again in a new one
      pendings.delete(p.cid);
      outbox = outbox.filter((x) => x !== p);
      p.el.remove();
      renderIntro();
      showEnded();
      if (!input.value) input.value = p.text;
      autosize();
      updateSendState();
      return;
    }
    markFailed(p, msg, code === 429 || code === 503 || code === 401 || !code);
  };

  function pump() {
    if (inFlight || !socket || !socket.connected || !session) return;
    const p = outbox[0];
    if (!p) return;
    inFlight = p;
    p.attempts++;
    const payload = {
      session_id: session.session_id,
      message: p.text,
      attachment: false,
      ticket_chat_id: chatId && !ended ? chatId : null,
      client_msg_id: p.cid,
    };
    p.sentTo = payload.ticket_chat_id;
    const sk = socket;
    sk.timeout(15000).emit("support", payload, (err, ack) => {
      if (inFlight !== p) return; // superseded by a reconnect: it is sent again from there
      inFlight = null;
      if (err) {
        if (!sk.connected) return; // sent again (same client_msg_id) once reconnected
        if (p.attempts < 3) return pump();
        markFailed(p, "Not delivered: check your connection", true);
        return pump();
      }
      if (ack && ack.status_code === 401) {
        // the token ended: renew, reconnect, and send again with the same id
        renewSession()
          .then((s) => {
            sk.disconnect();
            sk.auth.token = s.token;
            sk.auth.resume = resumeMap();
            sk.connect();
          })
          .catch(() => markFailed(p, "Your session ended: please reload the page", false));
        return;
      }
      handleAck(p, ack);
      pump();
    });
  }

  const send = () => {
    const text = input.value.replace(/\s+$/, "");
    if (!text.trim()) return;
    if (ended) {
      clearConversation();
    }
    stopTyping();
    input.value = "";
    autosize();
    updateSendState();
    const cid = newId();
    const node = makeMsgEl("customer");
    node.classList.add("pending");
    node.dataset.id = cid;
    node.dataset.pending = "true";
    node.dataset.who = "customer:" + (session ? session.session_id : "");
    const bubble = el("div", { class: "bubble" });
    fillText(bubble, text);
    node.append(bubble);
    log.append(node);
    const p = { cid, text, el: node, attempts: 0, failed: false };
    pendings.set(cid, p);
    outbox.push(p);
    regroup();
    renderIntro();
    scrollToBottom();
    if (baseStatus && baseStatus.kind === "error") setStatus(null);
    start().then(pump, () => markFailed(p, "Chat is unavailable right now", true));
  };

  /* ---------------------------------------------------------------- composer */

  const autosize = () => {
    input.style.height = "auto";
    input.style.height = Math.min(input.scrollHeight, 132) + "px";
  };
  const updateSendState = () => {
    sendBtn.setAttribute("aria-disabled", input.value.trim() ? "false" : "true");
  };
  input.addEventListener("input", () => {
    autosize();
    updateSendState();
    onInputActivity();
  });
  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
      e.preventDefault();
      send();
    }
  });
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    send();
    input.focus();
  });
  input.addEventListener("blur", stopTyping);

  newBtn.addEventListener("click", () => {
    clearConversation();
    statusChecked = 0;
    checkStatus();
    input.focus();
  });

  log.addEventListener("scroll", () => {
    if (log.scrollTop < 40) maybeLoadOlder();
  });

  /* ---------------------------------------------------------------- open / close */

  const start = () => connect();

  const open = (fromUser) => {
    if (isOpen) return;
    isOpen = true;
    root.classList.add("open");
    launcher.setAttribute("aria-expanded", "true");
    renderBadge();
    start().catch(() => {});
    if (!chatId && !messages.size) checkStatus();
    requestAnimationFrame(() => {
      scrollToBottom();
      if (fromUser) input.focus({ preventScroll: true });
    });
    markRead();
  };
  const close = () => {
    if (!isOpen) return;
    const hadFocus = shadow.activeElement && panel.contains(shadow.activeElement);
    isOpen = false;
    root.classList.remove("open");
    launcher.setAttribute("aria-expanded", "false");
    stopTyping();
    renderBadge();
    if (hadFocus) launcher.focus({ preventScroll: true });
  };

  launcher.addEventListener("click", () => (isOpen ? close() : open(true)));
  minBtn.addEventListener("click", close);
  root.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && isOpen) {
      e.stopPropagation();
      close();
      launcher.focus({ preventScroll: true });
    }
  });
  document.addEventListener("visibilitychange", markRead);

  // another tab of this visitor read the conversation, or registered
  window.addEventListener("storage", (e) => {
    if (e.key !== storeKey) return;
    const next = loadStored();
    if (next.session_id && next.session_id === (session && session.session_id) && next.visitor_token) {
      session.token = next.visitor_token;
      session.expires_at = next.expires_at;
      stored.visitor_token = next.visitor_token;
      stored.expires_at = next.expires_at;
    }
    if (next.ticket_chat_id === chatId && (next.read_seq || 0) > readSeq) {
      readSeq = next.read_seq;
      stored.read_seq = readSeq;
      let n = 0;
      for (const { msg } of messages.values()) if (senderType(msg) !== "customer" && msg.seq > readSeq) n++;
      unread = n;
      renderBadge();
    }
  });

  /* ---------------------------------------------------------------- public API */

  window.SwitchboardWidget = Object.freeze({
    open: () => open(false),
    close,
    get sessionId() {
      return session ? session.session_id : stored.session_id || null;
    },
    get chatId() {
      return chatId;
    },
    get transport() {
      try {
        return socket && socket.io.engine && socket.io.engine.transport ? socket.io.engine.transport.name : null;
      } catch (_) {
        return null;
      }
    },
  });

  /* ---------------------------------------------------------------- boot */

  if (stored.ticket_chat_id && (cfg.token || stored.visitor_token)) {
    chatId = stored.ticket_chat_id;
    lastSeq = stored.last_seq || 0;
    readSeq = readSent = Math.min(stored.read_seq || 0, lastSeq);
  }
  renderAgent();
  renderBadge();
  if (cfg.token || (stored.visitor_token && Date.parse(stored.expires_at || "") > Date.now())) start().catch(() => {});
  if (cfg.openAtLoad) open(false);
})();
