import assert from "node:assert/strict";
import { kafkaErrorCodes } from "./error_codes.ts";

Deno.test("kafkaErrorCodes() finds the codes either library and TLS put in an error", async (t) => {
  const cases: [string, unknown, string[]][] = [
    ["kafkajs type", Object.assign(new Error("x"), { type: "TOPIC_AUTHORIZATION_FAILED" }), [
      "TOPIC_AUTHORIZATION_FAILED",
    ]],
    [
      "platformatic nested apiId",
      new AggregateError([Object.assign(new Error("y"), { apiId: "GROUP_AUTHORIZATION_FAILED" })]),
      ["GROUP_AUTHORIZATION_FAILED"],
    ],
    [
      "TLS code in a cause",
      new Error("z", {
        cause: Object.assign(new Error("t"), { code: "SELF_SIGNED_CERT_IN_CHAIN" }),
      }),
      ["SELF_SIGNED_CERT_IN_CHAIN"],
    ],
    ["nothing", new Error("plain"), []],
    ["not an error", "text", []],
  ];
  for (const [name, error, want] of cases) {
    await t.step(name, () => assert.deepEqual(kafkaErrorCodes(error), want));
  }
});
