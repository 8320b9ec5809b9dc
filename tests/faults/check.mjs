// check.mjs: what the fault harness concludes from the clients' own records and the REST
// history, per fault window, and the table it prints.
//
// A message belongs to the window in which its first attempt started; a window runs from its
// fault's start to the next fault's start. For every acknowledged message:
//   stored   its `id` is in its conversation's history exactly once, with the acked `seq`,
//            and its `client_msg_id` is there once; every history is seq 1..n with no gap;
//   live     the other party of the conversation (the agent for a customer's message, the
//            customer for an agent's reply) received it as a `support` event, by `id`, at
//            least once (the repeats are counted as duplicates, allowed by the contract);
// and for every fault: every customer has a send acknowledged within RECOVERY_LIMIT of the
// moment the fault was undone (time to recover = the slowest customer).

const fmtS = (msv) => (msv === null ? "-" : !Number.isFinite(msv) ? "never" : `${(msv / 1000).toFixed(1)} s`);

async function restJson(node, path, apiKey) {
  const res = await fetch(`${node.url}/api/v1/helpdesk${path}`, {
    headers: { authorization: `Bearer ${apiKey}` }, signal: AbortSignal.timeout(5000),
  });
  const body = await res.json().catch(() => null);
  if (res.status !== 200) throw new Error(`GET ${path} on ${node.name}: ${res.status} ${JSON.stringify(body)?.slice(0, 200)}`);
  return body;
}

// Every message of chat, in seq order, page by page, from whichever node answers.
export async function fetchHistory(nodes, chat, apiKey) {
  let lastErr;
  for (let attempt = 0; attempt < 3 * nodes.length; attempt++) {
    const node = nodes[(attempt + chat.length) % nodes.length];
    try {
      const all = [];
      for (;;) {
        const after = all.length ? all.at(-1).seq : 0;
        const body = await restJson(node, `/conversations/${encodeURIComponent(chat)}/messages/?after_seq=${after}&limit=200`, apiKey);
        all.push(...body.data);
        if (body.data.length < 200) return all;
      }
    } catch (e) {
      lastErr = e;
      await new Promise((r) => setTimeout(r, 300));
    }
  }
  throw lastErr;
}

function windowOf(windows, t) {
  let w = windows[0];
  for (const x of windows) if (x.start <= t) w = x;
  return w;
}

// Did party keep its connection from `from` to `to` (no disconnect in between)?
function noDisconnect(party, from, to) {
  return !party.conn.some((c) => c.type === "disconnect" && c.at >= from && c.at <= to);
}

// The node party was connected to at time t (its last connect before t).
function nodeAt(party, t) {
  return party.conn.filter((c) => c.type === "connect" && c.at <= t).at(-1)?.node ?? "no node";
}

