/**
 * The shape every worker role module exports, so `workers/main.ts` can run any of them.
 */
import type { Config } from "../lib/config.ts";
import type { KafkaClient } from "../lib/kafka/mod.ts";
import type { Logger } from "../lib/log.ts";

/** What a role gets from the entrypoint. */
export interface RoleContext {
  config: Config;
  log: Logger;
  kafka: KafkaClient;
  /** Aborted on SIGINT/SIGTERM: the role stops consuming, finishes its transaction, resolves. */
  signal: AbortSignal;
}

/** A role: runs until `ctx.signal` aborts (resolves) or a fatal error (rejects). */
export type Role = (ctx: RoleContext) => Promise<void>;

/** Who a role is to Kafka: its consumer group and the topics it reads. */
export interface RoleIdentity {
  groupId: string;
  /** Its input topics: what its consumer group reads, for its lag and its dead letters. */
  topics: string[];
}

/** What a role's module exports: how it runs, and who it is, declared once beside `run`. */
export interface RoleModule {
  run: Role;
  identity(config: Config): RoleIdentity;
}

/**
 * The instance's stable identity, for Kafka transactional ids: `INSTANCE_ID`, else the host name.
 * A restarted instance must get the same one, so that it fences its predecessor.
 *
 * @param config Where `INSTANCE_ID` is read.
 */
export function instanceId(config: Pick<Config, "INSTANCE_ID">): string {
  if (config.INSTANCE_ID !== undefined) return config.INSTANCE_ID;
  try {
    return Deno.hostname();
  } catch {
    return "local";
  }
}

/**
 * Runs `fn` when `signal` aborts — at once if it already has (a stop asked for during start-up).
 *
 * @param signal The role's stop signal (the process's: it outlives a role restarted in it).
 * @param fn What stops the role.
 * @returns What forgets `fn`: a role calls it when it ends, or each restart would leave its
 * stopped loop reachable from the process's signal.
 */
export function onAbort(signal: AbortSignal, fn: () => void): () => void {
  if (signal.aborted) {
    fn();
    return () => {};
  }
  signal.addEventListener("abort", fn, { once: true });
  return () => signal.removeEventListener("abort", fn);
}
