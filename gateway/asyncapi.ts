/**
 * The AsyncAPI 3.0 description of Despacho's Kafka topics at `GET /asyncapi.json`: every topic the
 * roles create, the record it carries, its key, its headers, and which part of Despacho writes and
 * reads it. Record schemas are generated with zod's `z.toJSONSchema` from the same schemas the
 * roles write and read with (no hand-written copy); topic names are the defaults, each channel names
 * the configuration variable that changes it (`x-despacho-variable`).
 */
import { OrderMailSchema, OrderStepSchema } from "../lib/order_status.ts";
import { z } from "zod";
import type { Config } from "../lib/config.ts";
import { componentSchemas, type Json } from "./json_schema.ts";
import {
  DeadLetterReplayedSchema,
  DeadLetterSchema,
  despachoTopics,
  type TopicDef,
} from "../lib/kafka/mod.ts";
import { MailRetrySchema } from "../lib/mail_delivery.ts";
import {
  OrderErasedSchema,
  OrderErasureRequestedSchema,
  OrderNotifiedSchema,
  OrderRequestedSchema,
  OrderTransitionSchema,
} from "../lib/order.ts";
import {
  PurchaseCheckpointSchema,
  PurchaseNotifiedSchema,
  PurchaseSchema,
  PurchaseTotalsRecordSchema,
  PurchaseWindowRecordSchema,
} from "../lib/purchase.ts";
import { PurchaseMailedSchema, PurchaseMailRetrySchema } from "../lib/purchase_mail.ts";

/** Every record schema the document names, by message name. */
export const RECORD_SCHEMAS = {
  OrderRequested: OrderRequestedSchema,
  OrderTransition: OrderTransitionSchema,
  OrderNotified: OrderNotifiedSchema,
  MailRetry: MailRetrySchema,
  DeadLetter: DeadLetterSchema,
  DeadLetterReplayed: DeadLetterReplayedSchema,
  Purchase: PurchaseSchema,
  PurchaseNotified: PurchaseNotifiedSchema,
  PurchaseWindow: PurchaseWindowRecordSchema,
  PurchaseTotals: PurchaseTotalsRecordSchema,
  PurchaseCheckpoint: PurchaseCheckpointSchema,
  PurchaseMailRetry: PurchaseMailRetrySchema,
  PurchaseMailed: PurchaseMailedSchema,
  OrderStep: OrderStepSchema,
  OrderMail: OrderMailSchema,
  OrderErasureRequested: OrderErasureRequestedSchema,
  OrderErased: OrderErasedSchema,
} as const satisfies Record<string, z.ZodType>;

/** A record's message name. */
export type RecordName = keyof typeof RECORD_SCHEMAS;

/** One topic as the document describes it. */
interface Channel {
  variable: string;
  messages: RecordName[];
  key: string;
  description: string;
  writers: string[];
  readers: string[];
}

