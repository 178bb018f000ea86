/**
 * The purchase event of the second seed (its "persona"), how it is classified, what the buyer is
 * told, and the records the purchase-analytics role writes: closed windows and totals
 * (`purchase_analytics`) and checkpoints of its state (`purchase_analytics_state`). zod schemas
 * here are the single source of these types (`v: 1` on the wire), for the role that writes them
 * and for the gateway that reads them.
 */
import { z } from "zod";
import { plainEmail, plainText } from "./plain_text.ts";

/** Minutes from which a purchase counts as long (the report's 30 minutes). */
export const LONG_PURCHASE_MINUTES = 30;

const text = (max: number) => plainText(1, max);

/**
 * One visit to the shop (topic `purchase_events`), as the second report's generator writes it
 * (`generar_json_datos_personas`, its Figure 7) or as Despacho's own writers do: `v` and `type`
 * are optional (Despacho writes them), and so is `ts`: without it, the event time is the Kafka
 * record's timestamp (see {@linkcode purchaseEvent}). `taps` is the minutes from entering the
 * site to confirming the purchase: null, 0, an empty string or no `taps` at all means a visit
 * without purchase ("null o vacío"), and then `folio` must be null, empty or absent; a purchase
 * (`taps` > 0) must carry its `folio`. Negative or non-numeric `taps` are refused. No text field
 * may hold a control character; `email` may hold non-ASCII letters (SMTPUTF8, RFC 6531).
 */
export const PurchaseSchema = z.object({
  v: z.literal(1).optional().meta({ description: "Wire version; Despacho's writers set it" }),
  type: z.literal("Purchase").optional().meta({
    description: "Record type; Despacho's writers set it",
  }),
  id: text(64),
  nombre: text(100),
  apellido: text(100),
  edad: z.int().min(0).max(130),
  email: plainEmail(254),
  telefono: text(40),
  ubicacion: z.object({ direccion: text(200), ciudad: text(100), pais: text(100) }),
  productovisto: text(200),
  taps: z.union([z.number().min(0).max(100_000), z.literal("")]).nullable().optional().meta({
    description:
      "Minutes from entering the shop to confirming the purchase; null, 0, empty or absent: a visit without purchase",
  }),
  folio: plainText(0, 40).nullable().optional().meta({
    description: "The purchase's folio: required when taps is above 0, else null, empty or absent",
  }),
  ts: z.iso.datetime().optional().meta({
    description:
      "Event time (when the visit ended). Absent: the Kafka record's timestamp, which the gateway's producer sets when it publishes the event (the time of the request)",
  }),
}).superRefine((p, ctx) => {
  const bought = typeof p.taps === "number" && p.taps > 0;
  const folio = p.folio === "" ? null : p.folio ?? null;
  if (bought && folio === null) {
    ctx.addIssue({ code: "custom", path: ["folio"], message: "is required when taps is above 0" });
  }
  if (!bought && folio !== null) {
    ctx.addIssue({
      code: "custom",
      path: ["folio"],
      message: "must be null or empty when taps is null, empty or 0",
    });
  }
});

/** A purchase event as it came, validated: optional envelope and event time. */
export type Purchase = z.infer<typeof PurchaseSchema>;

/**
 * A purchase event with its event time settled and its "no purchase" spellings made one:
 * `taps` a number or null, `folio` a string or null, `ts` always there. What classification,
 * windows and messages work on.
 */
export type PurchaseEvent = Omit<Purchase, "taps" | "folio" | "ts"> & {
  taps: number | null;
  folio: string | null;
  ts: string;
};

/**
 * Settles a validated event: its event time is its own `ts`, else the Kafka record's timestamp
 * (what Kafka Streams and Flink use by default; the gateway's producer stamps a record when it
 * publishes it, within milliseconds of the request), and an empty or absent `taps`/`folio` is null.
 *
 * @param p A validated event.
 * @param recordTimestampMs The timestamp of the record that carried it, ms since the epoch.
 * @returns The event with `ts`, `taps` and `folio` settled.
 *
 * @example
 * ```ts
 * import { purchaseEvent, PurchaseSchema } from "./purchase.ts";
 * const p = PurchaseSchema.parse({
 *   id: "6b28427ff85faa10eb5321dc", nombre: "John", apellido: "Harrison", edad: 63,
 *   email: "John.Harrison@mail.com", telefono: "+94 585-941-9707",
 *   ubicacion: { direccion: "789 Via Milano", ciudad: "Rosewood", pais: "Queenshire" },
 *   productovisto: "Kit de maquillaje profesional", taps: 0, folio: null,
 * });
 * purchaseEvent(p, Date.parse("2026-12-05T12:00:00Z")).ts; // "2026-12-05T12:00:00.000Z"
 * ```
 */
export function purchaseEvent(p: Purchase, recordTimestampMs: number): PurchaseEvent {
  return {
    ...p,
    taps: p.taps === "" || p.taps === undefined ? null : p.taps,
    folio: p.folio === "" || p.folio === undefined ? null : p.folio,
    ts: p.ts ?? new Date(recordTimestampMs).toISOString(),
  };
}

