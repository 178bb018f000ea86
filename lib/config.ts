/**
 * Configuration, read once from the environment by entrypoints through one zod schema.
 * No other module reads the environment.
 */
import { z } from "zod";
import { DespachoError } from "./errors.ts";
import { KAFKA_CLIENTS } from "./kafka/client.ts";

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
   * How long the processing role remembers an order it has taken: a second request record for it
   * within this time is a duplicate (the gateway honours an Idempotency-Key as long: it gives the same id).
   */
  ORDER_DEDUPE_WINDOW_MS: int(1000, 30 * 86_400_000).default(86_400_000),
  /** Prefix of consumer group ids (`<prefix>-processing`, …): separate deployments on one cluster. */
  GROUP_ID_PREFIX: z.string().regex(/^[A-Za-z0-9._-]{1,100}$/).default("despacho"),
  /** Stable per worker instance: its Kafka transactional id derives from it. */
  INSTANCE_ID: z.string().regex(/^[A-Za-z0-9._-]{1,100}$/).optional(),
  SMTP_URL: z.url({ protocol: /^smtps?$/ }).optional(),
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
}).superRefine((c, ctx) => {
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
});

/** Validated configuration. */
export type Config = z.infer<typeof ConfigSchema>;

/**
 * Parses the environment into a {@linkcode Config}.
 *
 * @param env Variables by name (e.g. `Deno.env.toObject()`); unknown ones are ignored and empty
 * strings count as unset.
 * @returns The configuration with defaults filled in.
 * @throws {DespachoError} `INVALID_CONFIG`, with one sentence per bad variable.
 *
 * @example
 * ```ts
 * import { loadConfig } from "./config.ts";
 * loadConfig({ PORT: "9000" }).PORT; // 9000
 * ```
 */
export function loadConfig(env: Readonly<Record<string, string | undefined>>): Config {
  const known = Object.fromEntries(
    Object.keys(ConfigSchema.shape).flatMap((k) => env[k] ? [[k, env[k]]] : []),
  );
  const parsed = ConfigSchema.safeParse(known);
  if (parsed.success) return parsed.data;
  const why = parsed.error.issues.map((i) => {
    const key = String(i.path[0]);
    return `${key} ${i.message.toLowerCase()}: current value is "${known[key] ?? ""}"`;
  }).join("; ");
  throw new DespachoError("INVALID_CONFIG", `Cannot start: invalid configuration: ${why}`);
}
