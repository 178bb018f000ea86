/**
 * What every fault scenario needs: the real system as processes (gateways and workers started as
 * their deno.json tasks run them, each with its own pid so it can be killed), an open-loop order
 * sender that keeps every answer, and a read_committed census of what reached Kafka and the SMTP
 * server.
 */
import { ACCESS_ENV } from "../infra/test_access.ts";
import { topicEnv } from "../infra/testing.ts";
import { loadOrders } from "../datasets/load.ts";
import { loadConfig } from "../lib/config.ts";
import { ORDER_STATES } from "../lib/order.ts";
import type { KafkaClientName, PrincipalRole } from "../lib/kafka/mod.ts";
import { createKafkaClient, provisionKafka } from "../lib/kafka/mod.ts";
import { createLogger } from "../lib/log.ts";
import { purchaseMessageId } from "../lib/purchase_mail.ts";
import { freePort } from "../infra/kafka.ts";
import { type Proc, spawnDeno } from "../infra/process.ts";
import type { TestSmtp } from "../infra/smtp.ts";
import { taskArgs } from "./procs.ts";

/** The variables that log a process or an observer in to Kafka as `user` (none: PLAINTEXT). */
export type KafkaLogin = (user: PrincipalRole | "admin") => Record<string, string>;

let login: KafkaLogin = () => ({});

/**
 * Makes every fault system log in to Kafka (`deno task faults --secure`): each process as its
 * role, the observers as admin, and each system's topics and ACLs provisioned as admin first.
 *
 * @param how The variables per user.
 */
export function useKafkaLogin(how: KafkaLogin): void {
  login = how;
}

/** The login variables of `user` (see {@linkcode useKafkaLogin}). */
export const kafkaLogin: KafkaLogin = (user) => login(user);

/** Roles a fault system runs. */
export type Role = "processing" | "notification" | "purchase-analytics";

/** Where fault runs and soaks keep their processes' output, a folder per system. */
const LOG_ROOT = new URL("results/logs/", import.meta.url).pathname;

/** Systems made and not yet stopped, for {@linkcode stopOnSignal}. */
const running = new Set<FaultSystem>();

const READY: Record<Role | "gateway", RegExp> = {
  gateway: /"listening"/,
  processing: /"processing orders"/,
  notification: /"notifying customers"/,
  "purchase-analytics": /"analysing purchases"/,
};

/** The system under a fault: its processes on topics of its own. */
export class FaultSystem {
  readonly env: Record<string, string>;
  readonly brokers: string;
  readonly client: KafkaClientName;
  /** Running processes by name (`gateway-0`, `processing-1`, …). */
  readonly procs = new Map<string, Proc>();
  /** Gateway URLs by name. */
  readonly urls = new Map<string, string>();
  /** Progress lines of the scenario. */
  readonly say: (line: string) => void;
  /** Where each process's output is kept, `<name>.log` (a restart appends). */
  readonly logDir: string;

  constructor(
    name: string,
    brokers: string,
    client: KafkaClientName,
    extra: Record<string, string>,
    say: (line: string) => void,
  ) {
    const prefix = `fault-${name}-${Date.now().toString(36)}`;
    this.brokers = brokers;
    this.client = client;
    this.say = say;
    this.logDir = `${LOG_ROOT}${prefix}`;
    running.add(this);
    this.env = {
      KAFKA_BROKERS: brokers,
      KAFKA_CLIENT: client,
      // Topics, groups and order store of this system alone (never `deno task start`'s store).
      ...topicEnv(prefix),
      ...ACCESS_ENV,
      TOPIC_PARTITIONS: "4",
      STAGE_DWELL_MS: "0",
      KAFKA_SESSION_TIMEOUT_MS: "10000",
      PURCHASE_CONSOLE: "off",
      LOG_LEVEL: "info",
      // Every load comes from 127.0.0.1: per-client limits would measure themselves.
      ORDER_RATE_PER_S: "0",
      STREAMS_PER_CLIENT: "0",
      ...extra,
    };
  }

  #provisioned: Promise<void> | null = null;