/** What a visit was: no purchase, a purchase under 30 minutes, or one of 30 minutes or more. */
export type PurchaseClass = "visit" | "short" | "long";

/**
 * Classifies a settled event.
 *
 * @param p The event.
 * @returns `visit` for `taps` null or 0, `short` under {@linkcode LONG_PURCHASE_MINUTES}, else `long`.
 *
 * @example
 * ```ts
 * import { classifyPurchase } from "./purchase.ts";
 * classifyPurchase({ taps: 29.99 }); // "short"
 * classifyPurchase({ taps: 30 }); // "long"
 * ```
 */
export function classifyPurchase(p: Pick<PurchaseEvent, "taps">): PurchaseClass {
  if (p.taps === null || p.taps === 0) return "visit";
  return p.taps < LONG_PURCHASE_MINUTES ? "short" : "long";
}

/** A notification to a buyer (topic `purchase_notifications`, keyed by event id). */
export const PurchaseNotifiedSchema = z.object({
  v: z.literal(1),
  type: z.literal("PurchaseNotified"),
  id: z.string(),
  kind: z.enum(["short", "long"]),
  to: z.string(),
  subject: z.string(),
  text: z.string(),
  folio: z.string(),
  /** The source record, so a reader can tell exactly-once from a duplicate. */
  source: z.object({ partition: z.int(), offset: z.string() }),
  at: z.iso.datetime(),
});

/** A `PurchaseNotified` event. */
export type PurchaseNotified = z.infer<typeof PurchaseNotifiedSchema>;

/** The shop's name when `STORE_NAME` is not set. */
export const DEFAULT_STORE_NAME = "Despacho";

/**
 * The message for a purchase, in the report's words (its section 5 and Figure 7, spelling slips
 * corrected, the shop's name a setting): the short one thanks and invites to keep buying; the long
 * one asks what went wrong.
 *
 * @param p A purchase (`taps` above 0, with `folio`).
 * @param kind Its class.
 * @param storeName The shop's name (`STORE_NAME`). @default {@linkcode DEFAULT_STORE_NAME}
 * @returns Subject and body, addressed by name, naming product, shop and folio.
 *
 * @example
 * ```ts
 * import { purchaseMessage } from "./purchase.ts";
 * const p = { nombre: "Scarlett", productovisto: "Reloj", folio: "SRZ-5509", taps: 17.8 };
 * purchaseMessage(p, "short", "Tienda Sur").text.split("\n")[2];
 * // "¡Esperamos que estés bien! Queríamos recordarte que has adquirido el producto 'Reloj' en
 * //  nuestra tienda en línea de Tienda Sur. Tu número de folio es: SRZ-5509, donde te demoraste
 * //  un tiempo corto en adquirirlo, te invitamos a seguir comprando en nuestra plataforma."
 * ```
 */
export function purchaseMessage(
  p: Pick<PurchaseEvent, "nombre" | "productovisto" | "folio" | "taps">,
  kind: "short" | "long",
  storeName: string = DEFAULT_STORE_NAME,
): { subject: string; text: string } {
  const bought = "¡Esperamos que estés bien! Queríamos recordarte que has adquirido el producto " +
    `'${p.productovisto}' en nuestra tienda en línea de ${storeName}. Tu número de folio es: ${p.folio}`;
  if (kind === "short") {
    return {
      subject: `Gracias por tu compra en ${storeName} (folio ${p.folio})`,
      text: [
        `Estimad@ ${p.nombre},`,
        "",
        `${bought}, donde te demoraste un tiempo corto en adquirirlo, ` +
        "te invitamos a seguir comprando en nuestra plataforma.",
        "",
        "Saludos.",
      ].join("\n"),
    };
  }
  return {
    subject: `¿Tuviste problemas con tu compra en ${storeName}? (folio ${p.folio})`,
    text: [
      `Estimad@ ${p.nombre},`,
      "",
      `${bought}. Notamos que te demoraste ${p.taps} minutos en adquirirlo, más de lo esperado: ` +
      "cuéntanos qué problemas tuviste respondiendo este mensaje o contactando directamente a " +
      "nuestro servicio al cliente; cada inconveniente será atendido a la brevedad para mejorar " +
      "nuestra plataforma.",
      "",
      "Saludos.",
    ].join("\n"),
  };
}

/** Mergeable statistics of a set of events: counts and a 0.1-minute histogram of `taps`. */
export const PurchaseStatsSchema = z.object({
  events: z.int().min(0),
  purchases: z.int().min(0),
  /** Visits without purchase (`taps` null or 0). */
  visits: z.int().min(0),
  short: z.int().min(0),
  long: z.int().min(0),
  /** Sum of `taps` over purchases, in minutes, kept to the thousandth (any order adds the same). */
  tapsSum: z.number().min(0),
  /** Purchases per `taps` in tenths of a minute (`"178"` is 17.8 minutes). */
  taps: z.record(z.string(), z.int().min(0)),
  /** Purchases per product. */
  products: z.record(z.string(), z.int().min(0)),
  /** Purchases per country. */
  countries: z.record(z.string(), z.int().min(0)),
});

