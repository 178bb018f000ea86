/**
 * The one-time setup of a secured Kafka, as its admin principal: Despacho's topics and every
 * role's ACLs (`lib/kafka/acls.ts`), through the client library's admin API. Run again after a
 * new topic or role: it adds what is missing. Configured like any Despacho process (the admin's
 * `KAFKA_SASL_USERNAME`, `KAFKA_SASL_PASSWORD_FILE`, `KAFKA_TLS_CA_FILE`, the topic names);
 * `KAFKA_ROLE_USERS` maps roles to other SCRAM users (`gateway=shop-gw,processing=shop-proc`).
 *
 * ```sh
 * deno run --allow-net --allow-env --allow-read infra/kafka_setup.ts
 * ```
 */
import { loadConfig } from "../lib/config.ts";
import {
  createKafkaClient,
  PRINCIPAL_ROLES,
  type PrincipalRole,
  provisionKafka,
} from "../lib/kafka/mod.ts";
import { createLogger } from "../lib/log.ts";

/**
 * Parses `KAFKA_ROLE_USERS`.
 *
 * @param text `role=user` pairs, comma separated; empty or undefined: none.
 * @returns The users by role.
 * @throws {RangeError} When a pair is malformed or names no role of {@linkcode PRINCIPAL_ROLES}.
 */
export function roleUsers(text: string | undefined): Partial<Record<PrincipalRole, string>> {
  const out: Partial<Record<PrincipalRole, string>> = {};
  for (const pair of (text ?? "").split(",").map((p) => p.trim()).filter((p) => p !== "")) {
    const [role, user] = pair.split("=").map((x) => x.trim());
    if (!PRINCIPAL_ROLES.includes(role as PrincipalRole) || !user) {
      throw new RangeError(
        `Cannot read KAFKA_ROLE_USERS: expected role=user with a role of ${
          PRINCIPAL_ROLES.join(", ")
        }: current value is "${pair}"`,
      );
    }
    out[role as PrincipalRole] = user;
  }
  return out;
}

if (import.meta.main) {
  const say = (line: string) => console.error(`[kafka-setup] ${line}`);
  try {
    const env = Deno.env.toObject();
    const config = loadConfig(env);
    const admin = createKafkaClient(config, createLogger("kafka-setup", config.LOG_LEVEL));
    const acls = await provisionKafka(admin, config, {
      users: roleUsers(env.KAFKA_ROLE_USERS),
      timeoutMs: config.STARTUP_TIMEOUT_MS,
      say,
    });
    await admin.close();
    say(`done: topics exist, ${acls.length} ACLs applied`);
  } catch (error) {
    say(error instanceof Error ? error.message : String(error));
    Deno.exit(1);
  }
}
