/**
 * Despacho's Prometheus metrics, in one registry per process (npm `prom-client`): the gateway
 * serves it at `GET /metrics`, a worker on its own small listener (`METRICS_PORT`). Each metric is
 * defined here once; the code that observes it imports it from here.
 *
 * prom-client's default process metrics are not used: on Deno its event-loop lag is not measured
 * (it reports NaN and 9.2e9 s) and the open-descriptor count reads `/proc`, which the tasks'
 * permission flags do not allow. {@linkcode registry} carries the few process figures that are
 * true on Deno instead.
 *
 * @example
 * ```ts
 * import { ordersAccepted, registry } from "./metrics.ts";
 * ordersAccepted.inc();
 * const text = await registry.metrics(); // Prometheus text format
 * ```
 */
import process from "node:process";
import { Counter, Gauge, Histogram, Registry } from "prom-client";

/** Every metric of this process. */
export const registry: Registry = new Registry();

/** The content type of {@linkcode registry}'s text (Prometheus text format 0.0.4). */
export const METRICS_CONTENT_TYPE: string = registry.contentType;

/** Seconds, for request and produce latencies: 1 ms to 10 s. */
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

// ── Gateway ─────────────────────────────────────────────────────────────────────────────────────

/** HTTP requests answered, by method, route pattern (`/orders/:id`, not the path) and status. */
export const httpRequests: Counter<"method" | "route" | "status"> = new Counter({
  name: "despacho_http_requests_total",
  help: "HTTP requests answered by the gateway, by method, route pattern and status",
  labelNames: ["method", "route", "status"],
  registers: [registry],
});

/** Time from a request's arrival at the app to its response (for a stream: to its first byte). */
export const httpRequestDuration: Histogram<"method" | "route" | "status"> = new Histogram({
  name: "despacho_http_request_duration_seconds",
  help: "Time from a request reaching the gateway's app to its response head, in seconds",
  labelNames: ["method", "route", "status"],
  buckets: LATENCY_BUCKETS,
  registers: [registry],
});

/** `POST /orders` answered 202. */
export const ordersAccepted: Counter = new Counter({
  name: "despacho_orders_accepted_total",
  help: "Orders accepted (POST /orders answered 202)",
  registers: [registry],
});

/**
 * `POST /orders` refused, by reason (the problem's title as a slug: `invalid_order`,
 * `malformed_json`, `too_many_requests`, `kafka_unavailable`, …) and status.
 */
export const ordersRefused: Counter<"reason" | "status"> = new Counter({
  name: "despacho_orders_refused_total",
  help: "Orders refused, by reason (the problem title as a slug) and HTTP status",
  labelNames: ["reason", "status"],
  registers: [registry],
});

/** One produce request of the gateway's publisher, from send to acknowledgement (acks=all). */
export const kafkaProduceDuration: Histogram<"outcome"> = new Histogram({
  name: "despacho_kafka_produce_duration_seconds",
  help: "Gateway produce requests to Kafka (acks=all), from send to acknowledgement, in seconds",
  labelNames: ["outcome"],
  buckets: LATENCY_BUCKETS,
  registers: [registry],
});

// ── Worker roles (through the Kafka seam, whichever client) ─────────────────────────────────────

/** Input records whose processing committed, by consumer group and topic. */
export const recordsHandled: Counter<"group" | "topic"> = new Counter({
  name: "despacho_records_handled_total",
  help: "Input records whose processing was committed, by consumer group and topic",
  labelNames: ["group", "topic"],
  registers: [registry],
});

/** Kafka transactions of a role, by consumer group and outcome (`committed`, `aborted`). */
export const transactions: Counter<"group" | "outcome"> = new Counter({
  name: "despacho_transactions_total",
  help: "Kafka transactions of a role, by consumer group and outcome (committed, aborted)",
  labelNames: ["group", "outcome"],
  registers: [registry],
});

/** From a transaction's begin to its commit (or abort). */
export const transactionDuration: Histogram<"group" | "outcome"> = new Histogram({
  name: "despacho_transaction_duration_seconds",
  help: "Kafka transactions from begin to commit or abort, in seconds",
  labelNames: ["group", "outcome"],
  buckets: LATENCY_BUCKETS,
  registers: [registry],
});

