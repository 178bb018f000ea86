import assert from "node:assert/strict";
import { MultipleErrors, NetworkError, ProtocolError } from "@platformatic/kafka";
import { classify, staleMember, StaleMemberError } from "./errors.ts";

/** An error as the library reports a refused request: a protocol error inside a MultipleErrors. */
const refused = (id: string) =>
  new MultipleErrors("Received response with error while executing API TxnOffsetCommit(v4)", [
    new ProtocolError(id),
  ]);

Deno.test("classify: fenced by a newer instance of itself is fatal, anything else retriable", () => {
  const table: [unknown, "fatal" | "retriable"][] = [
    [refused("PRODUCER_FENCED"), "fatal"],
    [refused("INVALID_PRODUCER_EPOCH"), "fatal"],
    [refused("TRANSACTIONAL_ID_AUTHORIZATION_FAILED"), "fatal"],
    [refused("FENCED_INSTANCE_ID"), "fatal"], // unless from a TxnOffsetCommit (staleMember)
    [refused("NOT_COORDINATOR"), "retriable"],
    [refused("ILLEGAL_GENERATION"), "retriable"],
    [new NetworkError("Connection closed"), "retriable"],
    [new Error("anything"), "retriable"],
  ];
  for (const [error, kind] of table) {
    assert.equal(classify(error), kind, (error as Error).message + " " + JSON.stringify(error));
  }
});

Deno.test("staleMember: a TxnOffsetCommit refused as stale is this instance's past, not fatal", () => {
  for (const id of ["FENCED_INSTANCE_ID", "ILLEGAL_GENERATION", "UNKNOWN_MEMBER_ID"]) {
    const cause = refused(id);
    const error = staleMember(cause);
    assert.ok(error instanceof StaleMemberError, id);
    assert.equal(error.cause, cause);
    assert.equal(classify(error), "retriable", id);
  }
  // Anything else passes through as it was: still fatal when it was.
  for (const id of ["PRODUCER_FENCED", "NOT_COORDINATOR"]) {
    const cause = refused(id);
    assert.equal(staleMember(cause), cause, id);
  }
  assert.equal(classify(staleMember(refused("PRODUCER_FENCED"))), "fatal");
  // A refusal that also says the producer was fenced stays fatal.
  const both = new MultipleErrors("Received response with error while executing API X", [
    new ProtocolError("FENCED_INSTANCE_ID"),
    new ProtocolError("INVALID_PRODUCER_EPOCH"),
  ]);
  assert.equal(staleMember(both), both);
  assert.equal(classify(staleMember(both)), "fatal");
});