/** The topics by configuration variable: what they carry, keyed by what, written and read by whom. */
export const CHANNELS: Record<string, Channel> = {
  TOPIC_ORDER_REQUESTS: {
    variable: "TOPIC_ORDER_REQUESTS",
    messages: ["OrderRequested"],
    key: "the order id",
    description: "Accepted orders (the seed's `order_requests`).",
    writers: ["gateway"],
    readers: ["processing"],
  },
  TOPIC_ORDER_PROCESSING: {
    variable: "TOPIC_ORDER_PROCESSING",
    messages: ["OrderTransition", "OrderErased"],
    key: "the order id",
    description: "Every state change of every order, in order per order; the last one published " +
      "for an order carries the step still owed (`next`), which processing reads back. " +
      "`OrderErased` follows every transition of an erased order published before it: no later " +
      "one is owed, and each role erases what it wrote of the order.",
    writers: ["processing"],
    readers: ["processing", "notification", "status-backfill"],
  },
  TOPIC_ORDER_NOTIFICATIONS: {
    variable: "TOPIC_ORDER_NOTIFICATIONS",
    messages: ["OrderNotified"],
    key: "the order id",
    description: "The outcome of each customer mail: sent, or failed for good.",
    writers: ["notification"],
    readers: ["status-backfill"],
  },
  TOPIC_ORDER_STATUS: {
    variable: "TOPIC_ORDER_STATUS",
    messages: ["OrderStep", "OrderMail", "OrderErased"],
    key: "`{order id}/step/{seq}` for a state reached, `{order id}/mail/{state}` for a mail " +
      "outcome, `{order id}/erased` for an erased order (its other keys tombstoned)",
    description: "Compacted: every order's lasting status, one key per fact and one writer per " +
      "key, written in the transaction of the transition or mail outcome; each gateway " +
      "materialises it into its order store (SQLite). A null value erases a key.",
    writers: ["processing", "notification", "status-backfill"],
    readers: ["gateway"],
  },
  TOPIC_ORDER_ERASURES: {
    variable: "TOPIC_ORDER_ERASURES",
    messages: ["OrderErasureRequested"],
    key: "the order id",
    description: "Compacted, kept for good: staff's requests to erase an order's personal data " +
      "(`DELETE /orders/{id}`), an id and a time each. Every role reading orders honours them, " +
      "also on replay.",
    writers: ["gateway"],
    readers: ["processing", "notification"],
  },
  TOPIC_MAIL_RETRIES: {
    variable: "TOPIC_MAIL_RETRIES",
    messages: ["MailRetry"],
    key: "the order id",
    description: "Mails still owed after a temporary SMTP refusal, each with the time it is due.",
    writers: ["notification"],
    readers: ["notification"],
  },
  TOPIC_DEAD_LETTER: {
    variable: "TOPIC_DEAD_LETTER",
    messages: ["DeadLetter", "DeadLetterReplayed"],
    key: "the source position, `{topic}/{partition}/{offset}`",
    description: "Records a role set aside (not JSON, not their schema, a duplicate request), " +
      "with their source and the reason; for people to read. `deno task dead-letters` lists " +
      "them and writes chosen ones back to their source topic, marking each so replayed.",
    writers: ["processing", "notification", "purchase-analytics", "dead-letters"],
    readers: ["dead-letters"],
  },
  TOPIC_PURCHASES: {
    variable: "TOPIC_PURCHASES",
    messages: ["Purchase"],
    key: "the person's id",
    description: "Purchase events (the second report's `DataTopic`).",
    writers: ["gateway"],
    readers: ["purchase-analytics"],
  },
  TOPIC_PURCHASE_NOTIFICATIONS: {
    variable: "TOPIC_PURCHASE_NOTIFICATIONS",
    messages: ["PurchaseNotified"],
    key: "the event id",
    description: "One notification per purchase, with its text and source offset; the " +
      "notification role mails each.",
    writers: ["purchase-analytics"],
    readers: ["notification"],
  },
  TOPIC_PURCHASE_MAIL_RETRIES: {
    variable: "TOPIC_PURCHASE_MAIL_RETRIES",
    messages: ["PurchaseMailRetry"],
    key: "the event id",
    description: "Purchase mails still owed after a temporary SMTP refusal, each with the time " +
      "it is due.",
    writers: ["notification"],
    readers: ["notification"],
  },
  TOPIC_PURCHASE_MAIL: {
    variable: "TOPIC_PURCHASE_MAIL",
    messages: ["PurchaseMailed"],
    key: "the event id",
    description: "The outcome of each purchase mail: sent, or failed for good (no address, no " +
      "text).",
    writers: ["notification"],
    readers: [],
  },
  TOPIC_PURCHASE_ANALYTICS: {
    variable: "TOPIC_PURCHASE_ANALYTICS",
    messages: ["PurchaseWindow", "PurchaseTotals"],
    key: "`{window start}/{partition}` for a window, `totals/{partition}` for totals",
    description: "Closed windows and the totals since the start, per input partition; the " +
      "gateway merges the partitions.",
    writers: ["purchase-analytics"],
    readers: ["gateway"],
  },
  TOPIC_PURCHASE_STATE: {
    variable: "TOPIC_PURCHASE_STATE",
    messages: ["PurchaseCheckpoint"],
    key: "`{group}/{topic}/{partition}` of the input partition",
    description: "Compacted checkpoints of the analytics state, one per input partition, written " +
      "in the same transaction as that partition's outputs and offset.",
    writers: ["purchase-analytics"],
    readers: ["purchase-analytics"],
  },
};

