import assert from "node:assert/strict";
import {
  formatTraceparent,
  linkTo,
  newTraceparent,
  parseTraceparent,
  startHop,
  traceIdOf,
} from "./tracing.ts";

const VALID = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

Deno.test("parseTraceparent() reads valid values and refuses invalid ones", async (t) => {
  const cases: [string | undefined, ReturnType<typeof parseTraceparent>][] = [
    [VALID, { traceId: "0af7651916cd43dd8448eb211c80319c", spanId: "b7ad6b7169203331", flags: 1 }],
    [` ${VALID} `, parseTraceparent(VALID)],
    ["01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00-later", {
      traceId: "0af7651916cd43dd8448eb211c80319c",
      spanId: "b7ad6b7169203331",
      flags: 0,
    }],
    [undefined, null],
    ["", null],
    [`${VALID}-extra`, null], // version 00 has exactly four fields
    ["ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", null],
    ["00-00000000000000000000000000000000-b7ad6b7169203331-01", null],
    ["00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01", null],
    ["00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01", null],
    ["00-0af7651916cd43dd8448eb211c8031-b7ad6b7169203331-01", null],
  ];
  for (const [value, expected] of cases) {
    await t.step(String(JSON.stringify(value)), () => {
      assert.deepEqual(parseTraceparent(value), expected);
    });
  }
});

Deno.test("formatTraceparent() writes what parseTraceparent() reads", () => {
  assert.equal(formatTraceparent(parseTraceparent(VALID)!), VALID);
  assert.equal(
    formatTraceparent({ traceId: "a".repeat(32), spanId: "b".repeat(16), flags: 0 }),
    `00-${"a".repeat(32)}-${"b".repeat(16)}-00`,
  );
});

Deno.test("newTraceparent() makes a valid, unsampled, fresh value each time", () => {
  const a = newTraceparent();
  const b = newTraceparent();
  assert.notEqual(traceIdOf(a), null);
  assert.equal(parseTraceparent(a)!.flags, 0);
  assert.notEqual(traceIdOf(a), traceIdOf(b));
});

// The test process runs without OTEL_DENO: the API's tracer is the no-op one.
Deno.test("startHop() without a tracer forwards its parent unchanged", () => {
  const hop = startHop("process", { parent: VALID, kind: "consumer" });
  assert.equal(hop.traceparent, VALID);
  assert.equal(hop.traceId, "0af7651916cd43dd8448eb211c80319c");
  hop.end();
  hop.end(new Error("ignored: already ended"));
});

Deno.test("startHop() without a tracer or a parent starts a fresh, unsampled trace", () => {
  for (const parent of [undefined, null, "garbage"]) {
    const hop = startHop("POST /orders", { parent, kind: "server" });
    const p = parseTraceparent(hop.traceparent);
    assert.ok(p !== null, hop.traceparent);
    assert.equal(p.flags, 0);
    assert.equal(hop.traceId, p.traceId);
    hop.end();
  }
});

Deno.test("traceIdOf() and linkTo() read a traceparent, or answer null", () => {
  assert.equal(traceIdOf(VALID), "0af7651916cd43dd8448eb211c80319c");
  assert.equal(traceIdOf("nope"), null);
  assert.deepEqual(linkTo(VALID)?.context.spanId, "b7ad6b7169203331");
  assert.equal(linkTo(undefined), null);
});
