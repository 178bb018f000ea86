/**
 * The one-time setup of a secured cluster, run with the admin principal's credentials: Despacho's
 * topics, then every role's ACLs ({@linkcode aclBindings}). Both are idempotent: running it again
 * (after a new topic or role) adds what is missing and changes nothing else.
 */
import type { Config } from "../config.ts";
import { waitFor } from "../wait.ts";
import { type AclBinding, aclBindings, type PrincipalRole } from "./acls.ts";
import type { KafkaClient } from "./interfaces.ts";
import { despachoTopics } from "./topics.ts";

/** Options of {@linkcode provisionKafka}. */
export interface ProvisionOptions {
  /** The SCRAM user of each role. @default each role's name */
  users?: Partial<Record<PrincipalRole, string>>;
  /** Longest wait for the topics. */
  timeoutMs: number;
  /** Progress. */
  say?: (line: string) => void;
}

/**
 * Creates Despacho's topics and ACLs with an admin client, and waits until the brokers apply the
 * ACLs (they are metadata records, applied a moment after the call is answered): a role started
 * afterwards is not refused.
 *
 * @param admin A client logged in as a principal allowed to create topics and ACLs.
 * @param config Topic names, partitions, group prefix.
 * @param options Users, ceiling, progress.
 * @returns The ACLs it asked for.
 * @throws The broker's refusal (e.g. `CLUSTER_AUTHORIZATION_FAILED` for a principal that is not
 * an admin).
 */
export async function provisionKafka(
  admin: KafkaClient,
  config: Config,
  options: ProvisionOptions,
): Promise<AclBinding[]> {
  await admin.ensureTopics(
    despachoTopics(config),
    { timeoutMs: options.timeoutMs, ...(options.say ? { say: options.say } : {}) },
  );
  const acls = aclBindings(config, options.users);
  await admin.createAcls(acls);
  const principals = [...new Set(acls.map((a) => a.principal))];
  const key = (a: AclBinding) =>
    `${a.principal}|${a.resourceType}|${a.pattern}|${a.name}|${a.operation}`;
  await waitFor("the brokers to apply the ACLs", async () => {
    const found = new Set<string>();
    for (const p of principals) for (const a of await admin.describeAcls(p)) found.add(key(a));
    const missing = acls.filter((a) => !found.has(key(a))).length;
    return missing === 0
      ? { ready: true, value: undefined }
      : { ready: false, why: `${missing} of ${acls.length} not applied yet` };
  }, {
    timeoutMs: options.timeoutMs,
    intervalMs: 100,
    progressMs: 10_000,
    ...(options.say ? { say: options.say } : {}),
  });
  options.say?.(
    `kafka: ${acls.length} ACLs set for ${new Set(acls.map((a) => a.principal)).size} principals`,
  );
  return acls;
}
