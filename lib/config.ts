/**
 * Configuration, read once from the environment by entrypoints through one zod schema.
 * No other module reads the environment. A secret or a certificate may come from a file instead
 * (`SMTP_PASSWORD_FILE`: how Docker and Kubernetes hand secrets over), read here too.
 */
import { readFileSync } from "node:fs";
import { z } from "zod";
import { DespachoError } from "./errors.ts";
import { plainText } from "./plain_text.ts";
import { DEFAULT_STORE_NAME } from "./purchase.ts";

/**
 * The client libraries behind lib/kafka, the values `KAFKA_CLIENT` may take. Declared here with
 * the setting rather than in lib/kafka, so that configuration imports nothing above it.
 */
export const KAFKA_CLIENTS = ["platformatic", "kafkajs"] as const;

const brokerList = z.string().transform((s, ctx) => {
  const brokers = s.split(",").map((b) => b.trim()).filter((b) => b !== "");
  const bad = brokers.find((b) => !/^[A-Za-z0-9.\-_[\]:]+:\d{1,5}$/.test(b));
  if (brokers.length === 0 || bad !== undefined) {
    ctx.addIssue({ code: "custom", message: `expected host:port[,host:port…], got "${s}"` });
    return z.NEVER;
  }
  return brokers;
});

const topicName = z.string().regex(/^[A-Za-z0-9._-]{1,249}$/, "expected a Kafka topic name");
const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

/** Milliseconds an order dwells in recibido, preparando and entregando: one number or three. */
const dwell = z.string().transform((s, ctx) => {
  const parts = s.split(",").map((p) => Number(p.trim()));
  const ok = (parts.length === 1 || parts.length === 3) &&
    parts.every((n) => Number.isInteger(n) && n >= 0 && n <= 3_600_000);
  if (!ok) {
    ctx.addIssue({
      code: "custom",
      message: `expected one or three whole milliseconds from 0 to 3600000, got "${s}"`,
    });
    return z.NEVER;
  }
  return parts.length === 1
    ? [parts[0]!, parts[0]!, parts[0]!] as const
    : parts as unknown as readonly [number, number, number];
});

