/**
 * What `internals.ts` relies on in `@platformatic/kafka`'s private API, checked against the
 * pinned version: a library update that changes it fails here, not in a secured cluster.
 */
import assert from "node:assert/strict";
import {
  addPartitionsToTxnV3,
  addPartitionsToTxnV5,
  kGetApi,
  Producer,
  produceV11,
  stringSerializers,
} from "@platformatic/kafka";
import { clientTransactionApis } from "./internals.ts";

/** The broker's versions as the library stores them from an ApiVersions answer. */
const BROKER_APIS = [
  { name: "AddPartitionsToTxn", minVersion: 0, maxVersion: 5 },
  { name: "Produce", minVersion: 3, maxVersion: 11 },
];

/** The API implementation the library picks for `name` (no broker: its table is set by hand). */
function picked(producer: object, name: string): Promise<unknown> {
  const client = producer as Record<symbol, unknown> & {
    [kGetApi](name: string, cb: (error: Error | null, api?: unknown) => void): void;
  };
  return new Promise((resolve, reject) =>
    client[kGetApi](name, (error, api) => (error ? reject(error) : resolve(api)))
  );
}

/** Stores `apis` where the library keeps the broker's versions (its private `kApis` field). */
function storeApis(producer: object, apis: unknown): void {
  const key = Object.getOwnPropertySymbols(producer).find((s) =>
    s.description === "plt.kafka.base.apis"
  );
  assert.ok(key !== undefined, "the library keeps the broker's versions in plt.kafka.base.apis");
  (producer as Record<symbol, unknown>)[key] = apis;
}

const newProducer = () =>
  new Producer({
    clientId: "internals-test",
    bootstrapBrokers: ["127.0.0.1:1"],
    serializers: stringSerializers,
  });

Deno.test("clientTransactionApis() makes the library pick AddPartitionsToTxn v3, and leaves the rest", async () => {
  const producer = newProducer();
  try {
    // Without the cap, the library picks the broker's highest version: what the cap is for.
    storeApis(producer, structuredClone(BROKER_APIS));
    assert.equal(await picked(producer, "AddPartitionsToTxn"), addPartitionsToTxnV5.api);

    clientTransactionApis(producer);
    assert.equal(await picked(producer, "AddPartitionsToTxn"), addPartitionsToTxnV3.api);
    // Stored again (a reconnection lists the APIs anew): capped again.
    storeApis(producer, structuredClone(BROKER_APIS));
    assert.equal(await picked(producer, "AddPartitionsToTxn"), addPartitionsToTxnV3.api);
    assert.equal(await picked(producer, "Produce"), produceV11.api);
  } finally {
    await producer.close();
  }
});

Deno.test("clientTransactionApis() refuses an object without the library's internals", () => {
  assert.throws(
    () => clientTransactionApis({}),
    new Error(
      "Cannot cap AddPartitionsToTxn to a client version: @platformatic/kafka has no plt.kafka.base.apis",
    ),
  );
});
