/**
 * Who may do what on Despacho's Kafka, in one table: each role's principal gets the topics it
 * reads and writes, its consumer group, its transactional ids and idempotent writes, and nothing
 * else (the broker's `StandardAuthorizer` refuses what no ACL allows). A new topic or role gets its
 * rules here, and `aclBindings_test.ts` says what each principal may not do.
 *
 * Every role may also see (`DESCRIBE`: name, partitions, offsets; not the records) the topics it
 * makes sure exist at start-up, and join the throw-away groups of the whole-topic readers of
 * kafkajs ({@linkcode READER_GROUP_PREFIXES}), which commit nothing.
 */
import type { Config } from "../config.ts";
import { despachoTopics, orderTopics, purchaseMailTopics, purchaseTopics } from "./topics.ts";

/** The principals Despacho's ACLs are for: one per role, and the shop's own producers. */
export const PRINCIPAL_ROLES = [
  "gateway",
  "processing",
  "notification",
  "purchase-analytics",
  "producer",
] as const;

/** One of {@linkcode PRINCIPAL_ROLES}. */
export type PrincipalRole = typeof PRINCIPAL_ROLES[number];

/** Prefixes of the throw-away consumer groups of kafkajs's whole-topic and range readers. */
export const READER_GROUP_PREFIXES = ["despacho-reader-", "despacho-range-"] as const;

/** One ACL: `principal` is allowed `operation` on the resource. */
export interface AclBinding {
  /** `User:<name>`. */
  principal: string;
  resourceType: "topic" | "group" | "transactional-id" | "cluster";
  /** The resource's name, or the prefix of its names (`pattern: "prefixed"`). */
  name: string;
  pattern: "literal" | "prefixed";
  operation: "read" | "write" | "describe" | "idempotent-write";
}

/** The variables {@linkcode aclBindings} reads. */
export type AclConfig = Config;

/**
 * The ACLs of every Despacho principal, from the configuration's topic names and group prefix.
 *
 * @param config Topic names, `GROUP_ID_PREFIX`, partitions (the topic lists are the roles' own).
 * @param users The SCRAM user of each role. @default each role's name (`gateway`, …)
 * @returns Every binding, allow only, without duplicates.
 *
 * @example
 * ```ts
 * import { loadConfig } from "../config.ts";
 * import { aclBindings } from "./acls.ts";
 * const acls = aclBindings(loadConfig({}));
 * acls.some((a) => a.principal === "User:gateway" && a.name === "order_processing" &&
 *   a.operation === "write"); // false
 * ```
 */
export function aclBindings(
  config: AclConfig,
  users: Partial<Record<PrincipalRole, string>> = {},
): AclBinding[] {
  const roles = roleAccess(config);
  const out = new Map<string, AclBinding>();
  const add = (b: AclBinding) =>
    out.set(`${b.principal}|${b.resourceType}|${b.pattern}|${b.name}|${b.operation}`, b);
  for (const role of PRINCIPAL_ROLES) {
    const r = roles[role];
    const principal = `User:${users[role] ?? role}`;
    const topic = (name: string, operation: AclBinding["operation"]) =>
      add({ principal, resourceType: "topic", name, pattern: "literal", operation });
    for (const t of [...r.describe, ...r.read, ...r.write]) topic(t, "describe");
    for (const t of r.read) topic(t, "read");
    for (const t of r.write) topic(t, "write");
    add({
      principal,
      resourceType: "cluster",
      name: "kafka-cluster",
      pattern: "literal",
      operation: "idempotent-write",
    });
    if (r.group !== undefined) {
      add({
        principal,
        resourceType: "group",
        name: r.group,
        pattern: "literal",
        operation: "read",
      });
      // The instance's transactional id is `<group>-<instance id>`.
      add({
        principal,
        resourceType: "transactional-id",
        name: `${r.group}-`,
        pattern: "prefixed",
        operation: "write",
      });
    }
    if (r.readers) {
      for (const name of READER_GROUP_PREFIXES) {
        add({ principal, resourceType: "group", name, pattern: "prefixed", operation: "read" });
      }
    }
  }
  return [...out.values()];
}

/** What one role may do: see {@linkcode roleAccess}. */
interface RoleAccess {
  /** Topics it reads (and describes). */
  read: string[];
  /** Topics it writes (and describes). */
  write: string[];
  /** Topics it only describes. */
  describe: string[];
  /** Its consumer group, also the prefix of its transactional ids; none: it has no group. */
  group?: string;
  /** Whether it may run plain readers (groups named with a reader prefix). */
  readers: boolean;
}