  /** On a secured cluster: this system's topics and its roles' ACLs, once, as admin. */
  provision(): Promise<void> {
    return this.#provisioned ??= (async () => {
      const admin = kafkaLogin("admin");
      if (Object.keys(admin).length === 0) return;
      const config = loadConfig({ ...this.env, ...admin });
      const kafka = createKafkaClient(config, createLogger("fault-setup", "error"));
      try {
        await provisionKafka(kafka, config, { timeoutMs: config.STARTUP_TIMEOUT_MS });
      } finally {
        await kafka.close();
      }
    })();
  }

  /**
   * Starts (or starts again) a gateway; its URL is in `urls`. Each name has its own order store
   * (as each instance of a deployment does), kept across its restarts.
   */
  async gateway(name = "gateway-0", env: Record<string, string> = {}): Promise<string> {
    await this.provision();
    const port = String(await freePort());
    const store = (this.env.ORDER_STORE_PATH ?? ".cache/order-store.sqlite").replace(
      /\.sqlite$/,
      `-${name}.sqlite`,
    );
    const proc = await spawnDeno(
      name,
      taskArgs("gateway"),
      { ...this.env, ...kafkaLogin("gateway"), PORT: port, ORDER_STORE_PATH: store, ...env },
      READY.gateway,
      { say: this.say, logFile: `${this.logDir}/${name}.log` },
    );
    this.procs.set(name, proc);
    const url = `http://127.0.0.1:${port}`;
    this.urls.set(name, url);
    return url;
  }

  /** Starts (or starts again, with the same instance id) worker `index` of `role`. */
  async worker(role: Role, index = 0, env: Record<string, string> = {}): Promise<Proc> {
    await this.provision();
    const name = `${role}-${index}`;
    const proc = await spawnDeno(
      name,
      [...taskArgs("worker"), "--role", role],
      { ...this.env, ...kafkaLogin(role), INSTANCE_ID: name, ...env },
      READY[role],
      { say: this.say, logFile: `${this.logDir}/${name}.log` },
    );
    this.procs.set(name, proc);
    return proc;
  }

  /** Stops every process (SIGTERM, then SIGKILL). */
  async stop(): Promise<void> {
    await Promise.all([...this.procs.values()].map((p) => p.stop()));
    running.delete(this);
  }
}

/**
 * On Ctrl-C or SIGTERM: says so, stops every {@linkcode FaultSystem}'s processes and then `last`
 * (the cluster), and exits 130. Without it the roles and brokers a run started outlive it.
 */
export function stopOnSignal(say: (line: string) => void, last: () => Promise<void>): void {
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    say("interrupted: stopping the roles, the gateways and the cluster; no report");
    void (async () => {
      await Promise.all([...running].map((s) => s.stop().catch(() => {})));
      await last().catch(() => {});
      Deno.exit(130);
    })();
  };
  for (const signal of ["SIGINT", "SIGTERM"] as const) Deno.addSignalListener(signal, stop);
}

/** One answered POST. */
export interface Sent {
  /** HTTP status, or 0 for a network error. */
  status: number;
  id?: string;
  retryAfter: string | null;
  /** When it was due, ms from the start of its load (set by {@linkcode sendOrders}). */
  scheduledMs?: number;
  /** From when it was due to its answer, ms (set by {@linkcode sendOrders}). */
  latencyMs?: number;
}

/**
 * POSTs orders open loop at `rate` per second for `durationMs` with {@linkcode loadOrders}, to
 * the URLs in turn (`urls()` is asked again for each order, so a scenario can change it), keeping
 * every answer.
 *
 * @param options Targets, rate, duration, in-flight bound, whether each order carries an
 * Idempotency-Key, and a tag that makes names, emails and keys unique to the scenario.
 */
export async function sendOrders(options: {
  urls: () => string[];
  rate: number;
  durationMs: number;
  concurrency?: number;
  keyed?: boolean;
  tag?: string;
}): Promise<Sent[]> {
  const total = Math.round((options.rate * options.durationMs) / 1000);
  const tag = options.tag ?? "f";
  const results = await loadOrders({
    target: options.urls,
    orders: Array.from({ length: total }, (_, i) => ({
      name: `Falla ${tag} ${i}`,
      price: 1000 + i,
      email: `${tag}${i}@example.cl`,
    })),
    rate: options.rate,
    ...(options.concurrency === undefined ? {} : { concurrency: options.concurrency }),
    ...(options.keyed ? { idempotencyKey: (i: number) => `${tag}-${i}` } : {}),
  });
  return results.map((r) => ({
    status: r.status,
    retryAfter: r.retryAfter,
    scheduledMs: r.scheduledMs,
    latencyMs: r.latencyMs,
    ...(r.id === undefined ? {} : { id: r.id }),
  }));
}