/** IPv4 or IPv6 addresses, and IPv4 CIDR blocks, comma-separated. */
const addressList = z.string().transform((s, ctx) => {
  const items = s.split(",").map((a) => a.trim()).filter((a) => a !== "");
  const bad = items.find((a) => !IPV4_BLOCK.test(a) && !IPV6.test(a));
  if (items.length === 0 || bad !== undefined) {
    ctx.addIssue({
      code: "custom",
      message: `expected IP addresses or IPv4 blocks (a.b.c.d/n), comma-separated, got "${s}"`,
    });
    return z.NEVER;
  }
  return items;
});
const IPV4_BLOCK = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(\/(3[0-2]|[12]?\d))?$/;
const IPV6 = /^[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*$/;

/** A PEM block of the given label (`CERTIFICATE`; `PRIVATE KEY` also matches `RSA PRIVATE KEY`). */
const pem = (label: string) =>
  z.string().regex(new RegExp(`-----BEGIN [A-Z ]*${label}-----`), `expected a PEM ${label}`);

/** Kafka's `security.protocol` values, the ones `KAFKA_SECURITY_PROTOCOL` may take. */
export const KAFKA_SECURITY_PROTOCOLS = ["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] as const;

/** Kafka's `sasl.mechanism` values Despacho's clients can log in with. */
export const KAFKA_SASL_MECHANISMS = ["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"] as const;

/** How the SMTP session is protected: see {@linkcode smtpSettings}. */
export const SMTP_TLS_MODES = ["starttls", "implicit", "none"] as const;

/** One of {@linkcode SMTP_TLS_MODES}. */
export type SmtpTls = typeof SMTP_TLS_MODES[number];

/** The environment variables Despacho reads, with their defaults. */
export const ConfigSchema = z.object({
  KAFKA_BROKERS: brokerList.default(["127.0.0.1:9092"]),
  KAFKA_CLIENT_ID: z.string().min(1).default("despacho"),
  /** The Kafka client library behind lib/kafka (see the README for why the default). */
  KAFKA_CLIENT: z.enum(KAFKA_CLIENTS).default("platformatic"),
  /** Partitions for topics Despacho creates (the seed compares 1 and 5). */
  TOPIC_PARTITIONS: int(1, 1000).default(5),
  TOPIC_REPLICATION_FACTOR: int(1, 10).default(1),
  TOPIC_ORDER_REQUESTS: topicName.default("order_requests"),
  TOPIC_ORDER_PROCESSING: topicName.default("order_processing"),
  TOPIC_ORDER_NOTIFICATIONS: topicName.default("order_notifications"),
  /** Mails still owed after a temporary SMTP failure, with the time each is due. */
  TOPIC_MAIL_RETRIES: topicName.default("order_mail_retries"),
  TOPIC_DEAD_LETTER: topicName.default("despacho_dead_letter"),
  /** Compacted: every order's reached states and mail outcomes, one key per fact (lib/order_status.ts). */
  TOPIC_ORDER_STATUS: topicName.default("order_status"),
  /** Compacted: staff's erasure requests, order ids only, kept for good (lib/order.ts). */
  TOPIC_ORDER_ERASURES: topicName.default("order_erasures"),
  TOPIC_PURCHASES: topicName.default("purchase_events"),
  TOPIC_PURCHASE_NOTIFICATIONS: topicName.default("purchase_notifications"),
  TOPIC_PURCHASE_ANALYTICS: topicName.default("purchase_analytics"),
  TOPIC_PURCHASE_STATE: topicName.default("purchase_analytics_state"),
  /** Purchase mails still owed after a temporary SMTP failure, with the time each is due. */
  TOPIC_PURCHASE_MAIL_RETRIES: topicName.default("purchase_mail_retries"),
  /** The outcome of each purchase mail (sent, or failed for good): no address, no text. */
  TOPIC_PURCHASE_MAIL: topicName.default("purchase_mail"),
  HOST: z.string().min(1).default("127.0.0.1"),
  PORT: int(0, 65535).default(8080),
  /** Largest request body the gateway reads, in bytes. */
  MAX_BODY_BYTES: int(256, 64 * 1024 * 1024).default(1024 * 1024),
  /** How long the gateway waits for Kafka to acknowledge a write before answering 503. */
  KAFKA_ACK_TIMEOUT_MS: int(100, 120_000).default(5000),
  /**
   * Longest wait for Kafka at start-up (topics, group join, producer init): slow is not broken, a
   * broker on a small machine has needed minutes.
   */
  STARTUP_TIMEOUT_MS: int(1000, 24 * 3_600_000).default(600_000),
  /**
   * How long a consumer group waits for a silent worker before moving its partitions. Long enough
   * that a slow machine keeps its membership; a stopped worker leaves at once, and with static
   * membership (platformatic) a restarted one takes its partitions back at once. The broker bounds
   * it to 6 s–30 min by default.
   */
  KAFKA_SESSION_TIMEOUT_MS: int(6000, 1_800_000).default(30_000),
  /** Records the gateway holds for Kafka at once (admitted, batched or in flight); beyond, 429. */
  MAX_PENDING_PUBLISHES: int(1, 1_000_000).default(20_000),
  /** Items (non-blank lines) of one `POST /purchases` batch, at most; beyond, 413. */
  MAX_BATCH_LINES: int(1, 1_000_000).default(10_000),
  /**
   * The gateway's HTTP server: `strict` (ours, `gateway/http1.ts`, with the header count and time
   * limits below) or `deno` (`Deno.serve`: fewer CPU cycles per request, none of those limits; for
   * use behind a proxy that enforces them).
   */
  HTTP_SERVER: z.enum(["strict", "deno"]).default("strict"),
  /** Header fields of one request, at most; beyond, 431. */
  MAX_REQUEST_HEADERS: int(1, 10_000).default(100),
  /** Longest wait for a request's head, from its first byte (or the connection's opening); then 408. */
  HEADERS_TIMEOUT_MS: int(100, 600_000).default(10_000),
  /** Longest wait for a whole request, head and body; then 408. */
  REQUEST_TIMEOUT_MS: int(100, 600_000).default(30_000),
  /** Longest idle time of a kept-alive connection between two requests. */
  KEEP_ALIVE_TIMEOUT_MS: int(100, 600_000).default(5_000),
  /** Longest wait on SIGTERM for requests in flight and pending writes before the gateway exits. */
  DRAIN_TIMEOUT_MS: int(0, 600_000).default(10_000),
  STAGE_DWELL_MS: dwell.default([2000, 2000, 2000]),
  /**
   * The gateway's order store on disk (SQLite): the status topic materialised with the offsets it
   * applied, so a restart resumes instead of replaying. Lost or deleted: rebuilt from the topic.
   */
  ORDER_STORE_PATH: z.string().min(1).default(".cache/order-store.sqlite"),
  /**
   * How long a finished order's status is kept: the status topic's `retention.ms` (it is
   * `compact,delete`), and the age past which gateways prune their order stores. Default one year.
   */
  ORDER_STATUS_RETENTION_MS: int(60_000, 100 * 365 * 86_400_000).default(365 * 86_400_000),
  /**
   * How long the processing role remembers an order it has taken: a second request record for it
   * within this time is a duplicate (the gateway honours an Idempotency-Key as long: it gives the same id).
   */
  ORDER_DEDUPE_WINDOW_MS: int(1000, 30 * 86_400_000).default(86_400_000),
  /** Prefix of consumer group ids (`<prefix>-processing`, …): separate deployments on one cluster. */
  GROUP_ID_PREFIX: z.string().regex(/^[A-Za-z0-9._-]{1,100}$/).default("despacho"),
  /** Stable per worker instance: its Kafka transactional id derives from it. */
  INSTANCE_ID: z.string().regex(/^[A-Za-z0-9._-]{1,100}$/).optional(),
  /** `smtp://host:port` or `smtps://host:port` (implicit TLS), with a login in it or not. */
  SMTP_URL: z.url({ protocol: /^smtps?$/ }).optional(),
  /** SMTP login, when `SMTP_URL` carries none. */
  SMTP_USER: z.string().min(1).optional(),
  /** Its password (or `SMTP_PASSWORD_FILE`): never shown in logs, metrics or errors. */
  SMTP_PASSWORD: z.string().min(1).optional(),
  /** See {@linkcode smtpSettings} for the default. */
  SMTP_TLS: z.enum(SMTP_TLS_MODES).optional(),
  /** PEM certificates trusted for the SMTP server (or `SMTP_CA_FILE`); else the system's roots. */
  SMTP_CA: z.string().includes("-----BEGIN CERTIFICATE-----", {
    message: "expected PEM certificates",
  }).optional(),
  MAIL_FROM: z.string().min(3).default("Despacho <pedidos@despacho.local>"),
  OUTBOX_DIR: z.string().min(1).default("outbox"),
  /**
   * How long a mail refused for now (SMTP 4xx, no connection, timeout) is tried again before it
   * is published as failed; a 5xx refusal is failed at once. A mail server keeps trying for days.
   */
  MAIL_RETRY_FOR_MS: int(1000, 30 * 86_400_000).default(86_400_000),
  /** Longest pause between two attempts of one mail (they start at 1 s and double). */
  MAIL_RETRY_MAX_DELAY_MS: int(100, 3_600_000).default(60_000),
  ANALYTICS_WINDOW_MS: int(100, 24 * 3_600_000).default(10_000),
  /** Event-time lateness tolerated before a window closes. */
  ANALYTICS_LATENESS_MS: int(0, 3_600_000).default(2_000),
  /** Processing time without events after which a partition's open windows are closed. */
  ANALYTICS_IDLE_MS: int(100, 3_600_000).default(5_000),
  /**
   * The shop's name in purchase messages ("…en nuestra tienda en línea de {STORE_NAME}", the
   * second report's wording, which named its shop).
   */
  STORE_NAME: plainText(1, 100).default(DEFAULT_STORE_NAME),
  /**
   * Purchase notifications on stdout: `ids` (one line: event id, kind, folio; no name, address or
   * text), `full` (for debugging: the address and the whole message too), or `off`. `line` is
   * the earlier name of `ids`.
   */
  PURCHASE_CONSOLE: z.enum(["ids", "full", "off", "line"]).default("ids"),
  LOG_LEVEL: z.enum(["debug", "info", "warn", "error"]).default("info"),
  /**
   * Where a worker serves its Prometheus metrics (`GET /metrics`); unset: no listener. The gateway
   * serves them on its own port. `deno task start` gives the roles 9464, 9465 and 9466.
   */
  METRICS_PORT: int(0, 65535).optional(),
  /** Where a worker's metrics listener binds (`0.0.0.0` in a container). */
  METRICS_HOST: z.string().min(1).default("127.0.0.1"),
  /**
   * How long topics holding personal data keep it (`retention.ms` of the topics Despacho creates;
   * existing topics keep theirs). At least a day, so a mail retried for `MAIL_RETRY_FOR_MS` is
   * still there.
   */
  PERSONAL_DATA_RETENTION_MS: int(86_400_000, 10 * 365 * 86_400_000).default(7 * 86_400_000),
  /**
   * The staff bearer token (or `STAFF_TOKEN_FILE`), at least 32 characters: staff routes accept it
   * as `Authorization: Bearer` or through the sign-in form. `deno task start` makes one in
   * `.cache/staff-token`. The gateway needs it, or an identity provider (`OIDC_*`), or both.
   */
  STAFF_TOKEN: z.string().min(32).regex(/^[\x21-\x7e]+$/, "expected visible ASCII").optional(),
  /**
   * A secret the gateway instances share (or `GATEWAY_SECRET_FILE`), at least 32 characters: it
   * signs staff sessions and derives an order's id from its `Idempotency-Key` (HMAC), so a retry
   * on another instance gets the same order and nobody without it can compute an id.
   */
  GATEWAY_SECRET: z.string().min(32).optional(),
  /** The OpenID Connect issuer staff and service tokens come from (`iss`, exactly). */
  OIDC_ISSUER: z.url().optional(),
  /** The audience (`aud`) tokens must carry: this API's client id or resource URI. */
  OIDC_AUDIENCE: z.string().min(1).optional(),
  /** The issuer's key set (`jwks_uri`): https, or http on loopback. */
  OIDC_JWKS_URL: z.url().optional(),
  /** Where roles are in a token: a claim name or a dotted path (`realm_access.roles`). */
  OIDC_ROLES_CLAIM: z.string().min(1).default("roles"),
  /** Accepted signature algorithms, comma-separated; asymmetric only. */
  OIDC_ALGORITHMS: z.string().default("RS256,ES256,PS256,EdDSA").transform((s) =>
    s.split(",").map((a) => a.trim()).filter((a) => a !== "")
  ),
  /** Clock skew allowed on a token's `exp` and `nbf`, in seconds. */
  OIDC_CLOCK_TOLERANCE_S: int(0, 300).default(30),
  /** How long a staff session (the sign-in form's cookie) lasts. */
  SESSION_TTL_MS: int(60_000, 30 * 86_400_000).default(8 * 3_600_000),
  /**
   * The gateway is reached over HTTPS (itself or behind a proxy): session cookies get `Secure`.
   * Set by itself when the gateway serves TLS.
   */
  COOKIE_SECURE: z.enum(["true", "false"]).default("false").transform((v) => v === "true"),
  /**
   * The origins the gateway's pages are served from, comma-separated (`https://despacho.example`),
   * for the rule that a cookie may change state only from them; unset: each request's own origin.
   */
  PUBLIC_ORIGINS: z.string().optional().transform((s) =>
    s === undefined ? undefined : s.split(",").map((o) => o.trim()).filter((o) => o !== "")
  ),
  /**
   * `POST /orders` a second from one client address, on average (a token bucket refilled at this
   * rate); beyond, 429 with `Retry-After`. `0`: unlimited. An IPv6 client counts by its /64.
   */
  ORDER_RATE_PER_S: z.coerce.number().min(0).max(1_000_000).default(5),
  /** `POST /orders` one client address may send at once before the rate applies (the bucket's size). */
  ORDER_BURST: int(1, 1_000_000).default(20),
  /** Event streams one client address may hold open at once; beyond, 429. `0`: unlimited. */
  STREAMS_PER_CLIENT: int(0, 100_000).default(10),
  /**
   * Addresses of proxies in front of the gateway (comma-separated IPs, or IPv4 `a.b.c.d/n` blocks):
   * for a connection from one of them, the client address is the rightmost `X-Forwarded-For` entry
   * that is not a trusted proxy. Unset: that header is never trusted.
   */
  TRUSTED_PROXY: addressList.optional(),
  /** PEM certificate chain (or `TLS_CERT_FILE`): the gateway serves HTTPS with `TLS_KEY`. */
  TLS_CERT: pem("CERTIFICATE").optional(),
  /** PEM private key of `TLS_CERT` (or `TLS_KEY_FILE`): never shown in logs or errors. */
  TLS_KEY: pem("PRIVATE KEY").optional(),
  /**
   * How the Kafka clients reach the brokers, as Kafka's `security.protocol`: `PLAINTEXT` (no TLS,
   * no login: a local broker), `SSL`, `SASL_PLAINTEXT` or `SASL_SSL` (a managed Kafka).
   */
  KAFKA_SECURITY_PROTOCOL: z.enum(KAFKA_SECURITY_PROTOCOLS).default("PLAINTEXT"),
  /** The SASL login, as Kafka's `sasl.mechanism`: default `SCRAM-SHA-512` with a SASL protocol. */
  KAFKA_SASL_MECHANISM: z.enum(KAFKA_SASL_MECHANISMS).optional(),
  KAFKA_SASL_USERNAME: z.string().min(1).optional(),
  /** Its password (or `KAFKA_SASL_PASSWORD_FILE`): never shown in logs, metrics or errors. */
  KAFKA_SASL_PASSWORD: z.string().min(1).optional(),
  /** PEM certificates trusted for the brokers (or `KAFKA_TLS_CA_FILE`); else the system's roots. */
  KAFKA_TLS_CA: pem("CERTIFICATE").optional(),
  /** The client's PEM certificate, for brokers that ask for one (or `KAFKA_TLS_CERT_FILE`). */
  KAFKA_TLS_CERT: pem("CERTIFICATE").optional(),
  /** Its PEM private key (or `KAFKA_TLS_KEY_FILE`): never shown. */
  KAFKA_TLS_KEY: pem("PRIVATE KEY").optional(),
}).superRefine((c, ctx) => {
  if ((c.TLS_CERT === undefined) !== (c.TLS_KEY === undefined)) {
    const [key, other] = c.TLS_CERT === undefined
      ? ["TLS_KEY", "TLS_CERT"] as const
      : ["TLS_CERT", "TLS_KEY"] as const;
    ctx.addIssue({ code: "custom", path: [key], message: `needs ${other} (or ${other}_FILE) too` });
  }
  // A full batch takes one admission slot per item: a larger batch could never be admitted.
  if (c.MAX_BATCH_LINES > c.MAX_PENDING_PUBLISHES) {
    ctx.addIssue({
      code: "custom",
      path: ["MAX_BATCH_LINES"],
      message: `must be at most the pending publishes limit (${c.MAX_PENDING_PUBLISHES})`,
    });
  }
  if (c.HEADERS_TIMEOUT_MS > c.REQUEST_TIMEOUT_MS) {
    ctx.addIssue({
      code: "custom",
      path: ["HEADERS_TIMEOUT_MS"],
      message: `must be at most the request timeout (${c.REQUEST_TIMEOUT_MS} ms)`,
    });
  }
  for (const [key, message] of smtpProblems(c)) {
    ctx.addIssue({ code: "custom", path: [key], message });
  }
  const oidc = [c.OIDC_ISSUER, c.OIDC_AUDIENCE, c.OIDC_JWKS_URL];
  if (oidc.some((v) => v !== undefined) && oidc.some((v) => v === undefined)) {
    ctx.addIssue({
      code: "custom",
      path: ["OIDC_ISSUER"],
      message: "OIDC_ISSUER, OIDC_AUDIENCE and OIDC_JWKS_URL go together: set all three or none",
    });
  }
  for (const [key, message] of kafkaSecurityProblems(c)) {
    ctx.addIssue({ code: "custom", path: [key], message });
  }
});

/** Validated configuration. */
export type Config = z.infer<typeof ConfigSchema>;

/** The SMTP variables of a {@linkcode Config}. */
export type SmtpConfig = Pick<
  Config,
  "SMTP_URL" | "SMTP_USER" | "SMTP_PASSWORD" | "SMTP_TLS" | "SMTP_CA"
>;

/** Where and how to reach the SMTP server, from {@linkcode smtpSettings}. */
export interface SmtpSettings {
  host: string;
  port: number;
  /**
   * `starttls`: plain connection, then STARTTLS required (the mail waits if the server does not
   * offer it or its certificate is not trusted); `implicit`: TLS from the first byte (`smtps:`,
   * port 465); `none`: plain SMTP, STARTTLS ignored even when offered, no login allowed.
   */
  tls: SmtpTls;
  login?: { user: string; password: string };
  /** PEM certificates to trust instead of the system's roots. */
  ca?: string;
}

/**
 * The SMTP server's address, protection and login, from `SMTP_URL` and the separate variables.
 * `SMTP_TLS` defaults to `implicit` for `smtps:`, to `starttls` when there is a login (a password
 * never goes in clear), else to `none` (a local relay such as Mailpit).
 *
 * @param config The SMTP variables, valid (as {@linkcode loadConfig} returns them).
 * @returns The settings, or `undefined` when `SMTP_URL` is unset (mail goes to the outbox).
 *
 * @example
 * ```ts
 * import { smtpSettings } from "./config.ts";
 * smtpSettings({ SMTP_URL: "smtp://mail:587", SMTP_USER: "shop", SMTP_PASSWORD: "s3cret" })?.tls; // "starttls"
 * ```
 */
export function smtpSettings(config: Partial<SmtpConfig>): SmtpSettings | undefined {
  if (config.SMTP_URL === undefined) return undefined;
  const url = new URL(config.SMTP_URL);
  const implicit = url.protocol === "smtps:";
  const user = url.username ? decodeURIComponent(url.username) : config.SMTP_USER;
  const password = url.username ? decodeURIComponent(url.password) : config.SMTP_PASSWORD;
  const login = user !== undefined && password !== undefined ? { user, password } : undefined;
  return {
    host: url.hostname.replace(/^\[|\]$/g, ""),
    port: Number(url.port || (implicit ? 465 : 25)),
    tls: config.SMTP_TLS ?? (implicit ? "implicit" : login ? "starttls" : "none"),
    ...(login ? { login } : {}),
    ...(config.SMTP_CA !== undefined ? { ca: config.SMTP_CA } : {}),
  };
}

/** What is contradictory or unsafe in the SMTP variables, as [variable, message] pairs. */
function smtpProblems(c: SmtpConfig): [keyof SmtpConfig, string][] {
  if (c.SMTP_URL === undefined) {
    return (["SMTP_USER", "SMTP_PASSWORD", "SMTP_TLS", "SMTP_CA"] as const)
      .filter((k) => c[k] !== undefined)
      .map((k) => [k, "needs SMTP_URL (the server)"]);
  }
  // zod's URL check lets some through that URL does not (port 99999): its message shows the URL.
  if (!URL.canParse(c.SMTP_URL)) return [["SMTP_URL", "is not a valid URL"]];
  const url = new URL(c.SMTP_URL);
  const problems: [keyof SmtpConfig, string][] = [];
  if (url.username && (c.SMTP_USER !== undefined || c.SMTP_PASSWORD !== undefined)) {
    const key = c.SMTP_USER !== undefined ? "SMTP_USER" : "SMTP_PASSWORD";
    problems.push([key, "must be unset when SMTP_URL carries a login (give it once)"]);
  } else if (!url.username && (c.SMTP_USER === undefined) !== (c.SMTP_PASSWORD === undefined)) {
    const [key, other] = c.SMTP_USER === undefined
      ? ["SMTP_PASSWORD", "SMTP_USER"] as const
      : ["SMTP_USER", "SMTP_PASSWORD"] as const;
    problems.push([key, `needs ${other} (or ${other}_FILE) too`]);
  }
  const smtp = smtpSettings(c)!;
  if (url.protocol === "smtps:" && smtp.tls !== "implicit") {
    problems.push(["SMTP_TLS", "must be implicit (or unset) with an smtps: SMTP_URL"]);
  }
  if (smtp.tls === "none" && smtp.login !== undefined) {
    problems.push([
      "SMTP_TLS",
      "must be starttls or implicit with a login: none would send it in clear",
    ]);
  }
  return problems;
}

/**
 * Variables that may name a file holding their value instead (`SMTP_PASSWORD_FILE`): secrets and
 * certificates, which Docker and Kubernetes hand over as files.
 */
export const FROM_FILE = [
  "SMTP_PASSWORD",
  "SMTP_CA",
  "STAFF_TOKEN",
  "GATEWAY_SECRET",
  "TLS_CERT",
  "TLS_KEY",
  "KAFKA_SASL_PASSWORD",
  "KAFKA_TLS_CA",
  "KAFKA_TLS_CERT",
  "KAFKA_TLS_KEY",
] as const;

/** Variables whose value an error never shows. */
const SECRETS: ReadonlySet<string> = new Set([
  "SMTP_PASSWORD",
  "STAFF_TOKEN",
  "GATEWAY_SECRET",
  "TLS_KEY",
  "KAFKA_SASL_PASSWORD",
  "KAFKA_TLS_KEY",
]);

/** Reads a text file, throwing when it cannot. */
export type ReadTextFile = (path: string) => string;

const readTextFile: ReadTextFile = (path) => readFileSync(path, "utf8");

/**
 * Parses the environment into a {@linkcode Config}.
 *
 * A variable of {@linkcode FROM_FILE} may be given as `<name>_FILE`, the path of a file holding
 * the value (one trailing line break dropped), not both. An error never shows a password: a
 * secret's value is hidden, `SMTP_URL`'s login part too.
 *
 * @param env Variables by name (e.g. `Deno.env.toObject()`); unknown ones are ignored and empty
 * strings count as unset.
 * @param readFile How `_FILE` variables are read. @default node:fs `readFileSync` (UTF-8)
 * @returns The configuration with defaults filled in.
 * @throws {DespachoError} `INVALID_CONFIG`, with one sentence per bad variable.
 *
 * @example
 * ```ts
 * import { loadConfig } from "./config.ts";
 * loadConfig({ PORT: "9000" }).PORT; // 9000
 * ```
 */
export function loadConfig(
  env: Readonly<Record<string, string | undefined>>,
  readFile: ReadTextFile = readTextFile,
): Config {
  const known: Record<string, string> = Object.fromEntries(
    Object.keys(ConfigSchema.shape).flatMap((k) => env[k] ? [[k, env[k]]] : []),
  );
  /** The `_FILE` variable each value read from a file came from, and its path. */
  const files = new Map<string, [string, string]>();
  const unread: string[] = [];
  for (const key of FROM_FILE) {
    const fileKey = `${key}_FILE`;
    const path = env[fileKey];
    if (!path) continue;
    if (known[key] !== undefined) {
      unread.push(
        `${fileKey} must be unset when ${key} is set (give it once): current value is "${path}"`,
      );
      continue;
    }
    try {
      known[key] = readFile(path).replace(/\r?\n$/, "");
      files.set(key, [fileKey, path]);
    } catch (error) {
      // Deno's permission refusal has no code: say so, it is the usual cause (`--allow-read`).
      const { code, name } = error as { code?: string; name?: string };
      const why = code ?? (name === "NotCapable" ? "no permission to read it" : "unreadable");
      unread.push(`${fileKey} cannot be read (${why}): current value is "${path}"`);
    }
  }
  const parsed = ConfigSchema.safeParse(known);
  if (parsed.success && unread.length === 0) return parsed.data;
  const why = [
    ...unread,
    ...(parsed.success ? [] : parsed.error.issues).map((i) => {
      const key = String(i.path[0]);
      const [name, value] = files.get(key) ?? [key, shown(key, known[key] ?? "")];
      return `${name} ${i.message[0]!.toLowerCase()}${
        i.message.slice(1)
      }: current value is "${value}"`;
    }),
  ].join("; ");
  throw new DespachoError("INVALID_CONFIG", `Cannot start: invalid configuration: ${why}`);
}

/** A variable's value as an error may show it: secrets hidden, a URL's login too. */
function shown(key: string, value: string): string {
  if (SECRETS.has(key)) return "(hidden)";
  if (key === "SMTP_URL") return value.replace(/\/\/.*@/, "//(login hidden)@");
  return value;
}

/** The Kafka security variables of a {@linkcode Config}. */
export type KafkaSecurityConfig = Pick<
  Config,
  | "KAFKA_SECURITY_PROTOCOL"
  | "KAFKA_SASL_MECHANISM"
  | "KAFKA_SASL_USERNAME"
  | "KAFKA_SASL_PASSWORD"
  | "KAFKA_TLS_CA"
  | "KAFKA_TLS_CERT"
  | "KAFKA_TLS_KEY"
>;

/** How the Kafka clients protect their connections, from {@linkcode kafkaSecurity}. */
export interface KafkaSecurity {
  /** TLS, checking the brokers' certificates (against `ca` when given, else the system's roots). */
  tls?: { ca?: string; cert?: string; key?: string };
  /** The SASL login. */
  sasl?: { mechanism: typeof KAFKA_SASL_MECHANISMS[number]; username: string; password: string };
}

/**
 * The TLS and SASL settings of the Kafka clients, from `KAFKA_SECURITY_PROTOCOL` and the
 * `KAFKA_SASL_*` and `KAFKA_TLS_*` variables.
 *
 * @param config The security variables, valid (as {@linkcode loadConfig} returns them).
 * @returns What to give the client libraries; `{}` for `PLAINTEXT`.
 *
 * @example
 * ```ts
 * import { kafkaSecurity } from "./config.ts";
 * kafkaSecurity({
 *   KAFKA_SECURITY_PROTOCOL: "SASL_SSL",
 *   KAFKA_SASL_USERNAME: "gateway",
 *   KAFKA_SASL_PASSWORD: "s3cret",
 * }).sasl?.mechanism; // "SCRAM-SHA-512"
 * ```
 */
export function kafkaSecurity(config: Partial<KafkaSecurityConfig>): KafkaSecurity {
  const protocol = config.KAFKA_SECURITY_PROTOCOL ?? "PLAINTEXT";
  const out: KafkaSecurity = {};
  if (protocol === "SSL" || protocol === "SASL_SSL") {
    out.tls = {
      ...(config.KAFKA_TLS_CA !== undefined ? { ca: config.KAFKA_TLS_CA } : {}),
      ...(config.KAFKA_TLS_CERT !== undefined ? { cert: config.KAFKA_TLS_CERT } : {}),
      ...(config.KAFKA_TLS_KEY !== undefined ? { key: config.KAFKA_TLS_KEY } : {}),
    };
  }
  if (
    (protocol === "SASL_PLAINTEXT" || protocol === "SASL_SSL") &&
    config.KAFKA_SASL_USERNAME !== undefined && config.KAFKA_SASL_PASSWORD !== undefined
  ) {
    out.sasl = {
      mechanism: config.KAFKA_SASL_MECHANISM ?? "SCRAM-SHA-512",
      username: config.KAFKA_SASL_USERNAME,
      password: config.KAFKA_SASL_PASSWORD,
    };
  }
  return out;
}

/** What is contradictory or unsafe in the Kafka security variables, as [variable, message] pairs. */
function kafkaSecurityProblems(c: KafkaSecurityConfig): [keyof KafkaSecurityConfig, string][] {
  const protocol = c.KAFKA_SECURITY_PROTOCOL;
  const sasl = protocol === "SASL_PLAINTEXT" || protocol === "SASL_SSL";
  const tls = protocol === "SSL" || protocol === "SASL_SSL";
  const problems: [keyof KafkaSecurityConfig, string][] = [];
  const saslKeys = ["KAFKA_SASL_MECHANISM", "KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD"] as const;
  if (!sasl) {
    for (const k of saslKeys.filter((k) => c[k] !== undefined)) {
      problems.push([
        k,
        `needs KAFKA_SECURITY_PROTOCOL SASL_SSL or SASL_PLAINTEXT, not ${protocol}`,
      ]);
    }
  } else {
    for (const k of ["KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD"] as const) {
      if (c[k] === undefined) {
        problems.push([k, `is needed with KAFKA_SECURITY_PROTOCOL ${protocol} (or ${k}_FILE)`]);
      }
    }
    if (protocol === "SASL_PLAINTEXT" && c.KAFKA_SASL_MECHANISM === "PLAIN") {
      problems.push([
        "KAFKA_SASL_MECHANISM",
        "must be a SCRAM mechanism with SASL_PLAINTEXT: PLAIN would send the password in clear",
      ]);
    }
  }
  const tlsKeys = ["KAFKA_TLS_CA", "KAFKA_TLS_CERT", "KAFKA_TLS_KEY"] as const;
  if (!tls) {
    for (const k of tlsKeys.filter((k) => c[k] !== undefined)) {
      problems.push([k, `needs KAFKA_SECURITY_PROTOCOL SSL or SASL_SSL, not ${protocol}`]);
    }
  } else if ((c.KAFKA_TLS_CERT === undefined) !== (c.KAFKA_TLS_KEY === undefined)) {
    const [key, other] = c.KAFKA_TLS_CERT === undefined
      ? ["KAFKA_TLS_KEY", "KAFKA_TLS_CERT"] as const
      : ["KAFKA_TLS_CERT", "KAFKA_TLS_KEY"] as const;
    problems.push([key, `needs ${other} (or ${other}_FILE) too`]);
  }
  return problems;
}
