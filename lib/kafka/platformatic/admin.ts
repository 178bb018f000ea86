/**
 * What the `@platformatic/kafka` seam does with an admin client: topics, offsets, metadata and
 * ACLs, through one admin client kept between calls (the library reconnects it by itself).
 */
import { Admin, FetchIsolationLevels, ListOffsetTimestamps } from "@platformatic/kafka";
import { type AclBinding, aclCodes, aclFromCodes } from "../acls.ts";
import type { AdminPart } from "../adapter.ts";
import { ensureTopics, type TopicAdmin } from "../topics.ts";
import { hasKafkaError } from "./errors.ts";
import type { Base } from "./options.ts";

/** The admin part of the seam, and the admin client itself. */
export type PlatformaticAdmin = AdminPart & {
  /** The admin client, created on first use (the transactional loop reads offsets with it). */
  adminOf(): Admin;
};

/**
 * The admin part of the seam on `@platformatic/kafka`.
 *
 * @param base Client id, brokers, TLS and SASL.
 * @returns The admin calls; `close` closes the admin client.
 */
export function platformaticAdmin(base: Base): PlatformaticAdmin {
  let admin: Admin | null = null;
  const adminOf = () => admin ??= new Admin({ ...base, retries: 3, retryDelay: 250 });
  const topicAdmin = platformaticTopicAdmin(adminOf);

  async function listOffsets(topic: string, timestamp: bigint, committed: boolean) {
    const metadata = await adminOf().metadata({ topics: [topic] });
    const count = metadata.topics.get(topic)?.partitionsCount ?? 0;
    const listed = await adminOf().listOffsets({
      topics: [{
        name: topic,
        partitions: Array.from({ length: count }, (_, i) => ({ partitionIndex: i, timestamp })),
      }],
      isolationLevel: committed
        ? FetchIsolationLevels.READ_COMMITTED
        : FetchIsolationLevels.READ_UNCOMMITTED,
    });
    return new Map(
      (listed.find((t) => t.name === topic)?.partitions ?? []).map((
        p,
      ) => [p.partitionIndex, p.offset]),
    );
  }

  return {
    adminOf,
    ensureTopics: (defs, o) => ensureTopics(topicAdmin, defs, o),
    async endOffsets(topic) {
      const low = await listOffsets(topic, ListOffsetTimestamps.EARLIEST, false);
      const high = await listOffsets(topic, ListOffsetTimestamps.LATEST, false);
      return [...high].map(([partition, h]) => ({
        partition,
        low: String(low.get(partition) ?? 0n),
        high: String(h),
      }));
    },
    async groupOffsets(groupId, topic) {
      const groups = await adminOf().listConsumerGroupOffsets({ groups: [groupId] });
      const t = groups.find((g) => g.groupId === groupId)?.topics.find((x) => x.name === topic);
      return (t?.partitions ?? []).map((p) => ({
        partition: p.partitionIndex,
        offset: String(p.committedOffset),
      }));
    },
    async offsetsAtTime(topic, timestampMs) {
      const at = await listOffsets(topic, BigInt(timestampMs), true);
      const ends = await listOffsets(topic, ListOffsetTimestamps.LATEST, true);
      return [...ends].map(([partition, end]) => {
        const o = at.get(partition) ?? -1n;
        return { partition, offset: String(o < 0n ? end : o) };
      });
    },
    async ping() {
      await adminOf().metadata({ topics: [], forceUpdate: true });
    },
    async describeTopic(topic) {
      const metadata = await adminOf().metadata({ topics: [topic], forceUpdate: true });
      return (metadata.topics.get(topic)?.partitions ?? []).map((p, partition) => ({
        partition,
        leader: p.leader,
        replicas: p.replicas,
        isr: p.isr,
      }));
    },
    ...platformaticAclCalls(adminOf),
    async close() {
      await admin?.close().catch(() => {});
      admin = null;
    },
  };
}

/** The seam's ACL calls, on `@platformatic/kafka`. */
function platformaticAclCalls(
  adminOf: () => Admin,
): Pick<AdminPart, "createAcls" | "describeAcls"> {
  return {
    async createAcls(bindings) {
      if (bindings.length === 0) return;
      // The library's types name each code's own union; Kafka's numbers are the same.
      await adminOf().createAcls({ creations: bindings.map(aclCodes) as never });
    },
    async describeAcls(principal) {
      const found = await adminOf().describeAcls({
        filter: {
          resourceType: 1, // ANY
          resourceName: null,
          resourcePatternType: 1, // ANY
          principal,
          host: null,
          operation: 1, // ANY
          permissionType: 1, // ANY
        } as never,
      });
      return found.flatMap((r) =>
        r.acls.map((a) =>
          aclFromCodes({
            resourceType: r.resourceType,
            resourceName: r.resourceName,
            resourcePatternType: r.resourcePatternType,
            principal: a.principal,
            operation: a.operation,
            permissionType: a.permissionType,
          })
        ).filter((b): b is AclBinding => b !== undefined)
      );
    },
  };
}

/** What `ensureTopics` asks of an admin client, on `@platformatic/kafka`. */
function platformaticTopicAdmin(adminOf: () => Admin): TopicAdmin {
  return {
    listTopics: () => adminOf().listTopics(),
    async createTopics(defs) {
      const created: string[] = [];
      for (const d of defs) {
        const done = await adminOf().createTopics({
          topics: [d.name],
          partitions: d.partitions,
          replicas: d.replicationFactor,
          configs: Object.entries(d.configs ?? {}).map(([name, value]) => ({ name, value })),
        });
        created.push(...done.map((t) => t.name));
      }
      return created;
    },
    isAlreadyExists: (error) => hasKafkaError(error, "TOPIC_ALREADY_EXISTS"),
    async leaders(names) {
      const metadata = await adminOf().metadata({ topics: [...names], forceUpdate: true });
      return new Map(
        [...metadata.topics].map(([name, t]) => [name, t.partitions.map((p) => p.leader)]),
      );
    },
  };
}
