/**
 * Roles run inside a test process, each with a Kafka client of its own, as `workers/main.ts` runs
 * one per process: what the integration tests share instead of each wiring the context again.
 */
import type { Config } from "../../lib/config.ts";
import { createKafkaClient } from "../../lib/kafka/mod.ts";
import type { Logger } from "../../lib/log.ts";
import type { Role } from "../role.ts";

/** Roles started by {@linkcode startRoles}. */
export interface RunningRoles {
  /** Settles when every role has ended (a role that failed rejects it). */
  done: Promise<void>;
  /** Stops every role and waits for them to end; rejects when one of them failed. */
  stop(): Promise<void>;
}

/**
 * Starts `roles` on `config` in this process.
 *
 * @param config The configuration every role gets.
 * @param log Each role logs as its child, named after it.
 * @param roles Name → role (the names are the log's and nothing else).
 * @returns The running roles.
 */
export function startRoles(
  config: Config,
  log: Logger,
  roles: Readonly<Record<string, Role>>,
): RunningRoles {
  const stop = new AbortController();
  const running = Object.entries(roles).map(([name, role]) =>
    role({
      config,
      log: log.child(name),
      kafka: createKafkaClient(config, log),
      signal: stop.signal,
    })
  );
  return {
    done: Promise.all(running).then(() => {}),
    async stop() {
      stop.abort();
      await Promise.all(running);
    },
  };
}
