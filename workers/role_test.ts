import assert from "node:assert/strict";
import { loadConfig } from "../lib/config.ts";
import * as notification from "./notification.ts";
import * as processing from "./processing.ts";
import * as purchaseAnalytics from "./purchase_analytics.ts";
import { onAbort, type RoleModule } from "./role.ts";

Deno.test("onAbort() runs its function on abort, at once when already aborted, and never once forgotten", () => {
  const calls: string[] = [];
  const stop = new AbortController();
  const forget = onAbort(stop.signal, () => calls.push("forgotten"));
  onAbort(stop.signal, () => calls.push("kept"));
  forget(); // the role ended (a restart in the same process follows)
  stop.abort();
  assert.deepEqual(calls, ["kept"]);
  onAbort(stop.signal, () => calls.push("late"))();
  assert.deepEqual(calls, ["kept", "late"]);
});

Deno.test("identity() of each role keeps its consumer group's name and says the topics it reads", async (t) => {
  // A group renamed starts over without its committed offsets: these names are kept on purpose.
  const config = loadConfig({ GROUP_ID_PREFIX: "shop" });
  const roles: [string, RoleModule, string, string[]][] = [
    ["processing", processing, "shop-processing", [
      "order_requests",
      "order_processing",
      "order_erasures",
    ]],
    ["notification", notification, "shop-notification", [
      "order_processing",
      "order_mail_retries",
      "purchase_notifications",
      "purchase_mail_retries",
    ]],
    ["purchase-analytics", purchaseAnalytics, "shop-purchase-analytics", ["purchase_events"]],
  ];
  for (const [name, role, groupId, topics] of roles) {
    await t.step(name, () => assert.deepEqual(role.identity(config), { groupId, topics }));
  }
});
