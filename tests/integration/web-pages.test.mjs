// The pages in a real browser: the widget on the demo page (a visitor) and the agent
// console, each in its own Chromium context, served by the daemon (--web web/ --demo) and
// talking to it through the official socket.io-client browser bundle.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { startServer, freePort, ms } from "./helpers.mjs";
import { startRedis, waitStatus } from "./cluster-helpers.mjs";
import { agent, ack, closeHdClients, jwt } from "./helpdesk-helpers.mjs";
import { launchBrowser, openPage, assertNoProblems, waitText, shot, WEB_DIR, DESKTOP, PHONE } from "./browser-helpers.mjs";

const browser = await launchBrowser();

const W = (id) => `[data-testid=${id}]`;
const msgs = (page, testid, sender) => page.locator(`${W(testid)}${sender ? `[data-sender=${sender}]` : ""}`);

async function consoleAs(base, id, name, { role = "agent", viewport } = {}) {
  const page = await openPage(browser, `${base}/console/#demo=${id}&name=${name}${role === "agent" ? "" : `&role=${role}`}`, { viewport });
  await waitText(page.locator(W("console-connection")), /^connected/i);
  await waitText(page.locator(W("console-me")), new RegExp(name));
  return page;
}

async function visitorPage(base, { query = "", viewport } = {}) {
  const page = await openPage(browser, `${base}/demo/${query}`, { viewport });
  await page.locator(W("sb-launcher")).click();
  await page.locator(W("sb-panel")).waitFor({ state: "visible" });
  return page;
}

async function visitorSays(page, text) {
  await page.locator(W("sb-input")).fill(text);
  await page.locator(W("sb-input")).press("Enter");
  return page.locator(`${W("sb-message")}[data-sender=customer]`, { hasText: text }).and(page.locator("[data-seq]")).waitFor();
}

async function agentSays(page, text) {
  await page.locator(W("console-input")).fill(text);
  await page.locator(W("console-send")).click();
  await page.locator(`${W("message")}[data-sender=agent]`, { hasText: text }).and(page.locator("[data-seq]")).waitFor();
}

async function openChat(page, chat) {
  await page.locator(`${W("chat-item")}[data-chat="${chat}"]`).click();
  await page.locator(`${W("conversation")}[data-chat="${chat}"]`).waitFor();
}

const chatOf = (visitor) => visitor.evaluate(() => window.SwitchboardWidget.chatId);

