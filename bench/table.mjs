// table.mjs: the side-by-side table of a bench/run, from its JSON lines (one per workload
// and side): ours, reference, the machine's floor (sb-floor), ours/reference, ours/floor,
// then where each target of the benchmark (issue 9) stands, met or not met, with the figure.
//
//   node bench/table.mjs build/bench/results.jsonl
//
// A run that failed verification shows FAILED instead of its figures. A fixed-rate run the
// server could not keep up with, and nothing else wrong (sb-loadgen's "saturated": acks and
// deliveries still queued when the drain gave up), shows "saturated (N unanswered)" on its
// result row and its figures in parentheses.
import { readFileSync } from "node:fs";

const rows = readFileSync(process.argv[2], "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l));
const find = (workload, server) => rows.find((r) => r.workload === workload && r.server === server);

const fmt = (v, unit) => {
  if (v === undefined || v === null) return "-";
  if (unit === "us")
    return v >= 1e6 ? `${(v / 1e6).toFixed(2)} s` : v >= 10000 ? `${(v / 1000).toFixed(1)} ms` : `${Math.round(v)} us`;
  if (unit === "us1") return `${v.toFixed(1)} us`;
  if (unit === "n2") return v.toFixed(2);
  if (unit === "B") return `${Math.round(v)} B`;
  if (unit === "s") return `${v.toFixed(2)} s`;
  return Math.round(v).toLocaleString("en-US");
};
const get = (r, path) => path.split(".").reduce((o, k) => (o == null ? undefined : o[k]), r);

// Whose figures the "ours" column holds, where that is not ours with Redis.
const OURS_OF = { "chat-rate-embedded": "ours-embedded", storm: "ours-embedded" };

// [workload, label, field, unit, options]: NO_FLOOR when the floor has no such cost; SHOW
// to show the figure of a failed run too (as "FAILED (figure)"); INPUT for what the run
// was given (never in parentheses). The field "result" is the run's verdict: ok, FAILED,
// or saturated (N unanswered).
const NO_FLOOR = { noFloor: true };
const SHOW = { show: true };
const INPUT = { input: true }; // what the run was given, not what it measured
const RATE_METRICS = (w) => [
  [w, "result", "result", ""],
  [w, "offered customer messages/s", "offered_per_s", "", INPUT],
  [w, "stored messages/s", "stored_per_s", ""],
  [w, "ack latency p50", "ack_us.p50", "us"],
  [w, "ack latency p99", "ack_us.p99", "us"],
  [w, "ack latency p99.9", "ack_us.p999", "us"],
  [w, "round trip p99", "rtt_us.p99", "us"],
  [w, "server CPU per stored message", "server_cpu_us_per_msg", "us1"],
  [w, "syscalls per stored message", "syscalls_per_msg", "n2"],
];
const METRICS = [
  ["idle", "RSS per idle websocket", "bytes_per_connection", "B"],
  ["idle", "connects/s", "connects_per_s", ""],
  ["chat", "stored messages/s (closed loop)", "stored_per_s", ""],
  ["chat", "deliveries/s", "deliveries_per_s", ""],
  ["chat", "ack latency p50", "ack_us.p50", "us"],
  ["chat", "ack latency p99", "ack_us.p99", "us"],
  ["chat", "round trip p99", "rtt_us.p99", "us"],
  ["chat", "server CPU per stored message", "server_cpu_us_per_msg", "us1"],
  ["chat", "syscalls per stored message", "syscalls_per_msg", "n2"],
  ["chat", "Redis CPU per stored message", "redis_cpu_us_per_msg", "us1", NO_FLOOR],
  ...RATE_METRICS("chat-rate"),
  ...RATE_METRICS("chat-rate-embedded"),
  ...RATE_METRICS("chat-moderate"),
  ["chat-moderate", "Redis CPU per stored message", "redis_cpu_us_per_msg", "us1", NO_FLOOR],
  ["storm", "clients per wave (ours: embedded)", "first_wave_connections", "", SHOW],
  ["storm", "first wave: connect time", "first_wave_connect_s", "s", SHOW],
  ["storm", "first wave: failed", "first_wave_failed", "", SHOW],
  ["storm", "all dropped in", "drop_s", "s", SHOW],
  ["storm", "second wave: reconnect time", "connect_s", "s", SHOW],
  ["storm", "second wave: connects/s", "connects_per_s", "", SHOW],
  ["storm", "second wave: failed", "failed", "", SHOW],
  ["fanout", "deliveries/s", "deliveries_per_s", ""],
  ["fanout", "delivery latency p50", "latency_us.p50", "us"],
  ["fanout", "delivery latency p99", "latency_us.p99", "us"],
  ["fanout", "server CPU per delivery", "server_cpu_us_per_delivery", "us1"],
  ["cluster", "stored messages/s (2 nodes)", "stored_per_s", ""],
  ["cluster", "ack latency p50", "ack_us.p50", "us"],
  ["cluster", "ack latency p99", "ack_us.p99", "us"],
  ["cluster", "round trip p99", "rtt_us.p99", "us"],
  ["cluster", "server CPU per stored message", "server_cpu_us_per_msg", "us1"],
  ["idle-many", "idle websockets held", "connections", ""],
  ["idle-many", "RSS per idle websocket", "bytes_per_connection", "B"],
  ["idle-many", "connects/s", "connects_per_s", ""],
];

const saturated = (r) => !!r && r.ok === false && r.saturated === true;
const verdict = (r) =>
  !r ? "-" : r.ok ? "ok" : saturated(r) ? `saturated (${fmt(r.unanswered)} unanswered)` : "FAILED";

// a value counted only where a tool could count it (perf) is n/a where it could not
const cell = (r, m) => {
  if (!r) return "-";
  if (m[2] === "result") return verdict(r);
  const v = get(r, m[2]);
  const s = v === undefined && m[3] === "n2" ? "n/a" : fmt(v, m[3]);
  if (saturated(r)) return m[4]?.input ? s : `(${s})`;
  if (r.ok === false) return m[4]?.show && v !== undefined ? `FAILED (${s})` : "FAILED";
  return s;
};
const value = (r, m) => (r?.ok || saturated(r) ? get(r, m[2]) : undefined);
const ratio = (a, b, ra, rb, m) => {
  if (a === undefined || !b) return "-";
  const s = (a / b).toFixed(2);
  return (saturated(ra) || saturated(rb)) && !m[4]?.input ? `(${s})` : s;
};
const out = [["workload", "metric", "ours", "reference", "floor", "ours/ref", "ours/floor"]];
for (const m of METRICS) {
  const oursName = OURS_OF[m[0]] ?? "ours";
  const ours = find(m[0], oursName), ref = find(m[0], "reference");
  const floor = m[4]?.noFloor ? undefined : find(m[0], "floor");
  if (!ours && !ref && !floor) continue;
  const result = m[2] === "result";
  const a = value(ours, m), b = value(ref, m), f = value(floor, m);
  out.push([m[0], m[1], cell(ours, m), cell(ref, m), cell(floor, m),
    result ? "" : ratio(a, b, ours, ref, m), result ? "" : ratio(a, f, ours, floor, m)]);
  const emb = oursName === "ours" ? find(m[0], "ours-embedded") : undefined;
  if (emb) {
    const e = value(emb, m);
    out.push(["", `  ours, embedded (no Redis)`, cell(emb, m), cell(ref, m), cell(floor, m),
      result ? "" : ratio(e, b, emb, ref, m), result ? "" : ratio(e, f, emb, floor, m)]);
  }
}
const widths = out[0].map((_, i) => Math.max(...out.map((r) => String(r[i]).length)));
const line = (r) => r.map((c, i) => (i < 2 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join("  ");
console.log("\n" + line(out[0]));
console.log(widths.map((w) => "-".repeat(w)).join("  "));
for (const r of out.slice(1)) console.log(line(r));
const notes = [];
const embeddedOnly = Object.keys(OURS_OF).filter((w) => rows.some((r) => r.workload === w));
if (embeddedOnly.length)
  notes.push(`ours in ${embeddedOnly.join(" and ")}: the embedded mode (no Redis); everywhere else ours runs with --redis unless marked embedded`);
if (rows.some((r) => r.server === "floor"))
  notes.push("floor: sb-floor (bench/floor), a bare epoll server doing only what the load generator checks: no auth, no validation, no storage; not a product");
if (rows.some(saturated))
  notes.push("saturated: the offered rate was more than that server could serve; figures in parentheses are for what it did serve (the rest was still queued when the load generator's drain gave up)");
if (notes.length) console.log("\n" + notes.join("\n"));

// The load generator's own ceiling: stored messages (or deliveries) per second of its CPU.
const ceilings = rows.filter((r) => r.loadgen_ceiling_per_s).map((r) => `${r.workload}/${r.server} ${fmt(r.loadgen_ceiling_per_s)}/s (${Math.round((r.loadgen_cpu_util ?? 0) * 100)}% busy)`);
if (ceilings.length) console.log(`\nload generator ceiling (per core, at that run's load): ${ceilings.join(", ")}`);

// ---- targets (issue 9) ------------------------------------------------------------------
// [status, what, figure]; status "met", "not met", "n/a" (not measurable here) or "info"
const T = [];
const ok = (r) => !!r && r.ok === true;
const r2 = (x) => x.toFixed(2);
const target = (what, met, figure) => T.push([met ? "met" : "not met", what, figure]);
const failedNote = (...rs) => rs.filter((r) => r && !ok(r)).map((r) => `${r.workload}/${r.server} ${verdict(r)}`).join(", ");

const chatO = find("chat", "ours"), chatE = find("chat", "ours-embedded");
const chatR = find("chat", "reference"), chatF = find("chat", "floor");
if (chatO && chatR) {
  if (ok(chatO) && ok(chatR)) {
    const q = chatO.server_cpu_us_per_msg / chatR.server_cpu_us_per_msg;
    target("server CPU per stored message, chat, with Redis: ours/reference <= 0.15", q <= 0.15,
      `${r2(q)} (${fmt(chatO.server_cpu_us_per_msg, "us1")} vs ${fmt(chatR.server_cpu_us_per_msg, "us1")})`);
  } else target("server CPU per stored message, chat, with Redis: ours/reference <= 0.15", false, failedNote(chatO, chatR));
}
if (chatE && chatF) {
  if (ok(chatE) && ok(chatF)) {
    const q = chatE.server_cpu_us_per_msg / chatF.server_cpu_us_per_msg;
    target("server CPU per stored message, chat, embedded: <= 2x the floor's", q <= 2,
      `${r2(q)}x (${fmt(chatE.server_cpu_us_per_msg, "us1")} vs ${fmt(chatF.server_cpu_us_per_msg, "us1")})`);
  } else target("server CPU per stored message, chat, embedded: <= 2x the floor's", false, failedNote(chatE, chatF));
}
if (chatE && chatF) {
  const what = "syscalls per stored message, chat: ours <= 1.5x the floor's (checked embedded)";
  const sys = (r) => (ok(r) ? r.syscalls_per_msg : undefined);
  const e = sys(chatE), f = sys(chatF), o = sys(chatO);
  const redis = o !== undefined && f ? `; with Redis ${r2(o / f)}x (${r2(o)}, ${o / f <= 1.5 ? "met" : "not met"})` : "";
  if (!ok(chatE) || !ok(chatF)) target(what, false, failedNote(chatE, chatF));
  else if (e === undefined || !f) T.push(["n/a", what, "perf could not count syscalls here"]);
  else target(what, e / f <= 1.5, `embedded ${r2(e / f)}x (${r2(e)} vs ${r2(f)})${redis}`);
}
const idleE = find("idle", "ours-embedded"), idleO = find("idle", "ours"), idleF = find("idle", "floor");
if (idleE) {
  const what = `RSS per idle websocket, ${fmt(idleE.connections || 19000)} on /helpdesk, embedded: <= 1.5 KiB (1536 B)`;
  const redis = ok(idleO) ? ` (with Redis ${fmt(idleO.bytes_per_connection, "B")})` : "";
  if (ok(idleE)) target(what, idleE.bytes_per_connection <= 1536, `${fmt(idleE.bytes_per_connection, "B")}${redis}`);
  else target(what, false, failedNote(idleE));
}
if (idleO && idleF) {
  const what = "connect rate (idle): ours connects/s >= 0.8x the floor's";
  if (ok(idleO) && ok(idleF)) {
    const q = idleO.connects_per_s / idleF.connects_per_s;
    const emb = ok(idleE) ? `; embedded ${fmt(idleE.connects_per_s)}/s, ${r2(idleE.connects_per_s / idleF.connects_per_s)}x` : "";
    target(what, q >= 0.8, `${r2(q)}x (${fmt(idleO.connects_per_s)}/s vs ${fmt(idleF.connects_per_s)}/s${emb})`);
  } else target(what, false, failedNote(idleO, idleF));
}
const stormO = find("storm", "ours-embedded"), stormF = find("storm", "floor");
if (stormO) {
  const what = `reconnect storm: ${fmt(stormO.first_wave_connections || stormO.connections)} clients dropped and reconnecting at once, served without errors (ours embedded)`;
  const floor = stormF ? `; floor ${ok(stormF) ? fmt(stormF.connect_s, "s") : verdict(stormF)}` : "";
  const fig = `second wave ${fmt(stormO.connections)} connected in ${fmt(stormO.connect_s, "s")}, ${fmt(stormO.failed)} failed (first wave ${fmt(stormO.first_wave_connect_s, "s")}, ${fmt(stormO.first_wave_failed)} failed)${floor}`;
  target(what, ok(stormO) && stormO.failed === 0, ok(stormO) ? fig : `FAILED: ${fig}`);
}
const rateO = find("chat-rate", "ours"), rateE = find("chat-rate-embedded", "ours-embedded");
if (rateO || rateE) {
  const part = (name, r) => {
    if (!r) return [false, `${name} not run`];
    if (!ok(r)) return [false, `${name} ${verdict(r)}`];
    const met = r.ack_us.p99 <= 2000;
    return [met, `${name} ${fmt(r.ack_us.p99, "us")} at ${fmt(r.stored_per_s)} stored/s (${met ? "met" : "not met"})`];
  };
  const [mo, fo] = part("with Redis", rateO), [me, fe] = part("embedded", rateE);
  target("ack p99 <= 2 ms at half of our saturation (rate), with Redis and embedded", mo && me, `${fo}; ${fe}`);
}
const modO = find("chat-moderate", "ours"), modR = find("chat-moderate", "reference");
if (modO && modR) {
  const what = `at ${fmt(2 * (modO.offered_per_s || 3583))} stored messages/s offered (moderate): ours CPU per stored message <= 0.25x the reference's`;
  const usable = (r) => ok(r) || saturated(r);
  if (ok(modO) && usable(modR)) {
    const q = modO.server_cpu_us_per_msg / modR.server_cpu_us_per_msg;
    const sat = saturated(modR) ? `; the reference saturated at ${fmt(modR.stored_per_s)} stored/s, ${fmt(modR.unanswered)} unanswered` : "";
    target(what, q <= 0.25, `${r2(q)} (${fmt(modO.server_cpu_us_per_msg, "us1")} vs ${fmt(modR.server_cpu_us_per_msg, "us1")}; ack p50/p99 ours ${fmt(modO.ack_us.p50, "us")} / ${fmt(modO.ack_us.p99, "us")}, reference ${fmt(modR.ack_us.p50, "us")} / ${fmt(modR.ack_us.p99, "us")}${sat})`);
  } else target(what, false, failedNote(modO, modR));
}
const many = find("idle-many", "ours");
if (many)
  T.push(["info", "100,000 idle connections across 5 nodes (cannot fit 5 processes under a 20,000-descriptor limit)",
    `${fmt(many.connections)} on ${many.nodes} nodes${many.ok ? "" : " (FAILED)"}`]);
if (T.length) {
  console.log("\ntargets:");
  for (const [status, what, figure] of T) console.log(`  ${status.padEnd(7)}  ${what}: ${figure}`);
}
