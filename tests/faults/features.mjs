// features.mjs: what every node of a multi-host run (multihost.test.mjs, run.mjs --haproxy)
// is started with, in one place.
//
//   --allow-eio3   socket.io-client 2.x (Engine.IO 3) clients are accepted
//   (nothing for the cluster engine: on by default with --redis, it forwards the polling
//   requests and websocket upgrades of a session a node does not hold to the node that holds
//   it, so HAProxy round-robin without a cookie serves polling and upgrading clients)
//
// SWITCHBOARD_TEST_HAPROXY_COOKIE=io (a debugging aid, not a test): the nodes set the `io`
// cookie (--cookie io), HAProxy is sticky on it, and the clients keep it, which shows whether
// a failure is the forwarding's or not. (socket.io-client 2.x in Node.js keeps no cookie.)

export const STICKY_COOKIE = process.env.SWITCHBOARD_TEST_HAPROXY_COOKIE || null;

export function featureArgs() {
  return ["--allow-eio3", ...(STICKY_COOKIE ? ["--cookie", STICKY_COOKIE] : [])];
}