/** Statistics of a window, or of everything since the start. */
export type PurchaseStats = z.infer<typeof PurchaseStatsSchema>;

/** What a person reads about a window, or about the totals (derived from statistics). */
export const PurchaseReportSchema = z.object({
  events: z.int().min(0),
  purchases: z.int().min(0),
  visitsWithoutPurchase: z.int().min(0),
  conversionRate: z.number().min(0).max(1).meta({ description: "Purchases per event" }),
  shortPurchases: z.int().min(0).meta({ description: "`taps` under 30 minutes" }),
  longPurchases: z.int().min(0).meta({ description: "`taps` of 30 minutes or more" }),
  taps: z.object({ mean: z.number(), p50: z.number(), p95: z.number() }).nullable().meta({
    description: "Minutes from entering to buying, over purchases; null without purchases",
  }),
  topProducts: z.array(z.object({ product: z.string(), purchases: z.int().min(1) })),
  purchasesByCountry: z.record(z.string(), z.int().min(0)),
});

/** A {@linkcode PurchaseReportSchema} value. */
export type PurchaseReport = z.infer<typeof PurchaseReportSchema>;

/**
 * A closed window of one input partition (topic `purchase_analytics`, keyed
 * `{start}/{partition}`). Windows of several partitions merge by adding their `stats`; `report`
 * is derived from `stats`, for a person reading the topic.
 */
export const PurchaseWindowRecordSchema = z.object({
  v: z.literal(1),
  type: z.literal("PurchaseWindow"),
  partition: z.int().min(0),
  start: z.iso.datetime(),
  end: z.iso.datetime(),
  stats: PurchaseStatsSchema,
  report: PurchaseReportSchema,
});

/** A `PurchaseWindow` record. */
export type PurchaseWindowRecord = z.infer<typeof PurchaseWindowRecordSchema>;

/**
 * Every event one input partition counted since the start, late ones included (topic
 * `purchase_analytics`, keyed `totals/{partition}`; published with every batch).
 */
export const PurchaseTotalsRecordSchema = z.object({
  v: z.literal(1),
  type: z.literal("PurchaseTotals"),
  partition: z.int().min(0),
  stats: PurchaseStatsSchema,
  /** Events that came after their window had closed. */
  late: z.int().min(0),
  /** Records that could not be parsed (dead-lettered). */
  invalid: z.int().min(0),
  /** Event time below which this partition's windows are closed; null before any event. */
  watermark: z.iso.datetime().nullable(),
  report: PurchaseReportSchema,
});

/** A `PurchaseTotals` record. */
export type PurchaseTotalsRecord = z.infer<typeof PurchaseTotalsRecordSchema>;

/** Any record of the `purchase_analytics` topic. */
export const PurchaseAnalyticsRecordSchema = z.discriminatedUnion("type", [
  PurchaseWindowRecordSchema,
  PurchaseTotalsRecordSchema,
]);

/** A record of the `purchase_analytics` topic. */
export type PurchaseAnalyticsRecord = z.infer<typeof PurchaseAnalyticsRecordSchema>;

/** One open window: its bounds in ms since the epoch (start inclusive, end exclusive). */
export const WindowStateSchema = z.object({
  start: z.int(),
  end: z.int(),
  stats: PurchaseStatsSchema,
});

/** An open window. */
export type WindowState = z.infer<typeof WindowStateSchema>;

/** Everything the windowing of one partition keeps between events (plain JSON). */
export const AnalyticsStateSchema = z.object({
  /** Event time below which windows are closed, ms; null before any event. */
  watermark: z.int().nullable(),
  /** Open windows, by start. */
  open: z.array(WindowStateSchema),
  /** Every valid event since the start, late ones included. */
  totals: PurchaseStatsSchema,
  /** Events that came after their window had closed. */
  late: z.int().min(0),
  /** Records that could not be parsed (dead-lettered). */
  invalid: z.int().min(0),
});

/** The windowing state of one partition. */
export type AnalyticsState = z.infer<typeof AnalyticsStateSchema>;

/**
 * The state of one input partition after its record at `offset` (topic
 * `purchase_analytics_state`, compacted, keyed `{group}/{topic}/{partition}`). It is written in
 * the same Kafka transaction as the group's offset `offset + 1` for that partition, so the latest
 * checkpoint describes exactly the position the group resumes from.
 */
export const PurchaseCheckpointSchema = z.object({
  v: z.literal(1),
  type: z.literal("PurchaseCheckpoint"),
  /** The input topic and partition. */
  topic: z.string().min(1),
  partition: z.int().min(0),
  /** The last input offset counted in `state`. */
  offset: z.string().regex(/^\d+$/),
  state: AnalyticsStateSchema,
});

/** A `PurchaseCheckpoint` record. */
export type PurchaseCheckpoint = z.infer<typeof PurchaseCheckpointSchema>;
