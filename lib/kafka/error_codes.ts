/**
 * The Kafka error codes and TLS failure codes an error of either client library carries, so that
 * a refusal can be told apart (and said in one sentence) whichever library threw it:
 * `@platformatic/kafka` nests protocol errors (`apiId`) in `errors` and `cause`; kafkajs names them
 * in `type`; Node's TLS puts its reason in `code`. A worker's restart line says them
 * (`workers/main.ts`), and the security test matches each refused attack on them.
 */

/**
 * Collects the codes of `error` and of everything it wraps.
 *
 * @param error Anything thrown by the seam.
 * @returns Codes such as `TOPIC_AUTHORIZATION_FAILED`, `SASL_AUTHENTICATION_FAILED`,
 * `SELF_SIGNED_CERT_IN_CHAIN`, without duplicates, outermost first.
 *
 * @example
 * ```ts
 * import { kafkaErrorCodes } from "./error_codes.ts";
 * kafkaErrorCodes(Object.assign(new Error("no"), { type: "GROUP_AUTHORIZATION_FAILED" })); // ["GROUP_AUTHORIZATION_FAILED"]
 * ```
 */
export function kafkaErrorCodes(error: unknown): string[] {
  const codes = new Set<string>();
  const seen = new Set<unknown>();
  const visit = (e: unknown, depth: number) => {
    if (typeof e !== "object" || e === null || seen.has(e) || depth > 8) return;
    seen.add(e);
    const o = e as Record<string, unknown>;
    for (const field of ["apiId", "type", "code"]) {
      const v = o[field];
      if (typeof v === "string" && /^[A-Z][A-Z0-9_]+$/.test(v)) {
        codes.add(v);
      }
    }
    visit(o.cause, depth + 1);
    visit(o.originalError, depth + 1);
    if (Array.isArray(o.errors)) { for (const x of o.errors) visit(x, depth + 1); }
  };
  visit(error, 0);
  return [...codes];
}