/** What each role may do, one entry a role, from the topics it uses. */
function roleAccess(config: AclConfig): Record<PrincipalRole, RoleAccess> {
  const c = config;
  const group = (role: string) => `${c.GROUP_ID_PREFIX}-${role}`;
  const names = (defs: { name: string }[]) => defs.map((d) => d.name);
  return {
    gateway: {
      // Orders come from the status topic (its order store), no longer from the pipeline's topics.
      read: [c.TOPIC_ORDER_STATUS, c.TOPIC_PURCHASE_ANALYTICS],
      // Staff's erasure requests too (DELETE /orders/{id}).
      write: [c.TOPIC_ORDER_REQUESTS, c.TOPIC_ORDER_ERASURES, c.TOPIC_PURCHASES],
      // It makes sure every topic exists before it serves.
      describe: names(despachoTopics(c)),
      readers: true,
    },
    processing: {
      read: [c.TOPIC_ORDER_REQUESTS, c.TOPIC_ORDER_PROCESSING, c.TOPIC_ORDER_ERASURES],
      write: [c.TOPIC_ORDER_PROCESSING, c.TOPIC_ORDER_STATUS, c.TOPIC_DEAD_LETTER],
      describe: names(orderTopics(c)),
      group: group("processing"),
      readers: true,
    },
    notification: {
      read: [
        c.TOPIC_ORDER_PROCESSING,
        c.TOPIC_ORDER_ERASURES,
        c.TOPIC_MAIL_RETRIES,
        c.TOPIC_PURCHASE_NOTIFICATIONS,
        c.TOPIC_PURCHASE_MAIL_RETRIES,
      ],
      write: [
        c.TOPIC_ORDER_NOTIFICATIONS,
        c.TOPIC_ORDER_STATUS,
        c.TOPIC_MAIL_RETRIES,
        c.TOPIC_PURCHASE_MAIL_RETRIES,
        c.TOPIC_PURCHASE_MAIL,
        c.TOPIC_DEAD_LETTER,
      ],
      describe: names([...orderTopics(c), ...purchaseMailTopics(c)]),
      group: group("notification"),
      readers: true,
    },
    "purchase-analytics": {
      // The state topic is read back at start (the last checkpoint of each partition).
      read: [c.TOPIC_PURCHASES, c.TOPIC_PURCHASE_STATE],
      write: [
        c.TOPIC_PURCHASE_NOTIFICATIONS,
        c.TOPIC_PURCHASE_ANALYTICS,
        c.TOPIC_PURCHASE_STATE,
        c.TOPIC_DEAD_LETTER,
      ],
      describe: names(purchaseTopics(c)),
      group: group("purchase-analytics"),
      readers: true,
    },
    // A shop's own producers: they may publish purchases, and nothing else.
    producer: { read: [], write: [c.TOPIC_PURCHASES], describe: [], readers: false },
  };
}

/** Kafka's protocol codes of a binding (the same in every client library), allow from any host. */
export function aclCodes(b: AclBinding): {
  resourceType: number;
  resourceName: string;
  resourcePatternType: number;
  principal: string;
  host: string;
  operation: number;
  permissionType: number;
} {
  return {
    resourceType: RESOURCE[b.resourceType],
    resourceName: b.name,
    resourcePatternType: b.pattern === "literal" ? 3 : 4,
    principal: b.principal,
    host: "*",
    operation: OPERATION[b.operation],
    permissionType: 3, // ALLOW
  };
}

/** A binding back from Kafka's codes; undefined for what Despacho never sets (DENY, ALL, …). */
export function aclFromCodes(a: {
  resourceType: number;
  resourceName: string;
  resourcePatternType: number;
  principal: string;
  operation: number;
  permissionType: number;
}): AclBinding | undefined {
  const resourceType = key(RESOURCE, a.resourceType);
  const operation = key(OPERATION, a.operation);
  if (resourceType === undefined || operation === undefined || a.permissionType !== 3) {
    return undefined;
  }
  if (a.resourcePatternType !== 3 && a.resourcePatternType !== 4) return undefined;
  return {
    principal: a.principal,
    resourceType,
    name: a.resourceName,
    pattern: a.resourcePatternType === 3 ? "literal" : "prefixed",
    operation,
  };
}

const RESOURCE = { topic: 2, group: 3, cluster: 4, "transactional-id": 5 } as const;
const OPERATION = { read: 3, write: 4, describe: 8, "idempotent-write": 12 } as const;

function key<K extends string>(table: Record<K, number>, code: number): K | undefined {
  return (Object.keys(table) as K[]).find((k) => table[k] === code);
}