export async function analyse({ customers, agents, windows, nodes, apiKey, recoveryLimitMs }) {
  const failures = [];
  const notes = [];
  const rows = windows.map((w) => ({
    w, acked: 0, lostStored: 0, lostLive: 0, dupDelivered: 0, n503: 0, retries: 0, others: 0, recover: null, longestWait: null,
  }));
  const rowOf = (t) => rows[windows.indexOf(windowOf(windows, t))];
  const parties = [...customers, ...agents];

  // Who is the other party of each conversation.
  const customerOf = new Map();
  for (const c of customers) {
    for (const m of c.msgs) if (m.data) customerOf.set(m.data.ticket_chat_id, c);
  }
  const agentOf = new Map();
  for (const a of agents) for (const chat of a.chats.keys()) agentOf.set(chat, a);
  for (const a of agents) {
    for (const r of a.receipts) if (!agentOf.has(r.chat) && customerOf.has(r.chat)) agentOf.set(r.chat, a);
  }
  const unassigned = [...customerOf.keys()].filter((chat) => !agentOf.has(chat));
  if (unassigned.length) failures.push(`${unassigned.length} conversation(s) never reached an agent (no \`assigned\`, no message): ${unassigned.slice(0, 5).join(", ")}`);

  // Every attempt: 503s and other retries per window.
  const all = parties.flatMap((p) => p.msgs);
  for (const rec of all) {
    for (const a of rec.attempts) {
      const row = rowOf(a.start);
      if (a.outcome === "503") row.n503++;
      else if (a.outcome === "timeout" || a.outcome === "disconnect") row.retries++;
      else if (a.outcome !== "200") row.others++;
    }
  }
  const otherAnswers = all.flatMap((r) => r.attempts.filter((a) => !["200", "503", "timeout", "disconnect"].includes(a.outcome)).map((a) => `${r.cmid}: ${a.outcome} ${a.error ?? ""}`));
  if (otherAnswers.length) failures.push(`${otherAnswers.length} answer(s) other than 200/503: ${otherAnswers.slice(0, 5).join("; ")}`);

  // The stored side.
  const acked = all.filter((r) => r.data);
  const chats = new Set(acked.map((r) => r.data.ticket_chat_id));
  const histories = new Map();
  for (const chat of chats) {
    try {
      histories.set(chat, await fetchHistory(nodes, chat, apiKey));
    } catch (e) {
      failures.push(`history of ${chat} unreadable: ${e.message}`);
    }
  }
  let storedMessages = 0;
  const lostStoredEx = [], lostLiveEx = [];
  for (const [chat, hist] of histories) {
    storedMessages += hist.length;
    const gaps = hist.map((m, i) => (m.seq === i + 1 ? null : `position ${i + 1} has seq ${m.seq}`)).filter(Boolean);
    if (gaps.length) failures.push(`${chat}: seq not 1..n without gaps (${gaps.slice(0, 3).join(", ")})`);
    const ids = new Map(), cmids = new Map();
    for (const m of hist) {
      ids.set(m.id, (ids.get(m.id) ?? 0) + 1);
      if (m.client_msg_id) cmids.set(m.client_msg_id, (cmids.get(m.client_msg_id) ?? 0) + 1);
    }
    for (const [id, n] of ids) if (n > 1) failures.push(`${chat}: id ${id} stored ${n} times`);
    for (const [cmid, n] of cmids) if (n > 1) failures.push(`${chat}: client_msg_id ${cmid} stored ${n} times`);
    hist.byId = new Map(hist.map((m) => [m.id, m]));
    hist.byCmid = new Map(hist.map((m) => [m.client_msg_id, m]));
  }

  for (const rec of acked) {
    const m = rec.data;
    const row = rowOf(rec.attempts[0].start);
    row.acked++;
    const hist = histories.get(m.ticket_chat_id);
    const stored = hist?.byId.get(m.id);
    if (!stored) {
      row.lostStored++;
      const other = hist?.byCmid.get(rec.cmid);
      lostStoredEx.push(`${rec.cmid} (${m.ticket_chat_id} seq ${m.seq}, window "${row.w.name}")${other ? `: stored under another id, ${other.id} seq ${other.seq}` : ""}`);
    } else if (stored.seq !== m.seq || stored.client_msg_id !== rec.cmid) {
      failures.push(`${rec.cmid}: acked as seq ${m.seq}, stored as seq ${stored.seq} with client_msg_id ${stored.client_msg_id}`);
    }
    // Live: the other party.
    const other = rec.from.role === "customer" ? agentOf.get(m.ticket_chat_id) : customerOf.get(m.ticket_chat_id);
    const n = other?.received.get(m.id) ?? 0;
    if (n === 0) {
      row.lostLive++;
      const ackAt = rec.attempts.at(-1).end;
      const steady = other ? noDisconnect(other, rec.attempts[0].start - 2000, ackAt + 2000) : false;
      lostLiveEx.push({ window: row.w.name, first: m.seq === 1, steady, text: `${rec.cmid} (${m.ticket_chat_id} seq ${m.seq}, window "${row.w.name}", sent via ${rec.attempts.at(-1).node}` +
        ` ${((ackAt - row.w.start) / 1000).toFixed(1)} s into it) never reached ${other ? `${other.id} (on ${nodeAt(other, ackAt)})` : "any agent"}` +
        `${other ? (steady ? ", connected throughout" : ", which had a disconnect around then") : ""}` });
    }
    for (const p of [rec.from, other].filter(Boolean)) row.dupDelivered += Math.max(0, (p.received.get(m.id) ?? 0) - 1);
  }

  // Recovery: per fault, the slowest customer's first ack after the fault was undone, and
  // the longest any customer waited between two acks around it.
  const ackTimes = new Map(customers.map((c) => [c, c.msgs.filter((r) => r.data).map((r) => r.attempts.at(-1).end).sort((a, b) => a - b)]));
  for (const row of rows) {
    const w = row.w;
    const until = w.end;
    let longest = 0;
    for (const times of ackTimes.values()) {
      let prev = times.filter((t) => t <= w.start).at(-1) ?? w.start;
      for (const t of times) {
        if (t <= w.start) continue;
        longest = Math.max(longest, Math.min(t, until) - prev);
        prev = t;
        if (t >= until) break;
      }
      if (prev < until) longest = Math.max(longest, until - prev);
    }
    row.longestWait = longest;
    if (w.restored === undefined) continue;
    let worst = 0, slow = [];
    for (const [c, times] of ackTimes) {
      const t = times.find((x) => x >= w.restored);
      const d = t === undefined ? Infinity : t - w.restored;
      worst = Math.max(worst, d);
      if (d > recoveryLimitMs) slow.push(`${c.id} (${fmtS(d)}, on ${nodeAt(c, w.restored)})`);
    }
    row.recover = worst;
    if (slow.length) failures.push(`${w.name}: ${slow.length} customer(s) not served within ${fmtS(recoveryLimitMs)} of the fault's end: ${slow.slice(0, 5).join(", ")}`);
  }

  const total = rows.reduce((t, r) => ({
    acked: t.acked + r.acked, lostStored: t.lostStored + r.lostStored, lostLive: t.lostLive + r.lostLive,
    dupDelivered: t.dupDelivered + r.dupDelivered, n503: t.n503 + r.n503, retries: t.retries + r.retries, others: t.others + r.others,
  }), { acked: 0, lostStored: 0, lostLive: 0, dupDelivered: 0, n503: 0, retries: 0, others: 0 });
  if (total.lostStored) failures.push(`${total.lostStored} acknowledged message(s) not stored: ${lostStoredEx.slice(0, 8).join("; ")}`);
  if (total.lostLive) {
    const first = lostLiveEx.filter((x) => x.first).length;
    const steady = lostLiveEx.filter((x) => !x.first && x.steady).length;
    const perWindow = new Map();
    for (const x of lostLiveEx) perWindow.set(x.window, [...(perWindow.get(x.window) ?? []), x]);
    const examples = [...perWindow.values()].flatMap((xs) => xs.slice(0, 3)).map((x) => x.text);
    failures.push(`${total.lostLive} acknowledged message(s) never delivered live to the other party ` +
      `(${first} the first message of a conversation; of the others, ${steady} to a party connected throughout, ` +
      `${total.lostLive - first - steady} to one that had a disconnect around then); up to 3 per window:\n    ${examples.join("\n    ")}`);
  }
  const gaveUp = all.filter((r) => r.gaveUp && !r.data).length;
  if (gaveUp) notes.push(`${gaveUp} send(s) still unacknowledged when the run stopped retrying (not counted as acked)`);
  const failureNotices = parties.reduce((n, p) => n + p.failures.length, 0);
  const reconnects = parties.reduce((n, p) => n + p.conn.filter((c) => c.type === "connect").length - 1, 0);
  notes.push(`${acked.length} messages acknowledged (${storedMessages} stored in ${histories.size} conversations), ` +
    `${parties.reduce((n, p) => n + p.receipts.length, 0)} support events received, ${reconnects} reconnections, ` +
    `${failureNotices} failure notices as \`support\` events`);
  return { rows, total, failures, notes };
}

export function formatTable(rows, total) {
  const head = ["fault", "acked", "lost stored", "lost live", "dup delivered", "503", "t/o+disc", "4xx", "recover", "longest wait"];
  const body = rows.map((r) => [r.w.name, r.acked, r.lostStored, r.lostLive, r.dupDelivered, r.n503, r.retries, r.others, fmtS(r.recover), fmtS(r.longestWait)]);
  body.push(["total", total.acked, total.lostStored, total.lostLive, total.dupDelivered, total.n503, total.retries, total.others, "", ""]);
  const cells = [head, ...body].map((r) => r.map(String));
  const width = head.map((_, i) => Math.max(...cells.map((r) => r[i].length)));
  const line = (r) => `| ${r.map((c, i) => (i === 0 ? c.padEnd(width[i]) : c.padStart(width[i]))).join(" | ")} |`;
  return [line(cells[0]), `| ${width.map((w, i) => (i === 0 ? "-".repeat(w) : `${"-".repeat(w - 1)}:`)).join(" | ")} |`, ...cells.slice(1).map(line)].join("\n");
}
