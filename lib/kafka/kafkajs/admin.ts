/**
 * What the kafkajs seam does with an admin client: topics, offsets, metadata and ACLs, through one
 * connection kept between calls and made anew after a failure.
 */
import type { Admin, Kafka } from "kafkajs";
import { type AclBinding, aclCodes, aclFromCodes } from "../acls.ts";
import type { AdminPart } from "../adapter.ts";
import { ensureTopics, type TopicAdmin } from "../topics.ts";

/**
 * The admin part of the seam on kafkajs.
 *
 * @param kafka The adapter's `Kafka`.
 * @returns The admin calls; `close` disconnects the admin client.
 */
export function kafkajsAdmin(kafka: Kafka): AdminPart {
  let admin: Admin | null = null;
  /** A connected admin client, made anew after a failure. */
  async function withAdmin<T>(use: (admin: Admin) => Promise<T>): Promise<T> {
    const a = admin ??= kafka.admin();
    try {
      await a.connect();
      return await use(a);
    } catch (error) {
      if (admin === a) admin = null;
      await a.disconnect().catch(() => {});
      throw error;
    }
  }
  const topicAdmin = kafkajsTopicAdmin(withAdmin);

  return {
    ensureTopics: (defs, o) => ensureTopics(topicAdmin, defs, o),
    endOffsets: (topic) =>
      withAdmin(async (a) =>
        (await a.fetchTopicOffsets(topic)).map((p) => ({
          partition: p.partition,
          low: p.low,
          high: p.high,
        }))
      ),
    groupOffsets: (groupId, topic) =>
      withAdmin(async (a) =>
        (await a.fetchOffsets({ groupId, topics: [topic] }))[0]?.partitions.map((p) => ({
          partition: p.partition,
          offset: p.offset,
        })) ?? []
      ),
    offsetsAtTime: (topic, timestampMs) =>
      withAdmin(async (a) =>
        (await a.fetchTopicOffsetsByTimestamp(topic, timestampMs)).map((p) => ({
          partition: p.partition,
          offset: p.offset,
        }))
      ),
    ping: () => withAdmin(async (a) => void await a.describeCluster()),
    ...kafkajsAclCalls(withAdmin),
    describeTopic: (topic) =>
      withAdmin(async (a) => {
        const { topics } = await a.fetchTopicMetadata({ topics: [topic] });
        return (topics[0]?.partitions ?? []).map((p) => ({
          partition: p.partitionId,
          leader: p.leader,
          replicas: p.replicas,
          isr: p.isr,
        })).sort((x, y) => x.partition - y.partition);
      }),
    async close() {
      await admin?.disconnect().catch(() => {});
      admin = null;
    },
  };
}

/** Runs `use` with a connected admin client. */
type WithAdmin = <T>(use: (admin: Admin) => Promise<T>) => Promise<T>;

/** The seam's ACL calls, on kafkajs. */
function kafkajsAclCalls(withAdmin: WithAdmin): Pick<AdminPart, "createAcls" | "describeAcls"> {
  return {
    createAcls: (bindings) =>
      withAdmin(async (a) => {
        // kafkajs's enums are Kafka's protocol numbers.
        if (bindings.length > 0) await a.createAcls({ acl: bindings.map(aclCodes) as never });
      }),
    describeAcls: (principal) =>
      withAdmin(async (a) => {
        const found = await a.describeAcls(
          {
            resourceType: 1, // ANY
            resourcePatternType: 1, // ANY
            principal,
            operation: 1, // ANY
            permissionType: 1, // ANY
          } as never,
        );
        return found.resources.flatMap((r) =>
          r.acls.map((acl) =>
            aclFromCodes({
              resourceType: r.resourceType,
              resourceName: r.resourceName,
              resourcePatternType: r.resourcePatternType,
              principal: acl.principal,
              operation: acl.operation,
              permissionType: acl.permissionType,
            })
          ).filter((b): b is AclBinding => b !== undefined)
        );
      }),
  };
}

/** What `ensureTopics` asks of an admin client, on kafkajs. */
function kafkajsTopicAdmin(withAdmin: WithAdmin): TopicAdmin {
  return {
    listTopics: () => withAdmin((a) => a.listTopics()),
    createTopics: (defs) =>
      withAdmin(async (a) => {
        // kafkajs answers false (rather than failing) when the topics already exist.
        const created = await a.createTopics({
          topics: defs.map((d) => ({
            topic: d.name,
            numPartitions: d.partitions,
            replicationFactor: d.replicationFactor,
            configEntries: Object.entries(d.configs ?? {}).map(([name, value]) => ({
              name,
              value,
            })),
          })),
          waitForLeaders: false,
        });
        return created ? defs.map((d) => d.name) : [];
      }),
    isAlreadyExists(error) {
      const inner = (error as { errors?: { type?: string }[] } | null)?.errors;
      if (Array.isArray(inner) && inner.length > 0) {
        return inner.every((e) => e.type === "TOPIC_ALREADY_EXISTS");
      }
      return error instanceof Error && /already exists/i.test(error.message);
    },
    leaders: (names) =>
      withAdmin(async (a) => {
        const { topics } = await a.fetchTopicMetadata({ topics: [...names] });
        return new Map(topics.map((t) => [t.name, t.partitions.map((p) => p.leader)]));
      }),
  };
}
