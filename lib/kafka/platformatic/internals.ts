/**
 * What this adapter does through `@platformatic/kafka`'s internals, where the library has no
 * public way: AddPartitionsToTxn capped at the clients' version, and a TxnOffsetCommit that
 * carries the generation and member id the records were read under (KIP-447). A library update
 * that changes these internals fails `internals_test.ts`.
 */
import {
  type Consumer,
  kGetApi,
  kGetConnection,
  kMetadata,
  kPerformWithRetry,
  type Producer,
} from "@platformatic/kafka";
import type { Position } from "../group_commit.ts";

/** The highest AddPartitionsToTxn version meant for clients: 4 and above are broker-to-broker. */
const CLIENT_ADD_PARTITIONS_TO_TXN = 3;

/**
 * Makes a library producer send AddPartitionsToTxn at most at version 3.
 *
 * The library picks the highest version the broker offers (5), but versions 4 and above are the
 * brokers' own (KIP-890: batched, verify-only); a broker with an authorizer refuses them from a
 * client without CLUSTER_ACTION (`CLUSTER_AUTHORIZATION_FAILED`), a right no role should have.
 * Version 3 takes the same request here. The library has no option for it: its table of the
 * broker's versions (a private field, filled once from the broker's ApiVersions answer and read by
 * every request) is capped here once, as it is stored.
 *
 * @param producer A library `Producer`.
 * @throws {Error} When the library's internals have changed (a pinned version makes this a test
 * failure, not a surprise in production: `internals_test.ts`).
 */
export function clientTransactionApis(producer: object): void {
  const apisKey = symbolOf(producer, "plt.kafka.base.apis");
  let apis = capAddPartitionsToTxn((producer as Record<symbol, unknown>)[apisKey]);
  Object.defineProperty(producer, apisKey, {
    configurable: true,
    enumerable: true,
    get: () => apis,
    set: (value: unknown) => (apis = capAddPartitionsToTxn(value)),
  });
}

/** The library's table of the broker's API versions, AddPartitionsToTxn capped at version 3. */
function capAddPartitionsToTxn(apis: unknown): unknown {
  if (!Array.isArray(apis)) return apis;
  return apis.map((api) =>
    api?.name === "AddPartitionsToTxn" && api.maxVersion > CLIENT_ADD_PARTITIONS_TO_TXN
      ? { ...api, maxVersion: CLIENT_ADD_PARTITIONS_TO_TXN }
      : api
  );
}

function symbolOf(object: object, description: string): symbol {
  for (let o: object | null = object; o !== null; o = Object.getPrototypeOf(o)) {
    const found = Object.getOwnPropertySymbols(o).find((s) => s.description === description);
    if (found !== undefined) return found;
  }
  throw new Error(
    `Cannot cap AddPartitionsToTxn to a client version: @platformatic/kafka has no ${description}`,
  );
}

/**
 * The group's offsets for `offsets` (the next offset to read, per partition) committed in the
 * producer's open transaction with one TxnOffsetCommit request to the group coordinator, with the
 * library's retries. The transaction must have the group added already (AddOffsetsToTxn).
 */
export function commitOffsets(
  producer: Producer<string, string, string, string>,
  consumer: Consumer,
  request: {
    transactionalId: string;
    groupId: string;
    generationId: number;
    groupInstanceId: string;
    offsets: readonly Position[];
  },
): Promise<void> {
  const byTopic = Map.groupBy(request.offsets, (o) => o.topic);
  // The library's internal client API (exported symbols): callback style throughout.
  type Callback<T> = (error: Error | null, value?: T) => void;
  type Internal = {
    [kMetadata](
      o: { topics: string[] },
      cb: Callback<{
        brokers: Map<number, unknown>;
        topics: Map<string, { partitions: { leaderEpoch: number }[] }>;
      }>,
    ): void;
    [kGetConnection](broker: unknown, cb: Callback<unknown>): void;
    [kGetApi](name: string, cb: Callback<(...args: unknown[]) => void>): void;
    [kPerformWithRetry](
      id: string,
      op: (retry: Callback<unknown>) => void,
      cb: Callback<unknown>,
    ): void;
  };
  const client = producer as unknown as Internal;
  return new Promise((resolve, reject) => {
    client[kPerformWithRetry]("commit", (retry) => {
      client[kMetadata]({ topics: [...byTopic.keys()] }, (error, metadata) => {
        if (error || metadata === undefined) return retry(error);
        client[kGetConnection](
          metadata.brokers.get(consumer.coordinatorId ?? -1),
          (error, connection) => {
            if (error) return retry(error);
            client[kGetApi]("TxnOffsetCommit", (error, api) => {
              if (error || api === undefined) return retry(error);
              api(
                connection,
                request.transactionalId,
                request.groupId,
                producer.producerId,
                producer.producerEpoch,
                request.generationId,
                consumer.memberId,
                request.groupInstanceId,
                [...byTopic].map(([name, list]) => ({
                  name,
                  partitions: list.map((o) => ({
                    partitionIndex: o.partition,
                    committedOffset: BigInt(o.offset),
                    committedLeaderEpoch:
                      metadata.topics.get(name)?.partitions[o.partition]?.leaderEpoch ?? -1,
                  })),
                })),
                (error: Error | null) => retry(error),
              );
            });
          },
        );
      });
    }, (error) => (error ? reject(error) : resolve()));
  });
}
