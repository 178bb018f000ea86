import assert from "node:assert/strict";
import { loadConfig } from "../config.ts";
import { type AclBinding, aclBindings, aclCodes, aclFromCodes, PRINCIPAL_ROLES } from "./acls.ts";

const config = loadConfig({});
const acls = aclBindings(config);
const allows = (
  role: string,
  resourceType: AclBinding["resourceType"],
  name: string,
  operation: AclBinding["operation"],
) =>
  acls.some((a) =>
    a.principal === `User:${role}` && a.resourceType === resourceType &&
    a.operation === operation &&
    (a.pattern === "literal" ? a.name === name : name.startsWith(a.name))
  );

Deno.test("aclBindings() gives each role the topics it reads and writes, and nothing else", async (t) => {
  const cases: [string, string, "read" | "write", boolean][] = [
    ["gateway", "order_requests", "write", true],
    ["gateway", "purchase_events", "write", true],
    ["gateway", "order_status", "read", true],
    ["gateway", "order_status", "write", false],
    ["gateway", "order_processing", "read", false],
    ["gateway", "order_processing", "write", false],
    ["gateway", "order_requests", "read", false],
    ["gateway", "order_mail_retries", "read", false],
    ["processing", "order_requests", "read", true],
    ["processing", "order_processing", "write", true],
    ["processing", "despacho_dead_letter", "write", true],
    ["processing", "order_notifications", "write", false],
    ["processing", "order_status", "write", true],
    ["processing", "order_status", "read", false],
    ["processing", "purchase_events", "read", false],
    ["notification", "order_processing", "read", true],
    ["notification", "order_processing", "write", false],
    ["notification", "order_notifications", "write", true],
    ["notification", "order_status", "write", true],
    ["purchase-analytics", "order_status", "write", false],
    ["notification", "order_mail_retries", "write", true],
    ["notification", "order_mail_retries", "read", true],
    ["notification", "purchase_mail_retries", "read", true],
    ["notification", "purchase_mail_retries", "write", true],
    ["notification", "purchase_mail", "write", true],
    ["notification", "order_requests", "read", false],
    ["purchase-analytics", "purchase_events", "read", true],
    ["purchase-analytics", "purchase_analytics_state", "read", true],
    ["purchase-analytics", "purchase_analytics_state", "write", true],
    ["purchase-analytics", "purchase_notifications", "write", true],
    ["purchase-analytics", "order_processing", "read", false],
    ["producer", "purchase_events", "write", true],
    ["producer", "purchase_events", "read", false],
    ["producer", "order_requests", "write", false],
  ];
  for (const [role, topic, op, want] of cases) {
    await t.step(`${role} ${want ? "may" : "may not"} ${op} ${topic}`, () => {
      assert.equal(allows(role, "topic", topic, op), want);
    });
  }
});

Deno.test("aclBindings() gives each worker its own group and transactional ids only", () => {
  for (const role of ["processing", "notification", "purchase-analytics"]) {
    for (const other of ["processing", "notification", "purchase-analytics"]) {
      assert.equal(allows(role, "group", `despacho-${other}`, "read"), role === other);
      assert.equal(
        allows(role, "transactional-id", `despacho-${other}-1`, "write"),
        role === other,
        `${role} with ${other}'s transactional id`,
      );
    }
  }
  assert.ok(
    !acls.some((a) => a.principal === "User:gateway" && a.resourceType === "transactional-id"),
  );
  assert.ok(!acls.some((a) => a.principal === "User:producer" && a.resourceType === "group"));
});

Deno.test("aclBindings() follows the configured names, prefix and users", () => {
  const custom = aclBindings(
    loadConfig({ TOPIC_ORDER_PROCESSING: "shop.states", GROUP_ID_PREFIX: "tienda" }),
    { processing: "svc-processing" },
  );
  const mine = custom.filter((a) => a.principal === "User:svc-processing");
  assert.ok(mine.some((a) => a.name === "shop.states" && a.operation === "write"));
  assert.ok(mine.some((a) => a.resourceType === "group" && a.name === "tienda-processing"));
  assert.ok(
    mine.some((a) => a.resourceType === "transactional-id" && a.name === "tienda-processing-"),
  );
  assert.ok(!custom.some((a) => a.principal === "User:processing"));
  assert.ok(!custom.some((a) => a.name === "order_processing"));
});

Deno.test("aclBindings() has no duplicates, no wildcard, and a principal for every role", () => {
  const keys = acls.map((a) => JSON.stringify(a));
  assert.equal(new Set(keys).size, keys.length);
  assert.ok(acls.every((a) => a.name !== "*" && a.name !== ""));
  assert.deepEqual(
    [...new Set(acls.map((a) => a.principal))].sort(),
    PRINCIPAL_ROLES.map((r) => `User:${r}`).sort(),
  );
});

Deno.test("aclCodes() and aclFromCodes() are Kafka's protocol numbers, both ways", () => {
  for (const a of acls) assert.deepEqual(aclFromCodes(aclCodes(a)), a);
  assert.deepEqual(aclCodes(acls[0]!).permissionType, 3);
  assert.equal(aclFromCodes({ ...aclCodes(acls[0]!), permissionType: 2 }), undefined);
});