const camel = (variable: string) =>
  variable.replace(/^TOPIC_/, "").toLowerCase().replace(
    /_([a-z])/g,
    (_, c: string) => c.toUpperCase(),
  );

/**
 * The AsyncAPI 3.0 document of a deployment: its topic names, partitions, replicas and brokers.
 *
 * @param config The deployment's configuration.
 * @returns The document, as JSON-ready data.
 */
export function asyncApiDocument(config: Config): Json {
  const { channels, operations } = channelsOf(config);
  const messages = Object.fromEntries(
    Object.keys(RECORD_SCHEMAS).map((name) => [name, {
      name,
      contentType: "application/json",
      payload: { $ref: `#/components/schemas/${name}` },
      headers: { $ref: "#/components/schemas/RecordHeaders" },
    }]),
  );
  return {
    asyncapi: "3.0.0",
    info: {
      title: "Despacho topics",
      version: "1.0.0",
      description: "The Kafka topics of Despacho's order pipeline and purchase analytics. Every " +
        "record is JSON (`v: 1`); the roles publish in Kafka transactions, so read with " +
        "`isolation.level=read_committed`.",
    },
    defaultContentType: "application/json",
    servers: {
      local: {
        host: config.KAFKA_BROKERS.join(","),
        protocol: "kafka",
        description: "`deno task start`'s local broker (`KAFKA_BROKERS` elsewhere)",
      },
    },
    channels,
    operations,
    components: {
      schemas: {
        ...componentSchemas(RECORD_SCHEMAS),
        RecordHeaders: {
          type: "object",
          properties: {
            traceparent: {
              type: "string",
              pattern: "^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$",
              description: "W3C trace context of the order or event the record belongs to",
            },
          },
        },
      },
      messages,
    },
  };
}

/** A channel per topic, with its Kafka bindings, and an operation per role that writes or reads it. */
function channelsOf(config: Config): { channels: Json; operations: Json } {
  const defs = new Map<string, TopicDef>(
    despachoTopics(config).map((
      d,
    ) => [d.name, d]),
  );
  const channels: Json = {};
  const operations: Json = {};
  for (const c of Object.values(CHANNELS)) {
    const address = config[c.variable as keyof typeof config] as string;
    const def = defs.get(address);
    const id = camel(c.variable);
    channels[id] = {
      address,
      description: `${c.description} Keyed by ${c.key}.`,
      messages: Object.fromEntries(
        c.messages.map((m) => [m, { $ref: `#/components/messages/${m}` }]),
      ),
      "x-despacho-variable": c.variable,
      bindings: {
        kafka: {
          partitions: def?.partitions,
          replicas: def?.replicationFactor,
          ...(def?.configs?.["cleanup.policy"]
            ? { topicConfiguration: { "cleanup.policy": [def.configs["cleanup.policy"]] } }
            : {}),
        },
      },
    };
    for (const [action, parts] of [["send", c.writers], ["receive", c.readers]] as const) {
      for (const part of parts) {
        operations[
          `${camel(part.replace(/-/g, "_"))}${action === "send" ? "Sends" : "Receives"}${
            id[0]!.toUpperCase()
          }${id.slice(1)}`
        ] = {
          action,
          channel: { $ref: `#/channels/${id}` },
          summary: `${part} ${action === "send" ? "writes" : "reads"} ${address}`,
        };
      }
    }
  }
  return { channels, operations };
}
