// table.mjs: the side-by-side table of a bench/run, from its JSON lines (one per workload
// and side): ours, reference, the machine's floor (sb-floor), ours/reference, ours/floor,
// then where each target of the benchmark stands.
//
//   node bench/table.mjs build/bench/results.jsonl
import { readFileSync } from "node:fs";

const rows = readFileSync(process.argv[2], "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l));
const find = (workload, server) => rows.find((r) => r.workload === workload && r.server === server);

const fmt = (v, unit) => {
  if (v === undefined || v === null) return "-";
  if (unit === "us") return v >= 10000 ? `${(v / 1000).toFixed(1)} ms` : `${Math.round(v)} us`;
  if (unit === "us1") return `${v.toFixed(1)} us`;
  if (unit === "n2") return v.toFixed(2);
  if (unit === "B") return `${Math.round(v)} B`;
  return Math.round(v).toLocaleString("en-US");
};
const get = (r, path) => path.split(".").reduce((o, k) => (o == null ? undefined : o[k]), r);

// [workload, label, field, unit, NO_FLOOR when the floor has no such cost]
const NO_FLOOR = true;
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
  ["chat-rate", "offered customer messages/s", "offered_per_s", ""],
  ["chat-rate", "stored messages/s", "stored_per_s", ""],
  ["chat-rate", "ack latency p50", "ack_us.p50", "us"],
  ["chat-rate", "ack latency p99", "ack_us.p99", "us"],
  ["chat-rate", "ack latency p99.9", "ack_us.p999", "us"],
  ["chat-rate", "round trip p99", "rtt_us.p99", "us"],
  ["chat-rate", "server CPU per stored message", "server_cpu_us_per_msg", "us1"],
  ["chat-rate", "syscalls per stored message", "syscalls_per_msg", "n2"],
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

// a value counted only where a tool could count it (perf) is n/a where it could not
const cell = (r, m) => {
  if (!r) return "-";
  if (r.ok === false) return "FAILED";
  const v = get(r, m[2]);
  return v === undefined && m[3] === "n2" ? "n/a" : fmt(v, m[3]);
};
const value = (r, m) => (r?.ok ? get(r, m[2]) : undefined);
const ratio = (a, b) => (a !== undefined && b ? (a / b).toFixed(2) : "-");
const out = [["workload", "metric", "ours", "reference", "floor", "ours/ref", "ours/floor"]];
for (const m of METRICS) {
  const ours = find(m[0], "ours"), ref = find(m[0], "reference");
  const floor = m[4] === NO_FLOOR ? undefined : find(m[0], "floor");
  if (!ours && !ref && !floor) continue;
  const a = value(ours, m), b = value(ref, m), f = value(floor, m);
  out.push([m[0], m[1], cell(ours, m), cell(ref, m), cell(floor, m), ratio(a, b), ratio(a, f)]);
  const emb = find(m[0], "ours-embedded");
  if (emb) {
    const e = value(emb, m);
    out.push(["", `  ours, embedded (no Redis)`, cell(emb, m), cell(ref, m), cell(floor, m), ratio(e, b), ratio(e, f)]);
  }
}
const widths = out[0].map((_, i) => Math.max(...out.map((r) => String(r[i]).length)));
const line = (r) => r.map((c, i) => (i < 2 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join("  ");
console.log("\n" + line(out[0]));
console.log(widths.map((w) => "-".repeat(w)).join("  "));
for (const r of out.slice(1)) console.log(line(r));
if (rows.some((r) => r.server === "floor"))
  console.log("\nfloor: sb-floor (bench/floor), a bare epoll server doing only what the load generator checks: no auth, no validation, no storage; not a product");

// The load generator's own ceiling: stored messages (or deliveries) per second of its CPU.
const ceilings = rows.filter((r) => r.loadgen_ceiling_per_s).map((r) => `${r.workload}/${r.server} ${fmt(r.loadgen_ceiling_per_s)}/s (${Math.round((r.loadgen_cpu_util ?? 0) * 100)}% busy)`);
if (ceilings.length) console.log(`\nload generator ceiling (per core, at that run's load): ${ceilings.join(", ")}`);

const T = [];
const chatO = find("chat", "ours"), chatE = find("chat", "ours-embedded"), chatR = find("chat", "reference");
const ok = (r) => r && r.ok;
if (ok(chatO) && ok(chatR))
  T.push([`server CPU per stored message <= 1/10 of the reference`, chatO.server_cpu_us_per_msg / chatR.server_cpu_us_per_msg <= 0.1, `${(chatO.server_cpu_us_per_msg / chatR.server_cpu_us_per_msg).toFixed(2)} (embedded ${ok(chatE) ? (chatE.server_cpu_us_per_msg / chatR.server_cpu_us_per_msg).toFixed(2) : "-"})`]);
if (ok(chatO) && ok(chatR))
  T.push([`stored messages/s >= 5x the reference, no loss`, chatO.stored_per_s / chatR.stored_per_s >= 5, `${(chatO.stored_per_s / chatR.stored_per_s).toFixed(2)}x (embedded ${ok(chatE) ? (chatE.stored_per_s / chatR.stored_per_s).toFixed(2) : "-"}x)`]);
const rate = find("chat-rate", "ours");
if (ok(rate)) T.push([`ack p99 <= 2 ms at half of our saturation`, rate.ack_us.p99 <= 2000, `${fmt(rate.ack_us.p99, "us")} at ${fmt(rate.stored_per_s)} stored/s`]);
const idle = find("idle", "ours");
if (ok(idle)) T.push([`RSS per idle websocket <= 3 KiB at ${fmt(idle.connections)}`, idle.bytes_per_connection <= 3072, fmt(idle.bytes_per_connection, "B")]);
const many = find("idle-many", "ours");
if (many) T.push([`100,000 idle connections across 5 nodes`, !!many.ok && many.connections >= 100000, `${fmt(many.connections)} on ${many.nodes} nodes${many.ok ? "" : " (FAILED)"}`]);
if (T.length) {
  console.log("\ntargets:");
  for (const [what, met, value] of T) console.log(`  ${met ? "met    " : "not met"}  ${what}: ${value}`);
}