/** Records not yet consumed by a group: partition end offset − committed offset. */
export const consumerLag: Gauge<"group" | "topic" | "partition"> = new Gauge({
  name: "despacho_consumer_lag",
  help: "Records of a partition after the group's committed offset (end offset - committed)",
  labelNames: ["group", "topic", "partition"],
  registers: [registry],
});

/** Records set aside on the dead-letter topic, by source topic and reason. */
export const deadLetters: Counter<"topic" | "reason"> = new Counter({
  name: "despacho_dead_letters_total",
  help: "Records set aside on the dead-letter topic, by source topic and reason " +
    "(null_value, invalid_json, schema_mismatch, duplicate)",
  labelNames: ["topic", "reason"],
  registers: [registry],
});

/** The `reason` label values of {@linkcode deadLetters}. */
export const DEAD_LETTER_REASONS = [
  "null_value",
  "invalid_json",
  "schema_mismatch",
  "duplicate",
] as const;

/**
 * Starts `despacho_dead_letters_total` at 0 for every reason on each of a role's input topics.
 * Prometheus's `increase()` cannot see the first count of a series that is born at 1, so without
 * this a role's first dead letter would not raise the `DeadLettersGrowing` alert.
 *
 * @param topics The topics the role reads.
 */
export function zeroDeadLetters(topics: readonly string[]): void {
  for (const topic of topics) {
    for (const reason of DEAD_LETTER_REASONS) deadLetters.labels(topic, reason).inc(0);
  }
}

/** Customer mails: `sent`, `retried` (refused for now, tried again later), `failed` (for good). */
export const mails: Counter<"outcome"> = new Counter({
  name: "despacho_mails_total",
  help: "Customer mail attempts by outcome: sent, retried (refused for now), failed (for good)",
  labelNames: ["outcome"],
  registers: [registry],
});

/** The `outcome` label values of {@linkcode mails}. */
export const MAIL_OUTCOMES = ["sent", "retried", "failed"] as const;

/**
 * A role's loop started again in the same process after a retriable failure (a broker restart, a
 * coordinator moving): `lib/supervise.ts` counts each restart. A restart of the whole process shows
 * as a new `process_start_time_seconds` instead.
 */
export const roleRestarts: Counter<"role"> = new Counter({
  name: "despacho_role_restarts_total",
  help: "Restarts of a role's loop within its process after a retriable failure, by role",
  labelNames: ["role"],
  registers: [registry],
});

/**
 * Mail attempts that failed through our SMTP settings' fault, by reason (`smtp_login_refused`,
 * `smtp_tls_failed`): those mails wait and are tried again; the settings need fixing.
 */
export const smtpConfigurationErrors: Counter<"reason"> = new Counter({
  name: "despacho_smtp_configuration_errors_total",
  help: "Mail attempts failed through our SMTP settings' fault (login refused, TLS failed), " +
    "by reason; the mail waits and is tried again",
  labelNames: ["reason"],
  registers: [registry],
});

/** Purchase-analytics windows closed and published. */
export const purchaseWindowsClosed: Counter = new Counter({
  name: "despacho_purchase_windows_closed_total",
  help: "Purchase-analytics windows closed and published",
  registers: [registry],
});

// ── The process ─────────────────────────────────────────────────────────────────────────────────

let lastCpu = { user: 0, system: 0 };
new Counter({
  name: "process_cpu_seconds_total",
  help: "User and system CPU time of this process, in seconds",
  registers: [registry],
  collect() {
    const now = process.cpuUsage();
    this.inc((now.user - lastCpu.user + now.system - lastCpu.system) / 1e6);
    lastCpu = now;
  },
}).inc(0);

new Gauge({
  name: "process_resident_memory_bytes",
  help: "Resident memory of this process, in bytes",
  registers: [registry],
  collect() {
    this.set(process.memoryUsage().rss);
  },
});

new Gauge({
  name: "process_heap_used_bytes",
  help: "JavaScript heap in use, in bytes",
  registers: [registry],
  collect() {
    this.set(process.memoryUsage().heapUsed);
  },
});

new Gauge({
  name: "process_start_time_seconds",
  help: "When this process started, seconds since the epoch",
  registers: [registry],
}).set(Math.round(Date.now() / 1000 - process.uptime()));
