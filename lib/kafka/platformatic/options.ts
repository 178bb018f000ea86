/**
 * What every `@platformatic/kafka` client object of this adapter is created with: the client id,
 * the bootstrap brokers, and TLS and SASL when configured.
 */
import type { KafkaSecurity } from "../../config.ts";
import type { AdapterOptions } from "../adapter.ts";

/** The options every library client object is created with (TLS and SASL when configured). */
export type Base = {
  clientId: string;
  bootstrapBrokers: string[];
  tls?: NonNullable<KafkaSecurity["tls"]> & { rejectUnauthorized: boolean };
  sasl?: NonNullable<KafkaSecurity["sasl"]>;
};

/**
 * The library's client options for `security`: TLS that checks the brokers' certificates, and the
 * SASL login.
 */
function securityOptions(security: KafkaSecurity): Pick<Base, "tls" | "sasl"> {
  return {
    ...(security.tls ? { tls: { ...security.tls, rejectUnauthorized: true } } : {}),
    ...(security.sasl ? { sasl: { ...security.sasl } } : {}),
  };
}

/**
 * The library's client options for `options`.
 *
 * @param options Brokers, client id, TLS and SASL.
 * @returns What every client object of the adapter is created with.
 */
export function baseOf(options: AdapterOptions): Base {
  return {
    clientId: options.clientId,
    bootstrapBrokers: [...options.brokers],
    ...securityOptions(options.security ?? {}),
  };
}
