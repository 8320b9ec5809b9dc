// Another real client: python-socketio (Debian's python3-socketio), a customer and an agent
// console written from the contract (fixtures/hd_python_parties.py). The agent gets the
// customer's first message as "support" whether it was online before the customer wrote
// (assigned with the message, v1.1) or came online after (the backlog comes with the
// assignment), exactly once, after "assigned". Embedded and (".redis") with Redis.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { bounded, ms } from "./helpers.mjs";
import { useHelpdesk, jwt } from "./helpdesk-helpers.mjs";

// Debian's interpreter, where python3-socketio is installed (scripts/setup.sh), whatever
// python3 comes first on the PATH.
const PYTHON = process.env.SB_PYTHON || "/usr/bin/python3";
const SCRIPT = fileURLToPath(new URL("./fixtures/hd_python_parties.py", import.meta.url));

function parties(srv, order, sid, aid) {
  const customer = jwt({ sub: sid, role: "customer", name: `Customer ${sid}` });
  const agent = jwt({ sub: aid, role: "agent", name: `Agent ${aid}` });
  return new Promise((resolve, reject) => {
    execFile(PYTHON, [SCRIPT, srv.url, customer, agent, order], { timeout: ms(30000) }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`${err.message}\n${stderr}`));
      resolve(JSON.parse(stdout.trim().split("\n").at(-1)));
    });
  });
}

describe("python-socketio parties", () => {
  const srv = useHelpdesk();

  for (const order of ["agent-first", "customer-first"]) {
    test(`${order}: the agent gets assigned, then the first message once`, bounded(40000), async () => {
      const { answer, agent } = await parties(srv, order, `py-${order}`, `py-a-${order}`);
      assert.equal(answer.status_code, 200, JSON.stringify(answer));
      const chat = answer.data.ticket_chat_id;
      const mine = agent.filter(([, p]) => (p.ticket_chat_id ?? p.data?.ticket_chat_id) === chat);
      const kinds = mine.map(([k]) => k).filter((k) => k !== "inquiry");
      assert.deepEqual(kinds, ["assigned", "support"], JSON.stringify(mine));
      const [, assigned] = mine.find(([k]) => k === "assigned");
      assert.equal(assigned.last_seq, 1);
      assert.equal(assigned.customer.session_id, `py-${order}`);
      const [, support] = mine.find(([k]) => k === "support");
      assert.deepEqual(support, answer, "the stored message, as the customer's ack has it");
    });
  }
});
