// features.mjs: what the multi-host tests (multihost.test.mjs, run.mjs --haproxy) may expect
// of the binary, in one place. Each switch names the server feature it needs; when a switch
// is off, the tests that need the feature still run but are reported as TODO (their failure
// does not fail the run), and the load of the rolling restart leaves those clients out.
//
//   clusterEngine  a node forwards the polling requests and websocket upgrades of a session
//                  it does not hold to the node that holds it (through Redis), so HAProxy
//                  round-robin without a cookie serves polling and upgrading clients; on by
//                  default with --redis (CLUSTER_ENGINE_ARGS would carry a flag if it needed one)
//   allowEio3      --allow-eio3: socket.io-client 2.x (Engine.IO 3) clients are accepted
//
// Each can be forced from the environment for a try: SWITCHBOARD_TEST_CLUSTER_ENGINE=1,
// SWITCHBOARD_TEST_ALLOW_EIO3=1 (0 forces off).
//
// SWITCHBOARD_TEST_HAPROXY_COOKIE=io (a debugging aid, not a test): the nodes set the `io`
// cookie (--cookie io), HAProxy is sticky on it, and the clients keep it; polling then works
// without the cluster engine, which shows whether a failure is the harness's or the server's.

const sw = (name, dflt) => {
  const v = process.env[name];
  return v === undefined || v === "" ? dflt : v === "1";
};

export const FEATURES = {
  clusterEngine: sw("SWITCHBOARD_TEST_CLUSTER_ENGINE", false),
  allowEio3: sw("SWITCHBOARD_TEST_ALLOW_EIO3", false),
};

export const CLUSTER_ENGINE_ARGS = [];
export const ALLOW_EIO3_ARGS = ["--allow-eio3"];
export const STICKY_COOKIE = process.env.SWITCHBOARD_TEST_HAPROXY_COOKIE || null;

// The flags every node of a multi-host run gets for these features.
export function featureArgs() {
  return [
    ...(FEATURES.clusterEngine ? CLUSTER_ENGINE_ARGS : []),
    ...(FEATURES.allowEio3 ? ALLOW_EIO3_ARGS : []),
    ...(STICKY_COOKIE ? ["--cookie", STICKY_COOKIE] : []),
  ];
}

// Can a client on these transports work through round-robin HAProxy with this binary?
// transports: ["polling"], ["websocket"] or ["polling", "websocket"]; v2: socket.io-client 2.x.
// (socket.io-client 2.x in Node.js keeps no cookie: the sticky cookie does not help it.)
const pollingServed = (v2) => FEATURES.clusterEngine || (!!STICKY_COOKIE && !v2);

export function expectedToWork({ transports, v2 = false }) {
  if (v2 && !FEATURES.allowEio3) return false;
  if (transports.includes("polling") && !pollingServed(v2)) return false;
  return true;
}

// Why a flavour is not expected to work yet (for the TODO mark), or null.
export function missingFeature({ transports, v2 = false }) {
  const why = [];
  if (v2 && !FEATURES.allowEio3) why.push("--allow-eio3 (socket.io-client 2.x)");
  if (transports.includes("polling") && !pollingServed(v2)) why.push("the cluster engine (polling through round-robin without a cookie)");
  return why.length ? `needs ${why.join(" and ")}` : null;
}