describe("a visitor and agents, embedded, auto routing", () => {
  let srv, base, visitor, ada, grace, chat;
  before(async () => {
    srv = await startServer({ kind: "server", args: ["--web", WEB_DIR, "--demo"] });
    base = `http://127.0.0.1:${srv.port}`;
  });
  after(async () => { await srv.stop(); });

  test("the visitor writes; the agent's console gets the conversation and replies; typing and read receipts", async () => {
    ada = await consoleAs(base, "agent-1", "Ada");
    visitor = await visitorPage(base);
    await visitorSays(visitor, "Hi! My order #1042 has not arrived yet.");
    chat = await chatOf(visitor);
    assert.match(chat, /\S/, "the widget knows its conversation");

    await openChat(ada, chat);
    await waitText(ada.locator(`${W("message")}[data-sender=customer]`), /order #1042/);
    await waitText(ada.locator(W("customer-info")), new RegExp(await visitor.evaluate(() => window.SwitchboardWidget.sessionId)));
    await waitText(visitor.locator(W("sb-agent")), /Ada/);

    // typing: the agent types, the visitor sees it; and back
    await ada.locator(W("console-input")).pressSequentially("Let me", { delay: 20 });
    await visitor.locator(W("sb-typing")).waitFor({ state: "visible" });
    await waitText(visitor.locator(W("sb-typing")), /Ada.*typing/i);
    await agentSays(ada, "Let me check that for you.");
    await waitText(msgs(visitor, "sb-message", "agent"), /Let me check that for you/);
    await visitor.locator(W("sb-typing")).waitFor({ state: "hidden" });
    await visitor.locator(W("sb-input")).pressSequentially("Thanks", { delay: 20 });
    await ada.locator(W("console-typing")).waitFor({ state: "visible" });

    // the visitor's panel is open, so the reply is read, and the agent sees it was
    await waitText(ada.locator(W("read-receipt")), /seen/i);
    await visitorSays(visitor, "Thanks");
    await waitText(msgs(ada, "message", "customer"), /Thanks/);

    await shot(visitor, "widget-desktop");
    await shot(ada, "console-desktop");
  });

  test("the visitor reloads the page and sees the conversation again, once", async () => {
    await visitor.reload();
    if (!(await visitor.locator(W("sb-panel")).isVisible())) await visitor.locator(W("sb-launcher")).click();
    await waitText(msgs(visitor, "sb-message"), /order #1042.*Let me check.*Thanks/s);
    const seqs = await msgs(visitor, "sb-message").evaluateAll((els) => els.map((e) => e.dataset.seq));
    assert.deepEqual(seqs, ["1", "2", "3"], "each message once, in seq order");
    assert.equal(await chatOf(visitor), chat);
    // and it goes on in the same conversation
    await visitorSays(visitor, "Still there?");
    await waitText(msgs(ada, "message", "customer"), /Still there\?/);
  });

  test("the agent transfers to a second agent, who gets the backlog; the visitor sees who", async () => {
    grace = await consoleAs(base, "agent-2", "Grace");
    await ada.locator(W("transfer-target")).selectOption("agent:agent-2");
    await ada.locator(W("transfer-go")).click();
    await grace.locator(`${W("chat-item")}[data-chat="${chat}"]`).waitFor();
    await openChat(grace, chat);
    await waitText(msgs(grace, "message"), /order #1042.*Let me check.*Thanks.*Still there/s);
    await ada.locator(`${W("chat-item")}[data-chat="${chat}"]`).waitFor({ state: "detached" });
    await waitText(visitor.locator(W("sb-agent")), /Grace/);
    await agentSays(grace, "Hi, Grace here: it ships today.");
    await waitText(msgs(visitor, "sb-message", "agent"), /Grace here/);
  });

  test("unread counts: a message to a conversation the agent is not looking at", async () => {
    const other = await visitorPage(base);
    await visitorSays(other, "A second customer here.");
    const chat2 = await chatOf(other);
    // auto routing: Ada has fewer open conversations now
    const item = ada.locator(`${W("chat-item")}[data-chat="${chat2}"]`);
    await item.waitFor();
    await visitorSays(other, "Hello?");
    await waitText(item.locator(W("chat-unread")), /[1-9]/);
    await openChat(ada, chat2);
    await waitText(msgs(ada, "message", "customer"), /Hello\?/);
    assertNoProblems(other);
  });

  test("at a phone's width", async () => {
    // auto routing gives a new conversation to the agent with the fewest: Lin, who has none
    const phoneAgent = await consoleAs(base, "agent-3", "Lin", { viewport: PHONE });
    const phoneVisitor = await visitorPage(base, { viewport: PHONE });
    await visitorSays(phoneVisitor, "Do you ship to Lyon?");
    await openChat(phoneAgent, await chatOf(phoneVisitor));
    await agentSays(phoneAgent, "Yes, in 2 to 3 days.");
    await waitText(msgs(phoneVisitor, "sb-message", "agent"), /2 to 3 days/);
    const width = await phoneVisitor.locator(W("sb-panel")).evaluate((el) => el.getBoundingClientRect().width);
    assert.ok(width <= PHONE.width, `the panel fits the phone (${width} px)`);
    await shot(phoneVisitor, "widget-phone");
    await shot(phoneAgent, "console-phone");
    assertNoProblems(phoneVisitor);
    assertNoProblems(phoneAgent);
  });

  test("no console errors in any page", () => {
    for (const p of [visitor, ada, grace]) assertNoProblems(p);
  });
});

describe("a visitor forced onto polling", () => {
  let srv, base;
  before(async () => {
    srv = await startServer({ kind: "server", args: ["--web", WEB_DIR, "--demo"] });
    base = `http://127.0.0.1:${srv.port}`;
  });
  after(async () => { closeHdClients(); await srv.stop(); });

  test("the widget talks over XHR polling only, both ways", async () => {
    const a = await agent(srv, "poll-agent");
    const visitor = await visitorPage(base, { query: "?transports=polling" });
    const inquiry = new Promise((resolve) => a.on("support", (m) => resolve(m)));
    await visitorSays(visitor, "Behind a proxy that blocks WebSocket.");
    const m = await inquiry;
    assert.equal(m.data.message, "Behind a proxy that blocks WebSocket.");
    assert.equal((await ack(a, "support", { ticket_chat_id: m.data.ticket_chat_id, message: "Polling works.", attachment: false })).status_code, 200);
    await waitText(msgs(visitor, "sb-message", "agent"), /Polling works/);
    assert.equal(await visitor.evaluate(() => window.SwitchboardWidget.transport), "polling");
    assert.deepEqual(visitor.websockets, [], "no WebSocket was opened");
    assertNoProblems(visitor);
  });
});

describe("the widget on another site", () => {
  // The team's site: a page of its own, from a Node HTTP server on another loopback port (the
  // same address space as the relay's, which Chromium's local network rules ask of a test),
  // embedding widget.js from the relay, which then talks to the relay cross-origin.
  const KEY = "shop-widget-key";
  let srv, base, SITE, site, sitePageHtml;
  before(async () => {
    site = http.createServer((req, res) => {
      res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
      res.end(sitePageHtml);
    });
    await new Promise((resolve) => site.listen(0, "127.0.0.1", resolve));
    SITE = `http://127.0.0.1:${site.address().port}`;
    srv = await startServer({ kind: "server", args: ["--web", WEB_DIR, "--widget-key", KEY, "--cors-origin", SITE] });
    base = `http://127.0.0.1:${srv.port}`;
  });
  after(async () => { closeHdClients(); await srv.stop(); site.close(); });

  async function sitePage(attrs) {
    const tag = `<script src="${base}/widget.js" ${attrs} async></script>`;
    sitePageHtml = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Shop</title></head><body><h1>Shop</h1>${tag}</body></html>`;
    const page = await openPage(browser, `${SITE}/product`);
    await page.locator(W("sb-launcher")).click();
    return page;
  }

  test("a visitor registers with the site's widget key and talks, over polling and the upgrade", async () => {
    const a = await agent(srv, "site-agent");
    const got = new Promise((resolve) => a.once("assigned", resolve));
    const page = await sitePage(`data-widget-key="${KEY}" data-name="Vera" data-email="vera@example.test"`);
    await visitorSays(page, "Hello from the shop's own site.");
    const assigned = await got;
    assert.equal(assigned.customer.name, "Vera");
    assert.equal(assigned.customer.email, "vera@example.test");
    assert.match(assigned.customer.session_id, /^v_/);
    assert.equal((await ack(a, "support", { ticket_chat_id: assigned.ticket_chat_id, message: "Hi Vera.", attachment: false })).status_code, 200);
    await waitText(msgs(page, "sb-message", "agent"), /Hi Vera/);
    // it began on polling (cross-origin requests, CORS) and upgraded
    await page.waitForFunction(() => window.SwitchboardWidget.transport === "websocket");
    assert.ok(page.websockets.some((u) => u.startsWith(base.replace("http", "ws"))), "the upgrade's WebSocket");
    assertNoProblems(page);
  });

  test("a signed-in customer with a token from the site's backend: no registration, the token's session", async () => {
    const token = jwt({ sub: "shop-user-42", role: "customer", name: "Sam Shopper" });
    const a = await agent(srv, "site-agent-2");
    const page = await sitePage(`data-token="${token}"`);
    await visitorSays(page, "Where is my order?");
    assert.equal(await page.evaluate(() => window.SwitchboardWidget.sessionId), "shop-user-42");
    const chats = await ack(a, "chats", {});
    const mine = chats.data.find((c) => c.customer.session_id === "shop-user-42");
    assert.ok(mine, "the conversation is the token's session's");
    assert.equal(mine.customer.name, "Sam Shopper");
    assertNoProblems(page);
  });
});

describe("manual routing and a supervisor", () => {
  let srv, base;
  before(async () => {
    srv = await startServer({ kind: "server", args: ["--web", WEB_DIR, "--demo", "--routing", "manual"] });
    base = `http://127.0.0.1:${srv.port}`;
  });
  after(async () => { await srv.stop(); });

  test("nobody online: the widget offers to leave a message", async () => {
    const visitor = await visitorPage(base);
    await waitText(visitor.locator(W("sb-status")), /leave a message/i);
    await visitorSays(visitor, "Please call me back.");
    await waitText(visitor.locator(W("sb-status")), /leave a message/i);
    assertNoProblems(visitor);
  });

  test("the conversation waits in the queue until an agent takes it; the supervisor sees it all", async () => {
    const ada = await consoleAs(base, "agent-1", "Ada");
    const sam = await consoleAs(base, "supervisor-1", "Sam", { role: "supervisor" });
    const visitor = await visitorPage(base);
    await visitorSays(visitor, "Is anyone there?");
    const chat = await chatOf(visitor);
    await waitText(visitor.locator(W("sb-status")), /number 2 in the queue/i);
    const item = ada.locator(`${W("queue-item")}[data-chat="${chat}"]`);
    await waitText(item, /Is anyone there\?/);
    await item.locator(W("queue-take")).click();
    await ada.locator(`${W("conversation")}[data-chat="${chat}"]`).waitFor();
    await waitText(msgs(ada, "message", "customer"), /Is anyone there\?/);
    await item.waitFor({ state: "detached" });
    await waitText(visitor.locator(W("sb-agent")), /Ada/);

    await sam.locator(`${W("team-agent")}[data-agent="agent-1"]`).waitFor();
    await sam.locator(`${W("chat-item")}[data-chat="${chat}"]`).waitFor();

    // away: the header says so and the team sees it
    await ada.locator(W("console-status")).click().catch(() => {});
    if (await ada.locator(`select${W("console-status")}`).count()) await ada.locator(W("console-status")).selectOption("away");
    await waitText(sam.locator(`${W("team-agent")}[data-agent="agent-1"]`), /away/i, ms(15000));

    await ada.locator(W("console-close")).click();
    await waitText(visitor.locator(W("sb-status")), /ended/i);
    await visitor.locator(W("sb-new")).waitFor({ state: "visible" });
    for (const p of [ada, sam, visitor]) assertNoProblems(p);
  });
});

describe("the daemon restarts, with Redis", () => {
  let redis, srv, port, base;
  const args = () => ["--web", WEB_DIR, "--demo", "--redis", redis.url];
  // While the daemon is down the browser itself logs the refused connections.
  const allow = [/ERR_CONNECTION_REFUSED/, /WebSocket connection to .* failed/, /Failed to load resource/];
  before(async () => {
    redis = await startRedis();
    port = await freePort();
    srv = await startServer({ kind: "server", port, args: args() });
    await waitStatus(srv, "/readyz", 200, { what: "the node on Redis" });
    base = `http://127.0.0.1:${port}`;
  });
  after(async () => {
    if (srv.alive()) await srv.stop();
    await redis.dispose();
  });

  test("nothing is lost and both pages reconnect by themselves", async () => {
    const ada = await consoleAs(base, "agent-1", "Ada");
    ada.allow = allow;
    const visitor = await visitorPage(base);
    visitor.allow = allow;
    await visitorSays(visitor, "Before the restart.");
    const chat = await chatOf(visitor);
    await openChat(ada, chat);
    await agentSays(ada, "Answered before the restart.");
    await waitText(msgs(visitor, "sb-message", "agent"), /Answered before/);

    await srv.stop();
    await waitText(visitor.locator(W("sb-status")), /reconnecting/i);
    await waitText(ada.locator(W("console-connection")), /reconnecting/i);
    // written while the relay is away: sent once it is back
    await visitor.locator(W("sb-input")).fill("Written while you were away.");
    await visitor.locator(W("sb-input")).press("Enter");

    srv = await startServer({ kind: "server", port, args: args() });
    await waitStatus(srv, "/readyz", 200, { what: "the node on Redis, again" });
    await waitText(ada.locator(W("console-connection")), /^connected/i, ms(20000));
    await waitText(msgs(ada, "message", "customer"), /Written while you were away/, ms(20000));
    await visitor.locator(`${W("sb-message")}[data-sender=customer][data-seq="3"]`).waitFor({ timeout: ms(20000) });
    await agentSays(ada, "Back after the restart.");
    await waitText(msgs(visitor, "sb-message", "agent"), /Back after the restart/);

    // a fresh load of both pages shows the whole conversation from Redis
    await visitor.reload();
    if (!(await visitor.locator(W("sb-panel")).isVisible())) await visitor.locator(W("sb-launcher")).click();
    await waitText(msgs(visitor, "sb-message"), /Before the restart.*Answered before.*Written while.*Back after/s);
    await ada.reload();
    await openChat(ada, chat);
    await waitText(msgs(ada, "message"), /Before the restart.*Answered before.*Written while.*Back after/s);
    const seqs = await msgs(ada, "message").evaluateAll((els) => els.map((e) => e.dataset.seq));
    assert.deepEqual(seqs, ["1", "2", "3", "4"]);
    assertNoProblems(visitor);
    assertNoProblems(ada);
  });
});
