#!/usr/bin/env node
// Verifies webhook deliveries with the Standard Webhooks reference library (npm
// `standardwebhooks`, installed by scripts/install-tools.sh into
// ${GLEANER_TOOLS:-~/.cache/gleaner/tools}/node).
//
// Reads JSON on stdin: {"secret": "whsec_...", "deliveries": [{"headers": {...}, "body": "..."}]}
// and prints one line per delivery: `ok <webhook-id> <type>`. Each delivery is also
// checked the other way: the same headers with a changed body must be refused. Exits 1
// when any check fails, 2 when the library is not installed.
import { createRequire } from "node:module";
import { homedir } from "node:os";
import { join } from "node:path";

const tools = process.env.GLEANER_TOOLS || join(homedir(), ".cache", "gleaner", "tools");
const require = createRequire(join(tools, "node", "package.json"));
let Webhook;
try {
  ({ Webhook } = require("standardwebhooks"));
} catch (e) {
  console.error(`standardwebhooks is not installed under ${tools}/node (scripts/install-tools.sh): ${e.message}`);
  process.exit(2);
}

let input = "";
for await (const chunk of process.stdin) input += chunk;
const { secret, deliveries } = JSON.parse(input);
const wh = new Webhook(secret);
let failed = 0;
for (const { headers, body } of deliveries) {
  const id = headers["webhook-id"];
  try {
    const event = wh.verify(body, headers);
    let tamperedPassed = false;
    try {
      wh.verify(body + " ", headers);
      tamperedPassed = true;
    } catch {
      // Refused, as it must be.
    }
    if (tamperedPassed) throw new Error("a changed body verified too");
    if (typeof event.type !== "string" || typeof event.timestamp !== "string" || !("data" in event)) {
      throw new Error("the body is not {type, timestamp, data}");
    }
    console.log(`ok ${id} ${event.type}`);
  } catch (e) {
    failed += 1;
    console.log(`FAILED ${id}: ${e.message}`);
  }
}
if (deliveries.length === 0) {
  console.log("FAILED: no deliveries given");
  failed += 1;
}
process.exit(failed === 0 ? 0 : 1);