/** What reached Kafka for a set of orders. */
/**
 * The client the census and the live outcome readers read with, whatever client the system under
 * test uses: a run of each client is then judged by the same reader, and a reader's own fault
 * (records delivered twice after it rejoins, say) cannot pass for the system's.
 */
export const JUDGE_CLIENT: KafkaClientName = "platformatic";

export interface Census {
  /** Orders with all four transitions and four `sent` mails. */
  finalized: Set<string>;
  /** Transitions seen more than once (order id and seq), plus outcomes seen more than once. */
  duplicated: number;
  /** Of {@linkcode Census.duplicated}: transitions (order id and seq) seen more than once. */
  duplicatedTransitions: number;
  /** Orders whose outcome for some state is `failed`. */
  failed: Set<string>;
  /** Longest gap between two consecutive `finalizado` times, ms. */
  longestGapMs: number;
}

/**
 * Reads the transitions and notifications (read_committed) until every order in `ids` is
 * finalized and notified four times, or `timeoutMs` passes; then counts.
 */
export async function census(
  system: FaultSystem,
  ids: ReadonlySet<string>,
  timeoutMs: number,
): Promise<Census> {
  // Long on purpose: one read of the order topics and the counts taken from it.
  const kafka = createKafkaClient(
    loadConfig({
      KAFKA_BROKERS: system.brokers,
      KAFKA_CLIENT: JUDGE_CLIENT,
      ...kafkaLogin("admin"),
      KAFKA_CLIENT_ID: "fault-census",
    }),
    createLogger("census", "error"),
  );
  const seqs = new Map<string, Map<number, number>>();
  const outcomes = new Map<string, Map<string, string[]>>();
  const finalizedAt: number[] = [];
  const decoder = new TextDecoder();
  const reader = kafka.reader({
    topics: [system.env.TOPIC_ORDER_PROCESSING!, system.env.TOPIC_ORDER_NOTIFICATIONS!],
    onBatch: (batch) => {
      for (const r of batch.records) {
        const v = JSON.parse(decoder.decode(r.value ?? new Uint8Array()));
        if (batch.topic === system.env.TOPIC_ORDER_PROCESSING) {
          // An erased order's marker is no transition (the fault runs erase nothing).
          if (v.type === "OrderErased") continue;
          const m = seqs.get(v.id) ?? new Map<number, number>();
          seqs.set(v.id, m);
          m.set(v.seq, (m.get(v.seq) ?? 0) + 1);
          if (v.state === "finalizado" && m.get(v.seq) === 1) finalizedAt.push(Date.parse(v.at));
        } else {
          const m = outcomes.get(v.id) ?? new Map<string, string[]>();
          outcomes.set(v.id, m);
          m.set(v.state, [...(m.get(v.state) ?? []), v.status]);
        }
      }
    },
  });
  const done = (id: string) => seqs.get(id)?.size === 4 && outcomes.get(id)?.size === 4;
  try {
    await reader.ready;
    const started = Date.now();
    const deadline = started + timeoutMs;
    let said = started;
    for (;;) {
      const open = [...ids].filter((id) => !done(id)).length;
      if (open === 0 || Date.now() >= deadline) break;
      if (Date.now() - said >= 10_000) {
        said = Date.now();
        system.say(
          `    census: ${ids.size - open}/${ids.size} orders finished with their mails, ${
            Math.round((said - started) / 1000)
          } s so far, giving up after ${Math.round(timeoutMs / 1000)} s`,
        );
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    await new Promise((r) => setTimeout(r, 1_000)); // a duplicate arriving late still counts
  } finally {
    await reader.stop();
    await kafka.close();
  }
  let duplicatedTransitions = 0;
  for (const m of seqs.values()) for (const n of m.values()) duplicatedTransitions += n - 1;
  let duplicated = duplicatedTransitions;
  for (const m of outcomes.values()) for (const l of m.values()) duplicated += l.length - 1;
  const finalized = new Set(
    [...ids].filter((id) =>
      done(id) && [...outcomes.get(id)!.values()].every((l) => l.includes("sent"))
    ),
  );
  const failed = new Set(
    [...ids].filter((id) =>
      [...(outcomes.get(id)?.values() ?? [])].some((l) => l.includes("failed"))
    ),
  );
  finalizedAt.sort((a, b) => a - b);
  let longestGapMs = 0;
  for (let i = 1; i < finalizedAt.length; i++) {
    longestGapMs = Math.max(longestGapMs, finalizedAt[i]! - finalizedAt[i - 1]!);
  }
  return { finalized, duplicated, duplicatedTransitions, failed, longestGapMs };
}

/**
 * The Message-IDs of the outcomes committed so far, order and purchase mail (read_committed,
 * live), to tell which mails were in flight at a kill: accepted by the SMTP server, outcome not
 * yet committed.
 */
export function liveOutcomes(system: FaultSystem): { visible: Set<string>; stop(): Promise<void> } {
  const kafka = createKafkaClient(
    loadConfig({
      KAFKA_BROKERS: system.brokers,
      KAFKA_CLIENT: JUDGE_CLIENT,
      ...kafkaLogin("admin"),
      KAFKA_CLIENT_ID: "fault-live",
    }),
    createLogger("live", "error"),
  );
  const visible = new Set<string>();
  const decoder = new TextDecoder();
  const reader = kafka.reader({
    topics: [system.env.TOPIC_ORDER_NOTIFICATIONS!, system.env.TOPIC_PURCHASE_MAIL!],
    maxWaitMs: 20,
    onBatch: (batch) => {
      for (const r of batch.records) {
        visible.add(JSON.parse(decoder.decode(r.value ?? new Uint8Array())).messageId);
      }
    },
  });
  return {
    visible,
    async stop() {
      await reader.stop();
      await kafka.close();
    },
  };
}

/** The order an order mail's Message-ID (`<order-id.state@…>`) is about, else undefined. */
export function orderOfMail(messageId: string | null): string | undefined {
  return ORDER_MAIL.exec(messageId ?? "")?.[1];
}

/** `orderMessageId`'s shape (lib/order_mail.ts), read back: the order id before `.state@`. */
const ORDER_MAIL = new RegExp(`^<([^.@]+)\\.(${ORDER_STATES.join("|")})@`);

/** What the SMTP server accepted for some orders. */
export interface MailCensus {
  /** Distinct Message-IDs of these orders' mails. */
  distinct: number;
  /** Deliveries of these orders' mails that repeated a Message-ID. */
  repeated: number;
  /** Orders of the set without exactly four distinct mails (one per state). */
  wrong: string[];
}

/**
 * The order mails (`<order-id.state@…>`) the SMTP server accepted for `orders`; other mails
 * (purchase notifications, other scenarios' orders) are left out.
 */
export function mailCensus(smtp: TestSmtp, orders: ReadonlySet<string>): MailCensus {
  const perOrder = new Map<string, Set<string>>();
  let deliveries = 0;
  for (const m of smtp.mails) {
    const id = orderOfMail(m.messageId);
    if (id === undefined || !orders.has(id)) continue;
    deliveries++;
    if (!perOrder.has(id)) perOrder.set(id, new Set());
    perOrder.get(id)!.add(m.messageId!);
  }
  const distinct = [...perOrder.values()].reduce((n, s) => n + s.size, 0);
  return {
    distinct,
    repeated: deliveries - distinct,
    wrong: [...orders].filter((id) => perOrder.get(id)?.size !== 4),
  };
}

/** A purchase whose mail is counted: its event id and folio make its Message-ID. */
export interface MailedPurchase {
  id: string;
  folio: string;
}

/** What became of the mails of some purchases, in Kafka and at the SMTP server. */
export interface PurchaseMailCensus {
  /** Purchases expected to be delivered that have no `sent` outcome or reached no mailbox. */
  lost: string[];
  /** Outcome records seen more than once (read_committed). */
  duplicatedOutcomes: number;
  /** The purchases with more than one outcome record, and their statuses in the order read. */
  outcomesTwice: { id: string; statuses: string[] }[];
  /** Message-IDs the SMTP server accepted more than once. */
  deliveredAgain: string[];
  /** Deliveries the SMTP server accepted, of these purchases' mails. */
  delivered: number;
  /** The outcomes of the purchases expected to be refused for good, in the order read. */
  refused: { id: string; status: string; attempts: number }[];
}

/**
 * Reads the purchase mail outcomes (read_committed) until every purchase in `purchases` has one,
 * or `timeoutMs` passes; then counts them, and the mails the SMTP server accepted for them.
 *
 * @param system The system whose `purchase_mail` topic is read.
 * @param smtp The SMTP server it mails to.
 * @param purchases Every purchase notified.
 * @param refused The ids of those whose mailbox refuses for good (not counted as lost).
 * @param timeoutMs Longest wait for the outcomes.
 */
export async function purchaseMailCensus(
  system: FaultSystem,
  smtp: TestSmtp,
  purchases: readonly MailedPurchase[],
  refused: ReadonlySet<string>,
  timeoutMs: number,
): Promise<PurchaseMailCensus> {
  const kafka = createKafkaClient(
    loadConfig({
      KAFKA_BROKERS: system.brokers,
      KAFKA_CLIENT: JUDGE_CLIENT,
      ...kafkaLogin("admin"),
      KAFKA_CLIENT_ID: "fault-purchase-mail",
    }),
    createLogger("census", "error"),
  );
  const outcomes = new Map<string, { status: string; attempts: number }[]>();
  const decoder = new TextDecoder();
  const reader = kafka.reader({
    topics: [system.env.TOPIC_PURCHASE_MAIL!],
    onBatch: (batch) => {
      for (const r of batch.records) {
        const v = JSON.parse(decoder.decode(r.value ?? new Uint8Array()));
        outcomes.set(v.id, [...(outcomes.get(v.id) ?? []), v]);
      }
    },
  });
  try {
    await reader.ready;
    const started = Date.now();
    let said = started;
    for (;;) {
      const open = purchases.filter((p) => !outcomes.has(p.id)).length;
      if (open === 0 || Date.now() - started >= timeoutMs) break;
      if (Date.now() - said >= 10_000) {
        said = Date.now();
        system.say(
          `    census: ${
            purchases.length - open
          }/${purchases.length} purchase mails with an outcome, ${
            Math.round((said - started) / 1000)
          } s so far, giving up after ${Math.round(timeoutMs / 1000)} s`,
        );
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    await new Promise((r) => setTimeout(r, 1_000)); // a duplicate arriving late still counts
  } finally {
    await reader.stop();
    await kafka.close();
  }
  const wanted = new Map(purchases.map((p) => [purchaseMessageId(p.id, p.folio), p.id]));
  const deliveries = new Map<string, number>();
  for (const m of smtp.mails) {
    if (m.messageId !== null && wanted.has(m.messageId)) {
      deliveries.set(m.messageId, (deliveries.get(m.messageId) ?? 0) + 1);
    }
  }
  return {
    lost: purchases.filter((p) =>
      !refused.has(p.id) &&
      (!outcomes.get(p.id)?.some((o) => o.status === "sent") ||
        !deliveries.has(purchaseMessageId(p.id, p.folio)))
    ).map((p) => p.id),
    duplicatedOutcomes: [...outcomes.values()].reduce((n, l) => n + l.length - 1, 0),
    outcomesTwice: [...outcomes].filter(([, l]) => l.length > 1).map(([id, l]) => ({
      id,
      statuses: l.map((o) => o.status),
    })),
    deliveredAgain: [...deliveries].filter(([, n]) => n > 1).map(([id]) => id),
    delivered: [...deliveries.values()].reduce((a, b) => a + b, 0),
    refused: purchases.filter((p) => refused.has(p.id)).flatMap((p) =>
      (outcomes.get(p.id) ?? []).map((o) => ({ id: p.id, status: o.status, attempts: o.attempts }))
    ),
  };
}
